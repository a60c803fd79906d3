"""The shared shape of a layer job: parse args, load settings, start Spark, track, report.

Each layer's `job.py` is `main(argv) -> int` calling `run_layer_job(...)`, so
`spark-submit bronze/job.py --date 2025-01-01` and `brewlake bronze --date 2025-01-01` behave
identically (same arguments, same exit codes, same events).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.errors import guarded
from brewlake.runtime.result import LayerResult

RunFn = Callable[[Any, Settings, dt.date, argparse.Namespace], LayerResult]


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--date",
        type=parse_date,
        default=None,
        help="logical date YYYY-MM-DD (default: today, UTC)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="tracebacks and debug logs")
    return parser


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
) -> LayerResult:
    """Run one layer under monitoring; the single place a layer run is timed and recorded."""
    from brewlake.ops.monitor import track

    with track(settings, layer, logical_date, spark=spark, run_id=run_id) as tracker:
        t0 = time.monotonic()
        result = run_fn(spark, settings, logical_date, args)
        result.seconds = time.monotonic() - t0
        tracker.result = result
    return result


def run_layer_job(
    layer: str,
    argv: list[str] | None,
    run_fn: RunFn,
    *,
    description: str,
    needs_spark: bool = True,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    parser = base_parser(f"brewlake {layer}", description)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)

    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if args.verbose else settings.log_level, settings.log_format)
        logical_date = args.date or today_utc()
        spark = None
        if needs_spark:
            from brewlake.spark import build_session

            spark = build_session(settings, f"brewlake-{layer}")
        result = execute_layer(layer, run_fn, settings, logical_date, args, spark=spark)
        print(summary_line(result))
        return 0

    return guarded(go, verbose=args.verbose)
