"""Bronze job: ingest the Open Brewery DB into a new immutable raw batch for a logical date.

    spark-submit bronze/job.py --date 2025-01-01
    brewlake bronze --date 2025-01-01

Bronze needs no Spark: it is HTTP and object-store I/O only, so `main` never starts a session.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from brewlake.config import Settings
from brewlake.runtime.job import run_layer_job
from brewlake.runtime.result import LayerResult


def run(spark: Any, settings: Settings, logical_date: dt.date, args: argparse.Namespace):
    """Land one verified batch; `spark` is unused (bronze moves bytes, not rows)."""
    from bronze.ingest import Progress, ingest

    report = ingest(
        settings,
        logical_date,
        concurrency=getattr(args, "concurrency", None),
        progress=Progress(),
    )
    print(report.summary(), file=sys.stderr, flush=True)
    return LayerResult(
        layer="bronze",
        rows_in=report.records,
        rows_out=report.records,
        duplicates=report.duplicates,
        batch_ids=[report.batch_id],
        details={
            "batch_path": report.batch_path,
            "pages": report.pages,
            "expected_pages": report.expected_pages,
            "retries": report.retries,
            "requests": report.requests,
            "distinct_records": report.unique,
            "api_total": report.meta.get("total"),
            "seconds": round(report.seconds, 3),
        },
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=None,
        help="concurrent page requests (default: BREWLAKE_API_CONCURRENCY)",
    )


def main(argv: list[str] | None = None) -> int:
    return run_layer_job(
        "bronze",
        argv,
        run,
        description="ingest the Open Brewery DB API into a new immutable raw batch",
        needs_spark=False,
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    sys.exit(main())
