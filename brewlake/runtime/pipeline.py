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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.errors import BrewlakeError, guarded
from brewlake.runtime.job import base_parser, execute_layer, today_utc
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
    """The arguments the layer's own CLI would parse with no options: its defaults, this date."""
    parser = base_parser(module.__name__, "")
    hook: Callable[[argparse.ArgumentParser], None] | None = getattr(
        module, "add_arguments", None
    ) or getattr(module, "_add_arguments", None)
    if hook:
        hook(parser)
    args = parser.parse_args([])
    args.date = logical_date
    args.verbose = verbose
    return args


def run_pipeline(
    settings: Settings,
    logical_date: dt.date,
    *,
    spark: Any = None,
    layers: tuple[tuple[str, str], ...] = LAYERS,
    verbose: bool = False,
) -> list[LayerOutcome]:
    """Run `layers` in order on one session; stop at the first failure (recorded, not raised)."""
    if spark is None:
        from brewlake.spark import build_session

        spark = build_session(settings, "brewlake-run")
    outcomes: list[LayerOutcome] = []
    for layer, module_name in layers:
        module = importlib.import_module(module_name)
        args = layer_args(module, logical_date, verbose=verbose)
        t0 = time.monotonic()
        try:
            result = execute_layer(layer, module.run, settings, logical_date, args, spark=spark)
        except Exception as exc:
            if verbose:
                raise
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            outcomes.append(
                LayerOutcome(layer, error=logmod.scrub(first), seconds=time.monotonic() - t0)
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
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    numeric = {2, 3, 4, 5}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *(line(row) for row in rows)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("brewlake run", "Run bronze, silver and gold in one process (one JVM).")
    args = parser.parse_args(argv)

    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if args.verbose else settings.log_level, settings.log_format)
        logical_date = args.date or today_utc()
        outcomes = run_pipeline(settings, logical_date, verbose=args.verbose)
        print(summary_table(outcomes), end="")
        failed = [o for o in outcomes if o.result is None]
        if failed:
            raise PipelineFailed(f"{failed[0].layer} failed: {failed[0].error}")
        return 0

    return guarded(go, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
