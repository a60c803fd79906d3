"""The ops tables: `ops.pipeline_runs` and `ops.quality_checks`, written by every layer run.

`record_run()` appends one pipeline_runs row and one quality_checks row per rule evaluated, with
Delta, from the run's own Spark session. A run without Spark (bronze) does not start a JVM just to
write two rows: its rows are buffered as one JSON file under `_monitoring/pending/` in the lake and
ingested by the next run that has Spark (`flush_pending`), which silver does right after bronze.
`brewlake status` reads the buffer too, so a bronze run is visible at once.

Rows carry the `event_id` of the run's final event: the key that makes ingestion idempotent and
that joins a row to its archived event JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from brewlake import delta
from brewlake.catalog import OPS_PIPELINE_RUNS, OPS_QUALITY_CHECKS
from brewlake.config import Settings
from brewlake.frames import local_frame
from brewlake.lake import Lake, TableRef
from brewlake.log import get_logger
from brewlake.parallel import concurrently
from brewlake.storage import LocalStore, ObjectStore, S3Store, open_store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)

PENDING_PREFIX = ("_monitoring", "pending")

# Column name -> Spark SQL type. The single definition of both tables' schemas.
PIPELINE_RUNS_COLUMNS: dict[str, str] = {
    "event_id": "string",
    "run_id": "string",
    "layer": "string",
    "logical_date": "date",
    "status": "string",  # succeeded | failed | quality_breached
    "started_at": "timestamp",
    "finished_at": "timestamp",
    "duration_s": "double",
    "rows_in": "bigint",
    "rows_out": "bigint",
    "quarantined": "bigint",
    "duplicates": "bigint",
    "batch_ids": "array<string>",
    "table_versions": "array<struct<table:string,version_before:bigint,version_after:bigint>>",
    "checks_total": "int",
    "checks_failed": "int",
    "error_class": "string",
    "error": "string",
    "host": "string",
    "brewlake_version": "string",
    "context": "map<string,string>",
}
QUALITY_CHECKS_COLUMNS: dict[str, str] = {
    "event_id": "string",
    "run_id": "string",
    "layer": "string",
    "logical_date": "date",
    "checked_at": "timestamp",
    "rule": "string",
    "passed": "boolean",
    "observed": "double",
    "threshold": "double",
    "detail": "string",
}
_TIMESTAMPS = ("started_at", "finished_at", "checked_at")


def ddl(columns: dict[str, str]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in columns.items())


def check_rows(event: dict[str, Any], checks: list[Any]) -> list[dict[str, Any]]:
    """One quality_checks row per evaluated rule (QualityCheck objects or plain dicts)."""
    rows = []
    for check in checks:
        get = check.get if isinstance(check, dict) else (lambda k, c=check: getattr(c, k, None))
        rows.append(
            {
                "event_id": event["event_id"],
                "run_id": event.get("run_id"),
                "layer": event.get("layer"),
                "logical_date": event.get("logical_date"),
                "checked_at": event.get("emitted_at"),
                "rule": str(get("rule")),
                "passed": bool(get("passed")),
                "observed": None if get("observed") is None else float(get("observed")),
                "threshold": None if get("threshold") is None else float(get("threshold")),
                "detail": str(get("detail") or ""),
            }
        )
    return rows


def run_row(
    event: dict[str, Any], *, started_at: str, checks: list[dict[str, Any]]
) -> dict[str, Any]:
    """The pipeline_runs row of a finished run, from its final event (JSON-safe values)."""
    context_keys = ("dag_id", "task_id", "try_number", "log_url", "airflow_run_id")
    return {
        "event_id": event["event_id"],
        "run_id": event.get("run_id"),
        "layer": event.get("layer"),
        "logical_date": event.get("logical_date"),
        "status": event.get("event"),
        "started_at": started_at,
        "finished_at": event.get("emitted_at"),
        "duration_s": event.get("duration_s"),
        "rows_in": event.get("rows_in"),
        "rows_out": event.get("rows_out"),
        "quarantined": event.get("quarantined"),
        "duplicates": event.get("duplicates"),
        "batch_ids": list(event.get("batch_ids") or []),
        "table_versions": [
            {"table": name, "version_before": pair[0], "version_after": pair[1]}
            for name, pair in (event.get("table_versions") or {}).items()
        ],
        "checks_total": len(checks),
        "checks_failed": sum(1 for c in checks if not c["passed"]),
        "error_class": event.get("error_class"),
        "error": event.get("error"),
        "host": event.get("host"),
        "brewlake_version": event.get("brewlake_version"),
        "context": {k: str(event[k]) for k in context_keys if event.get(k) not in (None, "")},
    }


# ---- Spark side


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in _TIMESTAMPS:
        if isinstance(out.get(name), str):
            # Aware datetimes: PySpark would read a naive one as the process's local time.
            out[name] = dt.datetime.fromisoformat(out[name]).astimezone(dt.UTC)
    if isinstance(out.get("logical_date"), str):
        out["logical_date"] = dt.date.fromisoformat(out["logical_date"])
    return out


def _frame(spark: SparkSession, rows: list[dict[str, Any]], columns: dict[str, str]) -> DataFrame:
    data = [tuple(_typed(r).get(c) for c in columns) for r in rows]
    return local_frame(spark, data, ddl(columns))


def _append(
    spark: SparkSession, settings: Settings, table: TableRef, frame: DataFrame, *, dedupe: bool
) -> int:
    location = Lake(settings).table_location(table)
    exists = delta.is_delta(spark, location)
    if dedupe and exists:
        # Buffered rows may be ingested twice (a crash between append and delete): skip known ids.
        known = delta.read(spark, location).select("event_id").distinct()
        frame = frame.join(known, "event_id", "left_anti")
    # Session time zone is UTC (brewlake.spark), so timestamps land as written.
    delta.append(frame.coalesce(1), location, optimize_write=False)
    if not exists:
        _register(spark, settings, table)
    return 1


def _register(spark: SparkSession, settings: Settings, table: TableRef) -> None:
    # Make a table created in this session queryable by name in it too (`brewlake run` + sql);
    # register_table creates the database, once, at its lake location.
    from brewlake.catalog import register_table

    try:
        register_table(spark, settings, table)
    except Exception as exc:
        log.debug("ops.register_skipped", table=str(table), error=str(exc))


def append_rows(
    spark: SparkSession,
    settings: Settings,
    runs: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    *,
    dedupe: bool = False,
) -> None:
    writes = []
    if checks:
        writes.append((OPS_QUALITY_CHECKS, _frame(spark, checks, QUALITY_CHECKS_COLUMNS)))
    if runs:
        writes.append((OPS_PIPELINE_RUNS, _frame(spark, runs, PIPELINE_RUNS_COLUMNS)))
    # Two independent tables: their appends run side by side.
    concurrently(lambda w: _append(spark, settings, w[0], w[1], dedupe=dedupe), writes)


# ---- the buffer for runs without Spark


def _pending_key(lake: Lake, event_id: str | None = None) -> str:
    return lake.key(*PENDING_PREFIX, f"{event_id}.json") if event_id else lake.key(*PENDING_PREFIX)


def delete_object(store: ObjectStore, key: str) -> None:
    """Remove one object (the storage interface is write-once; only the buffer needs deletes)."""
    if isinstance(store, S3Store):
        full = f"{store.prefix}/{key}" if store.prefix else key
        store.client.delete_object(Bucket=store.bucket, Key=full)
    elif isinstance(store, LocalStore):
        (store.root / key).unlink(missing_ok=True)
    else:
        raise TypeError(f"cannot delete from {type(store).__name__}")


def buffer_rows(settings: Settings, run: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    """Write a run's rows as one JSON object in the lake; returns its key."""
    lake = Lake(settings)
    key = _pending_key(lake, run["event_id"])
    body = json.dumps({"run": run, "checks": checks}, default=str, ensure_ascii=False)
    open_store(settings).put(key, body.encode("utf-8"), content_type="application/json")
    return key


def pending(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """Buffered (key, {"run", "checks"}) not yet ingested, oldest file name first."""
    store = open_store(settings)
    out = []
    for key in store.list(_pending_key(Lake(settings)) + "/"):
        if key.endswith(".json"):
            try:
                out.append((key, json.loads(store.get(key))))
            except ValueError as exc:
                log.error("ops.pending_unreadable", key=key, error=str(exc))
    return out


def flush_pending(spark: SparkSession, settings: Settings) -> int:
    """Ingest buffered rows into the Delta tables, then delete their files; returns runs moved."""
    items = pending(settings)
    if not items:
        return 0
    runs = [body["run"] for _, body in items]
    checks = [c for _, body in items for c in body.get("checks", [])]
    append_rows(spark, settings, runs, checks, dedupe=True)
    store = open_store(settings)
    for key, _ in items:
        delete_object(store, key)
    log.info("ops.pending_ingested", runs=len(runs), checks=len(checks))
    return len(runs)


def record_run(
    settings: Settings,
    run: dict[str, Any],
    checks: list[dict[str, Any]],
    spark: SparkSession | None = None,
) -> None:
    """Store a run's ops rows: Delta when Spark is at hand, else the lake buffer."""
    if spark is None:
        key = buffer_rows(settings, run, checks)
        log.info("ops.buffered", key=key, run_id=run.get("run_id"), layer=run.get("layer"))
        return
    append_rows(spark, settings, [run], checks)
    try:
        flush_pending(spark, settings)
    except Exception as exc:
        # The buffer stays for the next run; this run's own rows are already in.
        log.warning("ops.pending_not_ingested", error_class=type(exc).__name__, error=str(exc))


# ---- reading, for status


def read_table(spark: SparkSession, settings: Settings, table: TableRef) -> DataFrame | None:
    return delta.read_if_exists(spark, Lake(settings).table_location(table))
