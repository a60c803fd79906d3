"""Real receivers for alert tests: an SNS topic with a subscribed SQS queue on the moto server, and
a webhook HTTP server on 127.0.0.1. Import the fixtures into a test module to use them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest


def aws_client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


@dataclass
class Trail:
    """An SNS topic and the SQS queue subscribed to it."""

    topic_arn: str
    queue_url: str
    sqs: object

    def receive(self, want: int, timeout: float = 10.0, delete: bool = True) -> list[dict]:
        """The SNS envelopes of at least `want` messages (or all that came within `timeout`)."""
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                got.append(json.loads(message["Body"]))
                if delete:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
        return got


@pytest.fixture(name="trail")
def trail_fixture(moto_endpoint: str, monkeypatch) -> Trail:
    """A fresh topic + subscribed queue; brewlake's SNS client finds moto via the SDK variable."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", moto_endpoint)
    name = f"brewlake-{uuid.uuid4().hex[:10]}"
    sns = aws_client("sns", moto_endpoint)
    sqs = aws_client("sqs", moto_endpoint)
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Trail(topic_arn, queue_url, sqs)


@dataclass
class Webhook:
    url: str
    bodies: list[dict] = field(default_factory=list)
    status: int = 200

    def wait_for(self, want: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < want and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.bodies


@pytest.fixture(name="webhook")
def webhook_fixture():
    """A Slack-like webhook receiver on a free 127.0.0.1 port, recording each JSON body."""
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            hook.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the OS picks a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    yield hook
    server.shutdown()
    server.server_close()
