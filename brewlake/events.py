"""Run events: the one schema every sink, ops table and archive shares, and the event archiver.

An event is a flat JSON object. `make_event()` fills what the emitter does not know (event id,
time, host, version) and scrubs secrets, so every producer — `brewlake.monitor.track`, the Airflow
callbacks, a hand-written script — emits the same shape.

`brewlake events archive --queue-url URL` drains an SQS queue subscribed to the alert SNS topic and
stores each event as `<events_prefix>/dt=YYYY-MM-DD/<event_id>.json`; `brewlake.lambda_handler`
runs the same archiver for an SQS-triggered Lambda.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from typing import Any

from brewlake import __version__
from brewlake.log import scrub

SCHEMA_VERSION = 1
STARTED, SUCCEEDED, FAILED, QUALITY_BREACHED = "started", "succeeded", "failed", "quality_breached"
EVENT_KINDS = (STARTED, SUCCEEDED, FAILED, QUALITY_BREACHED)
# Kinds that must reach a person (webhook); every kind goes to the log and to SNS.
ALERT_KINDS = (FAILED, QUALITY_BREACHED)

# name -> meaning. The single definition of a run event; `make_event` fills every field.
EVENT_FIELDS: dict[str, str] = {
    "event_id": "uuid4 hex string, unique per event (the archive's idempotency key)",
    "event": "started | succeeded | failed | quality_breached",
    "schema_version": "version of this schema",
    "emitted_at": "UTC timestamp (ISO 8601) the event was built",
    "run_id": "id of the layer run (same for all events of one run)",
    "logical_date": "the run's logical date, YYYY-MM-DD",
    "layer": "bronze | silver | gold | pipeline | …",
    "batch_ids": "bronze batch ids produced or consumed (list)",
    "rows_in": "rows read",
    "rows_out": "rows written",
    "quarantined": "rows sent to quarantine",
    "duplicates": "duplicate rows dropped",
    "table_versions": "{table: [version_before, version_after]}",
    "duration_s": "wall-clock seconds of the run (null for started)",
    "error_class": "exception class name (failed/quality_breached)",
    "error": "first line of the error message, secrets scrubbed",
    "failed_checks": "[{rule, observed, threshold, detail}] of failing quality checks",
    "host": "host name of the process that ran the layer",
    "brewlake_version": "installed brewlake version",
    # Airflow context, when the event comes from a DAG callback.
    "dag_id": "Airflow DAG id",
    "task_id": "Airflow task id",
    "try_number": "Airflow try number",
    "log_url": "Airflow task log URL",
}

_DEFAULTS: dict[str, Any] = {
    "batch_ids": [],
    "table_versions": {},
    "failed_checks": [],
}


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): _scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def first_line(text: str, limit: int = 500) -> str:
    """An error message's first non-empty line, scrubbed and bounded (alerts are not tracebacks)."""
    for line in str(text).strip().splitlines():
        if line.strip():
            return scrub(line.strip())[:limit]
    return ""


def make_event(kind: str, **fields: Any) -> dict[str, Any]:
    """A complete run event of `kind`; unknown extra fields are kept (scrubbed) after the known."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown run event {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
    event: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    event.update({k: (list(v) if isinstance(v, list) else dict(v)) for k, v in _DEFAULTS.items()})
    event.update(
        event_id=uuid.uuid4().hex,
        event=kind,
        schema_version=SCHEMA_VERSION,
        emitted_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        host=socket.gethostname(),
        brewlake_version=__version__,
    )
    for key, value in fields.items():
        if value is not None or key not in event:
            event[key] = value
    if event.get("error"):
        event["error"] = first_line(event["error"])
    return _scrub_value(event)


def normalize_event(event: dict[str, Any]) -> dict[str, Any]:
    """Complete a hand-built event dict (e.g. from an Airflow callback) to the full schema."""
    fields = dict(event)
    kind = fields.pop("event", None) or FAILED
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown run event {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
    keep_id = fields.pop("event_id", None)
    out = make_event(kind, **fields)
    if keep_id:
        out["event_id"] = str(keep_id)
    return out


def event_json(event: dict[str, Any]) -> str:
    return json.dumps(event, default=str, ensure_ascii=False, sort_keys=False)


def summary(event: dict[str, Any]) -> str:
    """One human line: what happened, where, and the error if any."""
    where = event.get("layer") or event.get("task_id") or "?"
    parts = [f"brewlake {where} {event.get('event', '?')}"]
    if event.get("logical_date"):
        parts.append(f"for {event['logical_date']}")
    if event.get("run_id"):
        parts.append(f"(run {event['run_id']})")
    line = " ".join(parts)
    if event.get("error"):
        line += f": {event.get('error_class') or 'Error'}: {event['error']}"
    if event.get("failed_checks"):
        rules = ", ".join(str(c.get("rule")) for c in event["failed_checks"])
        line += f"{';' if event.get('error') else ':'} failed checks: {rules}"
    return line
