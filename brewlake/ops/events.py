"""Run events: the one schema every sink, ops table and archive shares, and the event archiver.

An event is a flat JSON object. `make_event()` fills what the emitter does not know (event id,
time, host, version) and scrubs secrets, so every producer — `brewlake.ops.monitor.track`, the
Airflow callbacks, a hand-written script — emits the same shape.

`brewlake events archive --queue-url URL` drains an SQS queue subscribed to the alert SNS topic and
stores each event as `<lake>/<events_prefix>/dt=YYYY-MM-DD/<event_id>.json` (`--bucket` stands in
for the lake; `BREWLAKE_EVENTS_PREFIX=s3://bucket/prefix` is the archive's own place:
`s3://bucket/prefix/dt=…/<event_id>.json`); `brewlake.ops.lambda_handler` runs the same archiver
for an SQS-triggered Lambda.

The archive takes what the AWS deployment (deploy/aws) sends to the alert topic besides brewlake's
own run events: EventBridge events (CloudTrail API calls on the lake, MWAA environment and ECS/EMR
job state changes). Every stored record keeps `source` and `detail-type` (`brewlake` /
`brewlake Run Event` for run events) and is keyed by its id: the run event's `event_id`, the
EventBridge event's `id`, dated by `emitted_at` / `time`.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import typer

from brewlake import __version__, command
from brewlake.config import Settings
from brewlake.errors import ConfigError, first_line
from brewlake.lake import Lake
from brewlake.log import get_logger, scrub
from brewlake.storage import ObjectStore, S3Store, aws_client, open_store

log = get_logger(__name__)

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


# ---- the archive: SQS (subscribed to the SNS topic) -> JSON objects in the lake or a bucket


class InvalidMessage(ValueError):
    """A queue message that holds no run event (left in the queue for its dead-letter policy)."""


@dataclass
class ArchiveReport:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: list[str] = field(default_factory=list)  # message ids left in the queue
    keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# What the archive keeps for a brewlake run event, in EventBridge's own terms, so one listing of
# the archive tells run events, CloudTrail calls and MWAA/EMR state changes apart.
RUN_EVENT_SOURCE = "brewlake"
RUN_EVENT_DETAIL_TYPE = "brewlake Run Event"
_EVENTBRIDGE_FIELDS = ("id", "source", "detail-type", "time", "detail")


def is_eventbridge_event(payload: dict[str, Any]) -> bool:
    """An EventBridge event (CloudTrail via EventBridge, MWAA, EMR Serverless …), as a rule's SNS
    target delivers it: `id`, `source`, `detail-type`, `time` and `detail` at the top level."""
    return all(name in payload for name in _EVENTBRIDGE_FIELDS)


def archived_form(payload: dict[str, Any]) -> dict[str, Any]:
    """The record the archive stores: the event as it came, plus `event_id`/`emitted_at` (the key
    and its date) and `source`/`detail-type` for either kind."""
    if is_eventbridge_event(payload):
        return {**payload, "event_id": str(payload["id"]), "emitted_at": payload["time"]}
    if not payload.get("event_id"):
        raise InvalidMessage("no event_id in message (neither a run event nor an EventBridge one)")
    return {"source": RUN_EVENT_SOURCE, "detail-type": RUN_EVENT_DETAIL_TYPE, **payload}


def parse_message(body: str) -> dict[str, Any]:
    """The event in an SQS body: an SNS envelope (`Message`) or, with raw delivery, itself; a
    brewlake run event or an EventBridge event, in its archived form (`archived_form`)."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and payload.get("Type") == "Notification":
            payload = json.loads(payload["Message"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidMessage(f"not a JSON run event: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidMessage("no event_id in message")
    return archived_form(payload)


def event_date(event: dict[str, Any]) -> str:
    """The partition date: the UTC day the event was emitted, else its logical date."""
    try:
        emitted = dt.datetime.fromisoformat(str(event.get("emitted_at") or ""))
    except ValueError:
        pass
    else:
        # A naive time is taken as UTC, as `make_event` writes every time in UTC.
        return (emitted.astimezone(dt.UTC) if emitted.tzinfo else emitted).date().isoformat()
    try:
        return dt.date.fromisoformat(str(event.get("logical_date") or "")[:10]).isoformat()
    except ValueError:
        raise InvalidMessage("event has neither emitted_at nor logical_date") from None


@dataclass(frozen=True)
class EventArchive:
    """Where events are kept: `<prefix>/dt=YYYY-MM-DD/<event_id>.json` in one object store
    (`prefix` empty: right at the store's root)."""

    store: ObjectStore
    prefix: tuple[str, ...]
    lake: Lake

    def key(self, event: dict[str, Any]) -> str:
        try:
            return self.lake.key(
                *self.prefix, f"dt={event_date(event)}", f"{event['event_id']}.json"
            )
        except ValueError as exc:
            raise InvalidMessage(str(exc)) from None

    def store_event(self, event: dict[str, Any]) -> tuple[str, bool]:
        """Write the event unless its key exists; (key, True if written now)."""
        key = self.key(event)
        if self.store.exists(key):
            return key, False
        body = json.dumps(event, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
        self.store.put(key, body, content_type="application/json")
        return key, True

    def list(self) -> list[str]:
        below = self.lake.key(*self.prefix) + "/" if self.prefix else ""
        return [k for k in self.store.list(below) if k.endswith(".json")]


def open_archive(settings: Settings, bucket: str | None = None) -> EventArchive:
    """`<lake>/<events_prefix>/` by default; `bucket` (a name or s3://bucket/prefix) stands in for
    the lake, `events_prefix` below it. `events_prefix` itself may be `s3://bucket/prefix`: the
    archive is then exactly there (`s3://bucket/prefix/dt=…/<event_id>.json`), in its own bucket.
    """
    prefix = settings.events_prefix
    if prefix.startswith(("s3://", "s3a://")):
        if bucket:
            raise ConfigError(
                f"--bucket {bucket} and BREWLAKE_EVENTS_PREFIX={prefix} both say where events go; "
                "give one of them"
            )
        target = settings.replace(lake_root="s3a://" + prefix.split("://", 1)[1].strip("/"))
        return EventArchive(S3Store(target), (), Lake(target))
    if bucket:
        target = settings.replace(lake_root="s3a://" + bucket.split("://", 1)[-1].strip("/"))
        store: ObjectStore = S3Store(target)
        lake = Lake(target)
    else:
        store, lake = open_store(settings), Lake(settings)
    parts = tuple(p for p in prefix.strip("/").split("/") if p) or ("events",)
    return EventArchive(store, parts, lake)


def archive_bodies(
    archive: EventArchive, messages: list[tuple[str, str]], report: ArchiveReport
) -> list[str]:
    """Store each (message_id, body); returns the ids safe to delete (stored or already there)."""
    done = []
    for message_id, body in messages:
        report.received += 1
        try:
            key, written = archive.store_event(parse_message(body))
        except InvalidMessage as exc:
            log.error("events.invalid_message", message_id=message_id, error=str(exc))
            report.failed.append(message_id)
            continue
        except Exception as exc:
            log.error(
                "events.store_failed",
                message_id=message_id,
                error_class=type(exc).__name__,
                error=first_line(str(exc)),
            )
            report.failed.append(message_id)
            continue
        done.append(message_id)
        if written:
            report.stored += 1
            report.keys.append(key)
        else:
            report.duplicates += 1
    return done


def archive_queue(
    settings: Settings,
    queue_url: str,
    *,
    bucket: str | None = None,
    max_messages: int | None = None,
    wait_s: int = 1,
) -> ArchiveReport:
    """Drain `queue_url` into the archive; a message is deleted only once its event is stored."""
    archive = open_archive(settings, bucket)
    sqs = aws_client(settings, "sqs", timeout=max(10.0, wait_s + 5.0))
    report = ArchiveReport()
    seen_failed: set[str] = set()
    while max_messages is None or report.received < max_messages:
        want = 10 if max_messages is None else min(10, max_messages - report.received)
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=want, WaitTimeSeconds=wait_s
        )
        batch = answer.get("Messages", [])
        # Messages that failed come back after their visibility timeout: stop rather than spin.
        batch = [m for m in batch if m["MessageId"] not in seen_failed]
        if not batch:
            break
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in batch}
        done = archive_bodies(archive, [(m["MessageId"], m["Body"]) for m in batch], report)
        seen_failed.update(set(handles) - set(done))
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": handles[mid]}
                for i, mid in enumerate(done[start : start + 10])
            ]
            answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            for failure in answer.get("Failed", []):
                log.error("events.delete_failed", error=failure.get("Message", ""))
    log.info(
        "events.archived",
        queue=queue_url,
        target=archive.store.description,
        received=report.received,
        stored=report.stored,
        duplicates=report.duplicates,
        failed=len(report.failed),
    )
    return report


app = command.app(no_args_is_help=True)


@app.callback()
def events_command() -> None:
    """run-event trail tools"""


@app.command("archive", help="move queued run events (SQS) into the archive")
def archive_command(
    queue_url: Annotated[
        str, typer.Option(help="SQS queue subscribed to the SNS topic", show_default=False)
    ],
    bucket: Annotated[
        str | None, typer.Option(help="bucket (or s3://bucket/prefix) instead of the lake")
    ] = None,
    max_messages: Annotated[int | None, typer.Option(help="stop after this many")] = None,
    wait: Annotated[int, typer.Option(help="long-poll seconds per receive (0-20)")] = 1,
    verbose: command.Verbose = False,
) -> None:
    from brewlake import log as logmod
    from brewlake.config import load_settings
    from brewlake.errors import guarded

    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else settings.log_level, settings.log_format)
        report = archive_queue(
            settings, queue_url, bucket=bucket, max_messages=max_messages, wait_s=wait
        )
        print(
            f"events: received={report.received} stored={report.stored} "
            f"duplicates={report.duplicates} failed={len(report.failed)}"
        )
        return 1 if report.failed else 0

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake events")
