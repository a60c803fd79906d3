"""The event archiver against the moto server: SNS → SQS → JSON objects keyed by event id."""

from __future__ import annotations

import json
import uuid

import pytest

from brewlake.errors import ConfigError
from brewlake.ops.alerts import publish_event
from brewlake.ops.events import (
    InvalidMessage,
    archive_queue,
    event_date,
    event_json,
    main,
    make_event,
    open_archive,
)
from brewlake.ops.lambda_handler import archive_records
from brewlake.storage import aws_client
from tests.brewlake.ops.monitoring_fixtures import trail_fixture  # noqa: F401


def publish(settings, n: int) -> list[str]:
    ids = []
    for i in range(n):
        event = {"event": "succeeded", "layer": "gold", "run_id": f"r{i}", "rows_out": i}
        event["event_id"] = uuid.uuid4().hex
        assert publish_event(settings, event) == []
        ids.append(event["event_id"])
    return ids


def queue_depth(trail) -> int:
    attrs = trail.sqs.get_queue_attributes(
        QueueUrl=trail.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def test_archive_moves_events_into_dated_prefix_and_empties_queue(
    s3_settings, trail, moto_endpoint, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    settings = s3_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    ids = publish(settings, 3)

    report = archive_queue(settings, trail.queue_url)
    assert (report.received, report.stored, report.duplicates, report.failed) == (3, 3, 0, [])
    archive = open_archive(settings)
    keys = archive.list()
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == sorted(f"{i}.json" for i in ids)
    assert all(k.startswith("_monitoring/events/dt=") for k in keys)
    stored = json.loads(archive.store.get(keys[0]))
    assert stored["layer"] == "gold" and stored["event"] == "succeeded"
    assert keys[0].split("/")[2] == f"dt={stored['emitted_at'][:10]}"
    assert queue_depth(trail) == 0


def test_redelivered_message_is_not_stored_twice(s3_settings, trail, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    settings = s3_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    [event_id] = publish(settings, 1)
    # SQS is at-least-once: the same SNS envelope arrives twice.
    [message] = trail.sqs.receive_message(QueueUrl=trail.queue_url, VisibilityTimeout=0)["Messages"]
    trail.sqs.send_message(QueueUrl=trail.queue_url, MessageBody=message["Body"])

    report = archive_queue(settings, trail.queue_url)
    assert (report.received, report.stored, report.duplicates) == (2, 1, 1)
    assert [k.rsplit("/", 1)[1] for k in open_archive(settings).list()] == [f"{event_id}.json"]
    assert queue_depth(trail) == 0

    # A later redelivery after the first was archived: still one object.
    trail.sqs.send_message(QueueUrl=trail.queue_url, MessageBody=message["Body"])
    assert archive_queue(settings, trail.queue_url).duplicates == 1
    assert len(open_archive(settings).list()) == 1


def test_messages_stay_queued_when_the_write_fails(s3_settings, trail, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    settings = s3_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    publish(settings, 2)
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    trail.sqs.set_queue_attributes(QueueUrl=trail.queue_url, Attributes={"VisibilityTimeout": "1"})

    report = archive_queue(settings, trail.queue_url, bucket=missing)
    assert (report.received, report.stored, len(report.failed)) == (2, 0, 2)
    assert len(trail.receive(2, timeout=10, delete=False)) == 2  # nothing was deleted

    # Once the bucket exists the same messages are archived there.
    aws_client(settings).create_bucket(Bucket=missing)
    report = archive_queue(settings, trail.queue_url, bucket=f"s3://{missing}/trail", wait_s=2)
    assert report.stored == 2
    listed = aws_client(settings).list_objects_v2(Bucket=missing)["Contents"]
    assert all(o["Key"].startswith("trail/_monitoring/events/dt=") for o in listed)


def test_cli_archive(s3_settings, trail, moto_endpoint, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", s3_settings.lake_root)
    monkeypatch.setenv("BREWLAKE_S3_ENDPOINT", moto_endpoint)
    publish(s3_settings.replace(alert_sns_topic_arn=trail.topic_arn), 2)
    assert main(["archive", "--queue-url", trail.queue_url]) == 0
    assert "received=2 stored=2 duplicates=0 failed=0" in capsys.readouterr().out
    assert len(open_archive(s3_settings).list()) == 2


def test_lambda_handler_stores_records_and_reports_unreadable_ones(s3_settings, trail):
    settings = s3_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    [event_id] = publish(settings, 1)
    [envelope] = trail.receive(1, delete=False)
    good = {"messageId": "m-1", "body": json.dumps(envelope), "eventSource": "aws:sqs"}
    bad = {"messageId": "m-2", "body": "not json", "eventSource": "aws:sqs"}

    assert archive_records(settings, {"Records": [good, bad]}) == {
        "batchItemFailures": [{"itemIdentifier": "m-2"}]
    }
    assert archive_records(settings, {"Records": [good]}) == {"batchItemFailures": []}
    assert [k.rsplit("/", 1)[1] for k in open_archive(settings).list()] == [f"{event_id}.json"]


def test_events_prefix_url_is_the_archive_itself(s3_settings):
    """BREWLAKE_EVENTS_PREFIX=s3://bucket/prefix: events land at prefix/dt=…/<id>.json there."""
    bucket = f"events-{uuid.uuid4().hex[:8]}"
    aws_client(s3_settings).create_bucket(Bucket=bucket)
    settings = s3_settings.replace(events_prefix=f"s3://{bucket}/run trail/")
    event = make_event("failed", layer="silver", run_id="r-1", error="boom: 'O\u2019Brien'")
    record = {"messageId": "m-1", "body": event_json(event), "eventSource": "aws:sqs"}

    assert archive_records(settings, {"Records": [record]}) == {"batchItemFailures": []}
    assert archive_records(settings, {"Records": [record]}) == {"batchItemFailures": []}
    listed = aws_client(settings).list_objects_v2(Bucket=bucket)["Contents"]
    day = event["emitted_at"][:10]
    assert [o["Key"] for o in listed] == [f"run trail/dt={day}/{event['event_id']}.json"]
    assert open_archive(settings).list() == [f"dt={day}/{event['event_id']}.json"]
    # Nothing went to the lake's own default prefix.
    assert open_archive(s3_settings).list() == []
    with pytest.raises(ConfigError, match="give one of them"):
        open_archive(settings, bucket=f"s3://{bucket}/other")


def test_partition_date_is_the_utc_day_of_emission():
    assert event_date({"emitted_at": "2025-03-01T23:30:00-05:00"}) == "2025-03-02"
    assert event_date({"emitted_at": "2025-03-01T23:30:00.120+00:00"}) == "2025-03-01"
    assert event_date({"emitted_at": "2025-03-01T23:30:00Z", "logical_date": "2025-02-28"}) == (
        "2025-03-01"
    )
    assert event_date({"emitted_at": None, "logical_date": "2025-02-28"}) == "2025-02-28"
    with pytest.raises(InvalidMessage):
        event_date({"emitted_at": "yesterday"})
