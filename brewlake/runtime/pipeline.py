"""`brewlake run [--date YYYY-MM-DD]`: bronze, silver and gold in one process and one JVM.

Each layer runs through `brewlake.runtime.job.execute_layer`, exactly as its own job would (same
`run`, same monitoring events), sharing one SparkSession. A failing layer stops the pipeline; the
summary table shows what ran and the command exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
import time
from dataclasses import dataclass
from typing import Any

import typer

from brewlake import command
from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.console import render_table
from brewlake.errors import BrewlakeError, first_line, guarded
from brewlake.runtime.job import (
    LogicalDate,
    execute_layer,
    plan_without_spark,
    today_utc,
    writer_lock_for,
)
from brewlake.runtime.result import LayerResult

# (layer, module): the order is the pipeline.
LAYERS: tuple[tuple[str, str], ...] = (
    ("bronze", "bronze.job"),
    ("silver", "silver.job"),
    ("gold", "gold.job"),
)


class PipelineFailed(BrewlakeError):
    """A layer failed; the layers after it did not run."""


@dataclass
class LayerOutcome:
    layer: str
    result: LayerResult | None = None
    error: str = ""
    seconds: float = 0.0


def layer_args(module: Any, logical_date: dt.date, *, verbose: bool = False) -> argparse.Namespace:
    """The options the layer's own command has when none is given: its defaults, this date."""
    layer_command = typer.main.get_command(module.app)
    with layer_command.make_context(module.__name__, []) as ctx:
        defaults = dict(ctx.params)
    return argparse.Namespace(**{**defaults, "date": logical_date, "verbose": verbose})


def run_pipeline(
    settings: Settings,
    logical_date: dt.date,
    *,
    spark: Any = None,
    layers: tuple[tuple[str, str], ...] = LAYERS,
    verbose: bool = False,
) -> list[LayerOutcome]:
    """Run `layers` in order on one session; stop at the first failure (recorded, not raised).

    The session starts when the first layer needs it: a layer whose `plan_without_spark` says
    this run needs no Spark (bronze always; silver and gold on a day the API did not change)
    runs without one. The whole run holds the lake's writer lock (LakeLocked, raised, when
    another run has it)."""
    with writer_lock_for(settings, "brewlake run", [layer for layer, _ in layers]):
        session = _LazySession(settings, spark)
        try:
            return _run_layers(settings, logical_date, session, layers, verbose)
        finally:
            _ingest_ops_rows(settings, session.spark)


def _ingest_ops_rows(settings: Settings, spark: Any) -> None:
    """The layers' ops rows were buffered in the lake: ingest them in one append per ops table
    (instead of two commits per layer), when the run had a session at all. Never raises: the
    buffer stays for the next run."""
    if spark is None:
        return
    from brewlake.ops.tables import flush_pending

    try:
        flush_pending(spark, settings)
    except Exception as exc:
        from brewlake.log import get_logger

        get_logger(__name__).warning(
            "ops.pending_not_ingested", error_class=type(exc).__name__, error=first_line(exc)
        )


class _LazySession:
    """The run's one SparkSession, built on first use (or the one the caller gave)."""

    def __init__(self, settings: Settings, spark: Any = None):
        self.settings, self.spark = settings, spark

    def get(self) -> Any:
        if self.spark is None:
            from brewlake.spark import build_session

            self.spark = build_session(self.settings, "brewlake-run")
        return self.spark


def _run_layers(
    settings: Settings,
    logical_date: dt.date,
    session: _LazySession,
    layers: tuple[tuple[str, str], ...],
    verbose: bool,
) -> list[LayerOutcome]:
    outcomes: list[LayerOutcome] = []
    for layer, module_name in layers:
        module = importlib.import_module(module_name)
        args = layer_args(module, logical_date, verbose=verbose)
        t0 = time.monotonic()
        try:
            plan = getattr(module, "plan_without_spark", None)
            run_fn = plan_without_spark(plan, settings, logical_date, args)
            spark = None if run_fn is not None else session.get()
            run_fn = run_fn or module.run
            result = execute_layer(
                layer, run_fn, settings, logical_date, args, spark=spark, buffer_ops=True
            )
        except Exception as exc:
            if verbose:
                raise
            outcomes.append(
                LayerOutcome(layer, error=first_line(exc), seconds=time.monotonic() - t0)
            )
            break
        outcomes.append(LayerOutcome(layer, result=result, seconds=result.seconds))
    return outcomes


def _versions(result: LayerResult) -> str:
    parts = []
    for table, (before, after) in result.table_versions.items():
        before_text = "new" if before is None else f"v{before}"
        after_text = "none" if after is None else f"v{after}"
        parts.append(f"{table} {before_text}->{after_text}")
    return ", ".join(parts) or "-"


def summary_table(outcomes: list[LayerOutcome]) -> str:
    """One row per layer: rows in/out, quarantined, seconds, table versions (or the error)."""
    header = ("layer", "status", "rows_in", "rows_out", "quarantined", "seconds", "tables")
    rows = []
    for o in outcomes:
        r = o.result
        if r is None:
            rows.append((o.layer, "FAILED", "-", "-", "-", f"{o.seconds:.1f}", o.error))
            continue
        status = "skipped" if r.details.get("skipped") else "ok"
        rows.append(
            (
                o.layer,
                status,
                str(r.rows_in),
                str(r.rows_out),
                str(r.quarantined),
                f"{r.seconds:.1f}",
                _versions(r),
            )
        )
    return render_table(header, rows, numeric=(2, 3, 4, 5))


app = command.app()


@app.command("run", help="Run bronze, silver and gold in one process (one JVM).")
def run_command(date: LogicalDate = None, verbose: command.Verbose = False) -> None:
    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else settings.log_level, settings.log_format)
        outcomes = run_pipeline(settings, date or today_utc(), verbose=verbose)
        print(summary_table(outcomes), end="")
        failed = [o for o in outcomes if o.result is None]
        if failed:
            raise PipelineFailed(f"{failed[0].layer} failed: {failed[0].error}")
        return 0

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake run")


if __name__ == "__main__":
    sys.exit(main())
