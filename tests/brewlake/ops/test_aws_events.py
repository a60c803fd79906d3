"""The archiver Lambda on what the AWS deployment delivers (deploy/aws, monitoring stack):
brewlake run events and EventBridge events (CloudTrail, ECS and EMR Serverless job state, MWAA)
published to one SNS topic, fanned out to SQS, handed to the handler as Lambda's SQS records.
On the moto server."""

from __future__ import annotations

import json
from pathlib import Path

from brewlake.ops.alerts import publish_event
from brewlake.ops.events import RUN_EVENT_DETAIL_TYPE, RUN_EVENT_SOURCE, open_archive
from brewlake.ops.lambda_handler import archive_records
from brewlake.storage import aws_client
from tests.brewlake.ops.monitoring_fixtures import aws_client as moto_client
from tests.brewlake.ops.monitoring_fixtures import trail_fixture  # noqa: F401

SAMPLES = {
    name: {k: v for k, v in event.items() if k != "_source"}
    for name, event in json.loads(
        (Path(__file__).parent / "data" / "aws_events.json").read_text()
    ).items()
    if not name.startswith("_")
}


def lambda_event(trail, want: int) -> dict:
    """What the SQS event source mapping hands the function: the queue's messages as Records."""
    records = []
    for _ in range(10):
        answer = trail.sqs.receive_message(
            QueueUrl=trail.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for m in answer.get("Messages", []):
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:brewlake-events",
                }
            )
        if len(records) >= want:
            break
    assert len(records) == want
    return {"Records": records}


def test_every_event_kind_is_archived_once_under_one_key_layout(s3_settings, trail, moto_endpoint):
    settings = s3_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    sns = moto_client("sns", moto_endpoint)
    # EventBridge rules with the topic as target publish the event JSON as the SNS message.
    for event in SAMPLES.values():
        sns.publish(TopicArn=trail.topic_arn, Message=json.dumps(event))
    run_event = {"event": "failed", "layer": "silver", "run_id": "r-1", "event_id": "a" * 32}
    assert publish_event(settings, run_event) == []

    delivered = lambda_event(trail, len(SAMPLES) + 1)
    assert archive_records(settings, delivered) == {"batchItemFailures": []}
    # SQS is at-least-once: the same batch again stores nothing new.
    assert archive_records(settings, delivered) == {"batchItemFailures": []}

    archive = open_archive(settings)
    keys = sorted(archive.list())
    expected_ids = sorted([e["id"] for e in SAMPLES.values()] + ["a" * 32])
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == [f"{i}.json" for i in expected_ids]
    stored = {k.rsplit("/", 1)[1][:-5]: json.loads(archive.store.get(k)) for k in keys}
    for name, event in SAMPLES.items():
        record = stored[event["id"]]
        key = next(k for k in keys if event["id"] in k)
        # One layout for every kind: <prefix>/dt=<UTC day of the event>/<event id>.json
        assert key == f"_monitoring/events/dt={event['time'][:10]}/{event['id']}.json", name
        assert (record["source"], record["detail-type"]) == (event["source"], event["detail-type"])
        assert record["detail"] == event["detail"]
    run = stored["a" * 32]
    assert (run["source"], run["detail-type"]) == (RUN_EVENT_SOURCE, RUN_EVENT_DETAIL_TYPE)
    assert (run["layer"], run["event"]) == ("silver", "failed")
    listed = aws_client(settings).list_objects_v2(Bucket=settings.s3_bucket)["Contents"]
    assert len(listed) == len(SAMPLES) + 1


def test_a_message_that_is_neither_kind_is_left_for_the_dead_letter_queue(s3_settings, trail):
    settings = s3_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    trail.sqs.send_message(QueueUrl=trail.queue_url, MessageBody=json.dumps({"source": "aws.s3"}))
    delivered = lambda_event(trail, 1)
    [record] = delivered["Records"]
    assert archive_records(settings, delivered) == {
        "batchItemFailures": [{"itemIdentifier": record["messageId"]}]
    }
    assert open_archive(settings).list() == []
