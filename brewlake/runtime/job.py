"""The shared shape of a layer job: options, settings, Spark, tracking, the summary line.

Each layer's `job.py` declares its command once (`app`, options `LogicalDate`, `Verbose` and its
own) and calls `run_layer_job(...)`; its `main(argv)` runs that command, so
`spark-submit bronze/job.py --date 2025-01-01` and `brewlake bronze --date 2025-01-01` behave
identically (same arguments, same exit codes, same events).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.errors import guarded
from brewlake.runtime.result import LayerResult

# A layer's `run` gets its command's options as attributes (`args.force`, `args.rebuild`, …).
RunFn = Callable[[Any, Settings, dt.date, argparse.Namespace], LayerResult]
# A layer's `plan_without_spark(settings, logical_date, args)`: a RunFn that needs no session
# (it is called with None), or None when this run needs Spark. Decided before a session starts.
PlanFn = Callable[[Settings, dt.date, argparse.Namespace], RunFn | None]


def plan_without_spark(
    plan: PlanFn | None, settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> RunFn | None:
    """`plan`'s answer; None (Spark) when there is no plan or it could not decide (logged)."""
    if plan is None:
        return None
    try:
        return plan(settings, logical_date, args)
    except Exception as exc:  # the Spark path is always correct: fall back to it
        from brewlake.errors import first_line
        from brewlake.log import get_logger

        get_logger(__name__).warning(
            "job.plan_failed", error_class=type(exc).__name__, error=first_line(str(exc))
        )
        return None


def parse_date(text: str | dt.date) -> dt.date:
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


LogicalDate = Annotated[
    dt.date | None,
    typer.Option(
        parser=parse_date,
        metavar="YYYY-MM-DD",
        help="logical date YYYY-MM-DD (default: today, UTC)",
        show_default=False,
    ),
]


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def summary_line(result: LayerResult) -> str:
    parts = [
        f"{result.layer}: rows_in={result.rows_in}",
        f"rows_out={result.rows_out}",
        f"quarantined={result.quarantined}",
        f"seconds={result.seconds:.1f}",
    ]
    for table, (before, after) in result.table_versions.items():
        parts.append(f"{table}=v{before}->v{after}")
    return " ".join(parts)


def execute_layer(
    layer: str,
    run_fn: RunFn,
    settings: Settings,
    logical_date: dt.date,
    args: argparse.Namespace,
    *,
    spark: Any = None,
    run_id: str | None = None,
    buffer_ops: bool = False,
) -> LayerResult:
    """Run one layer under monitoring; the single place a layer run is timed and recorded.

    `buffer_ops`: the run's ops rows go to the lake buffer even with a session at hand (the
    caller ingests the buffer once, after several layers: fewer small Delta commits)."""
    from brewlake.ops.monitor import track

    ops_spark = None if buffer_ops else spark
    with track(settings, layer, logical_date, spark=ops_spark, run_id=run_id) as tracker:
        t0 = time.monotonic()
        result = run_fn(spark, settings, logical_date, args)
        result.seconds = time.monotonic() - t0
        tracker.result = result
    return result


def writer_lock_for(
    settings: Settings, run: str, layers: Iterable[str]
) -> contextlib.AbstractContextManager:
    """The lake's writer lock (`brewlake.locks`) when any of `layers` commits to Delta tables."""
    from brewlake.locks import WRITING_LAYERS, writer_lock

    if WRITING_LAYERS.isdisjoint(layers):
        return contextlib.nullcontext()
    return writer_lock(settings, run)


def run_layer_job(
    layer: str,
    run_fn: RunFn,
    *,
    logical_date: dt.date | None,
    verbose: bool,
    needs_spark: bool = True,
    without_spark: PlanFn | None = None,
    **options: Any,
) -> int:
    """Run `layer` for `logical_date` (default today) and print its summary line; the exit code.

    `options` are the layer command's own, handed to `run_fn` with the date and `verbose`.
    `without_spark` (the layer's `plan_without_spark`) may answer that this run needs no
    session: then none is started."""
    args = argparse.Namespace(date=logical_date, verbose=verbose, **options)

    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else settings.log_level, settings.log_format)
        day = logical_date or today_utc()
        # The lock comes first: a run that cannot write must not start a JVM or record ops rows
        # (a Delta commit of its own) beside the holder's.
        with writer_lock_for(settings, layer, [layer]):
            spark = None
            layer_fn = plan_without_spark(without_spark, settings, day, args)
            if layer_fn is None:
                layer_fn = run_fn
                if needs_spark:
                    from brewlake.spark import build_session

                    spark = build_session(settings, f"brewlake-{layer}")
            result = execute_layer(layer, layer_fn, settings, day, args, spark=spark)
        print(summary_line(result))
        return 0

    return guarded(go, verbose=verbose)
