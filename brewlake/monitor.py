"""Run tracking: every layer run announces start and end, with its result or error.

`track()` wraps one layer run. It always logs structured events; the ops tables and alert sinks
hang off the same events (see issue #7).
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from brewlake import __version__
from brewlake.config import Settings
from brewlake.log import get_logger
from brewlake.runs import LayerResult, new_run_id

log = get_logger(__name__)


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
    t0 = time.monotonic()
    log.info("run.started", **tracker.base_event())
    try:
        yield tracker
    except BaseException as exc:
        log.error(
            "run.failed",
            **tracker.base_event(),
            seconds=round(time.monotonic() - t0, 3),
            error_class=type(exc).__name__,
            error=str(exc).splitlines()[0] if str(exc) else "",
        )
        raise
    result = tracker.result
    log.info(
        "run.succeeded",
        **tracker.base_event(),
        seconds=round(time.monotonic() - t0, 3),
        rows_in=result.rows_in if result else None,
        rows_out=result.rows_out if result else None,
    )
