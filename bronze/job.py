"""Bronze job: ingest the Open Brewery DB into a new immutable raw batch for a logical date.

    spark-submit bronze/job.py --date 2025-01-01
    brewlake bronze --date 2025-01-01

Bronze needs no Spark: it is HTTP and object-store I/O only, so `main` never starts a session.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Annotated, Any

import typer

from brewlake import command
from brewlake.config import Settings
from brewlake.runtime.job import LogicalDate, run_layer_job
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


def plan_without_spark(settings: Settings, logical_date: dt.date, args: argparse.Namespace):
    """Bronze never needs a Spark session (`brewlake run` starts one only for a later layer)."""
    return run


app = command.app()


@app.command("bronze", help="ingest the Open Brewery DB API into a new immutable raw batch")
def bronze_command(
    date: LogicalDate = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="concurrent page requests (default: BREWLAKE_API_CONCURRENCY)"
        ),
    ] = None,
    verbose: command.Verbose = False,
) -> None:
    code = run_layer_job(
        "bronze",
        run,
        logical_date=date,
        verbose=verbose,
        needs_spark=False,
        concurrency=concurrency,
    )
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake bronze")


if __name__ == "__main__":
    sys.exit(main())
