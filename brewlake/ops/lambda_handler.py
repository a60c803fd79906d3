"""AWS Lambda entry for the run-event archiver: an SQS event source mapping on the queue that is
subscribed to the alert SNS topic.

    handler: brewlake.ops.lambda_handler.handler
    environment: BREWLAKE_LAKE_ROOT=s3a://lake-bucket/lake   (or BREWLAKE_EVENTS_PREFIX=s3://bucket/prefix)
    event source mapping: FunctionResponseTypes=["ReportBatchItemFailures"]

Lambda deletes the batch's messages when the handler returns; messages listed in
`batchItemFailures` (unreadable, or not stored) stay in the queue for redelivery or the dead-letter
queue. The archive is keyed by event id, so a redelivered message stores nothing twice.
"""

from __future__ import annotations

import functools
from typing import Any

from brewlake.config import Settings, load_settings
from brewlake.log import configure, get_logger
from brewlake.ops.events import ArchiveReport, archive_bodies, open_archive

log = get_logger(__name__)


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    # Read once per Lambda container, like any module-level client.
    settings = load_settings()
    configure(settings.log_level, "json")
    return settings


def archive_records(settings: Settings, event: dict[str, Any]) -> dict[str, Any]:
    """Store every SQS record of a Lambda event; the partial-batch response for the rest."""
    records = [r for r in event.get("Records", []) if r.get("eventSource", "aws:sqs") == "aws:sqs"]
    report = ArchiveReport()
    archive_bodies(
        open_archive(settings), [(r["messageId"], r.get("body", "")) for r in records], report
    )
    log.info(
        "events.archived",
        received=report.received,
        stored=report.stored,
        duplicates=report.duplicates,
        failed=len(report.failed),
    )
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in report.failed]}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return archive_records(_settings(), event)
