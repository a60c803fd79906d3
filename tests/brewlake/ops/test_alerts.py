"""Alert sinks against real receivers: SNS→SQS on the moto server and a local webhook."""

from __future__ import annotations

import json
import logging
import os

from brewlake.devkit.cluster import free_port
from brewlake.ops.alerts import publish_event, webhook_payload
from brewlake.ops.events import EVENT_FIELDS, make_event
from tests.brewlake.ops.monitoring_fixtures import trail_fixture, webhook_fixture  # noqa: F401

AIRFLOW_FAILURE = {
    "event": "failed",
    "layer": "silver",
    "run_id": "manual__2025-03-01T00:00:00",
    "logical_date": "2025-03-01",
    "error_class": "SourceError",
    "error": "API answered HTTP 503 for page 3\nTraceback (most recent call last): ...",
    "dag_id": "brewlake",
    "task_id": "silver",
    "try_number": 2,
    "log_url": "http://airflow.local/dags/brewlake/runs/x/tasks/silver?try_number=2",
}


def test_make_event_fills_the_whole_schema_and_scrubs_secrets():
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    event = make_event("failed", layer="bronze", error=f"boom with {secret} inside\nsecond line")
    assert set(EVENT_FIELDS) <= set(event)
    assert len(event["event_id"]) == 32
    assert event["error"] == "boom with *** inside"
    assert secret not in json.dumps(event)


def test_failure_reaches_sns_subscribed_queue_and_webhook(base_settings, trail, webhook):
    settings = base_settings.replace(
        alert_sns_topic_arn=trail.topic_arn, alert_webhook_url=webhook.url
    )
    assert publish_event(settings, AIRFLOW_FAILURE) == []

    [envelope] = trail.receive(1)
    sent = json.loads(envelope["Message"])
    assert envelope["Subject"] == "brewlake silver failed"
    assert sent["layer"] == "silver"
    assert sent["run_id"] == AIRFLOW_FAILURE["run_id"]
    assert sent["error"] == "API answered HTTP 503 for page 3"
    assert sent["try_number"] == 2
    assert envelope["MessageAttributes"]["event"]["Value"] == "failed"

    [body] = webhook.wait_for(1)
    assert "silver failed" in body["text"] and "HTTP 503" in body["text"]
    assert body["event_data"]["event_id"] == sent["event_id"]
    titles = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert titles["log_url"] == AIRFLOW_FAILURE["log_url"]
    assert titles["try_number"] == "2"


def test_success_goes_to_sns_but_not_to_the_webhook(base_settings, trail, webhook):
    settings = base_settings.replace(
        alert_sns_topic_arn=trail.topic_arn, alert_webhook_url=webhook.url
    )
    assert publish_event(settings, {**AIRFLOW_FAILURE, "event": "succeeded", "error": None}) == []
    [envelope] = trail.receive(1)
    assert json.loads(envelope["Message"])["event"] == "succeeded"
    assert webhook.wait_for(1, timeout=0.5) == []


def test_unreachable_sinks_are_reported_and_logged_never_raised(base_settings, monkeypatch, caplog):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", dead)
    settings = base_settings.replace(
        alert_sns_topic_arn="arn:aws:sns:us-east-1:123456789012:nowhere",
        alert_webhook_url=dead + "/hook",
        alert_timeout_s=1.0,
    )
    with caplog.at_level(logging.ERROR, logger="brewlake.ops.alerts"):
        errors = publish_event(settings, AIRFLOW_FAILURE)
    assert [e.split(":")[0] for e in errors] == ["sns", "webhook"]
    failed = [r for r in caplog.records if r.getMessage() == "alert.sink_failed"]
    assert {r.sink for r in failed} == {"sns", "webhook"}


def test_webhook_http_error_is_a_sink_error(base_settings, webhook):
    webhook.status = 500
    errors = publish_event(base_settings.replace(alert_webhook_url=webhook.url), AIRFLOW_FAILURE)
    assert errors == ["webhook: RuntimeError: webhook answered HTTP 500"]


def test_webhook_payload_is_slack_compatible():
    payload = webhook_payload(
        make_event(
            "quality_breached",
            layer="silver",
            failed_checks=[{"rule": "quarantine_share", "observed": 0.2, "threshold": 0.05}],
        )
    )
    assert isinstance(payload["text"], str) and "quarantine_share" in payload["text"]
    assert payload["attachments"][0]["color"] == "warning"
