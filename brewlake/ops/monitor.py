"""Run tracking: every layer run announces its start and end, records itself, and alerts.

    with track(settings, "silver", logical_date, spark=spark) as tracker:
        tracker.result = run(...)

`track()` wraps one layer run (`brewlake.runtime.job.execute_layer` is its one caller):
- publishes run events (`brewlake.ops.events` schema) to every sink (`brewlake.ops.alerts`):
  `started`, then `succeeded`, `failed`, or `quality_breached` (a `QualityBreach`, or failed
  checks in a run that otherwise succeeded);
- writes one `ops.pipeline_runs` row and one `ops.quality_checks` row per rule
  (`brewlake.ops.tables`), buffered in the lake when the run has no Spark session.

Neither an alert sink nor the ops write can change the run's outcome: their failures are logged
as errors (`ops.write_failed`, `alert.sink_failed`) and the run's own result or exception stands.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from brewlake import __version__
from brewlake.config import Settings
from brewlake.errors import QualityBreach, first_line
from brewlake.log import get_logger
from brewlake.ops.events import FAILED, QUALITY_BREACHED, STARTED, SUCCEEDED, make_event
from brewlake.runtime.result import LayerResult, new_run_id

log = get_logger(__name__)

# Airflow exports these to every task process (and so to spark-submit children).
_AIRFLOW_ENV = {
    "dag_id": "AIRFLOW_CTX_DAG_ID",
    "task_id": "AIRFLOW_CTX_TASK_ID",
    "try_number": "AIRFLOW_CTX_TRY_NUMBER",
    "airflow_run_id": "AIRFLOW_CTX_DAG_RUN_ID",
}


def airflow_context() -> dict[str, str]:
    return {key: os.environ[var] for key, var in _AIRFLOW_ENV.items() if os.environ.get(var)}


@dataclass
class RunTracker:
    settings: Settings
    layer: str
    logical_date: dt.date
    run_id: str = field(default_factory=new_run_id)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    result: LayerResult | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def base_event(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "layer": self.layer,
            "logical_date": self.logical_date.isoformat(),
            "host": socket.gethostname(),
            "brewlake_version": __version__,
            **self.context,
        }

    def result_fields(self) -> dict[str, Any]:
        result = self.result
        if result is None:
            return {}
        return {
            "rows_in": result.rows_in,
            "rows_out": result.rows_out,
            "quarantined": result.quarantined,
            "duplicates": result.duplicates,
            "batch_ids": list(result.batch_ids),
            "table_versions": {k: list(v) for k, v in result.table_versions.items()},
        }

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return make_event(kind, **{**self.base_event(), **fields})

    def emit(self, event: dict[str, Any], *, notify: bool = True) -> None:
        from brewlake.ops.alerts import publish_event

        publish_event(self.settings, event, notify=notify)  # logs each sink that fails


def failed_check_dicts(checks: list[Any]) -> list[dict[str, Any]]:
    out = []
    for check in checks:
        get = check.get if isinstance(check, dict) else (lambda k, c=check: getattr(c, k, None))
        if not get("passed"):
            out.append(
                {
                    "rule": get("rule"),
                    "observed": get("observed"),
                    "threshold": get("threshold"),
                    "detail": get("detail") or "",
                }
            )
    return out


def _record(tracker: RunTracker, final: dict[str, Any], checks: list[Any], spark: Any) -> None:
    """Write the run's ops rows; never raises (an ops outage must not fail or mask the run)."""
    from brewlake.ops import tables

    try:
        check_rows = tables.check_rows(final, checks)
        row = tables.run_row(
            final,
            started_at=tracker.started_at.isoformat(timespec="milliseconds"),
            checks=check_rows,
        )
        tables.record_run(tracker.settings, row, check_rows, spark)
    except Exception as exc:
        log.error(
            "ops.write_failed",
            run_id=tracker.run_id,
            layer=tracker.layer,
            error_class=type(exc).__name__,
            error=first_line(str(exc)),
            hint="the run's outcome is unchanged; its ops.pipeline_runs row is missing",
        )


@contextmanager
def track(
    settings: Settings,
    layer: str,
    logical_date: dt.date,
    *,
    spark: Any = None,
    run_id: str | None = None,
) -> Iterator[RunTracker]:
    tracker = RunTracker(settings, layer, logical_date, **({"run_id": run_id} if run_id else {}))
    tracker.context.update(airflow_context())
    tracker.emit(tracker.event(STARTED))
    t0 = time.monotonic()
    try:
        yield tracker
    except BaseException as exc:
        is_breach = isinstance(exc, QualityBreach)
        checks = list(getattr(exc, "checks", []) or [])
        if not checks and tracker.result is not None:
            checks = list(tracker.result.checks)
        final = tracker.event(
            QUALITY_BREACHED if is_breach else FAILED,
            **tracker.result_fields(),
            duration_s=round(time.monotonic() - t0, 3),
            error_class=type(exc).__name__,
            error=str(exc),
            failed_checks=failed_check_dicts(checks),
        )
        # Under Airflow the task's failure callback pages people once retries are exhausted; a
        # page per attempt from the job itself would be noise (SNS and the log still get it).
        tracker.emit(final, notify="task_id" not in tracker.context)
        _record(tracker, final, checks, spark)
        raise
    checks = list(tracker.result.checks) if tracker.result is not None else []
    final = tracker.event(
        SUCCEEDED, **tracker.result_fields(), duration_s=round(time.monotonic() - t0, 3)
    )
    tracker.emit(final)
    failed = failed_check_dicts(checks)
    if failed:
        # Non-gating checks failed: the data landed, but people should hear about it.
        tracker.emit(
            tracker.event(QUALITY_BREACHED, **tracker.result_fields(), failed_checks=failed)
        )
    _record(tracker, final, checks, spark)
