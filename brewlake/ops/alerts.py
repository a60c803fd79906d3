"""Alert sinks: every run event goes to the log, to SNS (all events) and to a webhook (alerts).

    errors = publish_event(settings, {"event": "failed", "layer": "silver", ...})

`publish_event` never raises: a sink that fails is logged loudly and named in the returned list,
so an alert outage can neither mask the run's own error nor fail a run that succeeded.

- log: always, one structured line (`run.<event>`).
- SNS: when `BREWLAKE_ALERT_SNS_TOPIC_ARN` is set, every event as JSON; the endpoint follows the
  AWS SDK's own variables (`AWS_ENDPOINT_URL_SNS`, then `AWS_ENDPOINT_URL`).
- webhook: when `BREWLAKE_ALERT_WEBHOOK_URL` is set, failures and quality breaches only, as
  Slack-compatible JSON (`text` + `attachments`), with the full event under `event_data`.
"""

from __future__ import annotations

from typing import Any

from brewlake.config import Settings
from brewlake.errors import first_line
from brewlake.log import get_logger, scrub
from brewlake.ops.events import (
    ALERT_KINDS,
    FAILED,
    event_json,
    normalize_event,
    summary,
)
from brewlake.storage import aws_client

log = get_logger(__name__)

# SNS subjects: ASCII, at most 100 characters, no newlines.
_SUBJECT_MAX = 100
_SLACK_FIELDS = (
    "layer",
    "logical_date",
    "run_id",
    "error_class",
    "error",
    "dag_id",
    "task_id",
    "try_number",
    "log_url",
    "host",
)


def _subject(event: dict[str, Any]) -> str:
    text = f"brewlake {event.get('layer') or event.get('task_id') or ''} {event.get('event')}"
    text = " ".join(text.split()).encode("ascii", "replace").decode("ascii")
    return text[:_SUBJECT_MAX]


def publish_sns(settings: Settings, event: dict[str, Any]) -> str:
    """Publish `event` to the topic; returns the SNS message id."""
    attributes = {
        name: {"DataType": "String", "StringValue": str(event[name])}
        for name in ("event", "layer", "run_id")
        if event.get(name)
    }
    response = aws_client(settings, "sns").publish(
        TopicArn=settings.alert_sns_topic_arn,
        Subject=_subject(event),
        Message=event_json(event),
        MessageAttributes=attributes,
    )
    return str(response.get("MessageId", ""))


def webhook_payload(event: dict[str, Any]) -> dict[str, Any]:
    """Slack-compatible body: `text` for any chat tool, attachment fields, the event in full."""
    fields = [
        {"title": name, "value": str(event[name]), "short": len(str(event[name])) < 40}
        for name in _SLACK_FIELDS
        if event.get(name) not in (None, "", [], {})
    ]
    return {
        "text": summary(event),
        "attachments": [
            {"color": "danger" if event.get("event") == FAILED else "warning", "fields": fields}
        ],
        "event_data": event,
    }


def post_webhook(settings: Settings, event: dict[str, Any]) -> int:
    """POST the Slack-compatible payload; returns the HTTP status (raises on >= 400)."""
    import requests

    response = requests.post(
        settings.alert_webhook_url,
        data=event_json(webhook_payload(event)).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        timeout=settings.alert_timeout_s,
    )
    if response.status_code >= 400:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}")
    return response.status_code


def _log_event(event: dict[str, Any]) -> None:
    fields = {k: v for k, v in event.items() if v not in (None, [], {})}
    fields.pop("event", None)
    level = log.error if event.get("event") in ALERT_KINDS else log.info
    level(f"run.{event.get('event')}", **fields)


def publish_event(settings: Settings, event: dict[str, Any], *, notify: bool = True) -> list[str]:
    """Send `event` to every configured sink; never raises; returns one message per failed sink.

    `notify=False` keeps a failure off the webhook (log and SNS still get it): a job running
    under Airflow leaves paging people to the DAG's failure callback, which knows whether retries
    are left.
    """
    errors: list[str] = []
    try:
        event = normalize_event(event)
    except Exception as exc:  # a malformed event still reaches the log
        errors.append(f"event: {type(exc).__name__}: {scrub(str(exc))}")
        event = {"event": FAILED, **{k: scrub(str(v)) for k, v in dict(event).items()}}
    try:
        _log_event(event)
    except Exception as exc:  # logging itself failing must not escape either
        errors.append(f"log: {type(exc).__name__}: {scrub(str(exc))}")

    sinks = []
    if settings.alert_sns_topic_arn:
        sinks.append(("sns", publish_sns))
    if notify and settings.alert_webhook_url and event.get("event") in ALERT_KINDS:
        sinks.append(("webhook", post_webhook))
    for name, send in sinks:
        try:
            send(settings, event)
        except Exception as exc:
            message = f"{name}: {type(exc).__name__}: {first_line(str(exc))}"
            errors.append(message)
            log.error(
                "alert.sink_failed",
                sink=name,
                error=message,
                event_id=event.get("event_id"),
                run_id=event.get("run_id"),
            )
    return errors
