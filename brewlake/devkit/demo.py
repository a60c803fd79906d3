"""`make demo`: generated data → local replay of the API → bronze, silver, gold → top of gold.

Needs no internet and no services: a few thousand realistic breweries from `brewlake.devkit.synth`
are served on 127.0.0.1 with the real API's rules (`brewlake.devkit.replay`), the whole pipeline
runs in one process into the lake (`./lake`, or `BREWLAKE_LAKE_ROOT`), and the largest rows of
`gold.brewery_counts` are printed. Run it again and bronze lands a new batch while silver and gold
change nothing (the same data). Spark's own output goes to a run log in `./logs`
(`BREWLAKE_LOG_DIR`), named on stderr only if the demo fails; `--verbose` shows it instead.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from brewlake import command
from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.errors import guarded
from brewlake.runtime.job import LogicalDate, today_utc

TOP_QUERY = (
    "SELECT country, state, brewery_type, brewery_count, silver_version "
    "FROM gold.brewery_counts "
    "ORDER BY brewery_count DESC, country, state, brewery_type LIMIT {limit}"
)


def top_of_gold(spark: Any, limit: int = 15) -> str:
    """The largest rows of gold.brewery_counts, rendered as a table."""
    from brewlake.cli.sql import format_rows

    frame = spark.sql(TOP_QUERY.format(limit=int(limit)))
    return format_rows(frame.columns, frame.collect(), "table")


def run_demo(
    settings: Settings,
    *,
    rows: int,
    seed: int,
    logical_date: Any,
    spark: Any = None,
    top: int = 15,
    out=None,
) -> bool:
    """Serve generated records, run the pipeline on them, print the summary and top of gold."""
    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records
    from brewlake.runtime.pipeline import run_pipeline, summary_table

    out = out or sys.stdout
    records = generate_records(rows, seed=seed)
    with serve_in_thread(records) as server:
        print(
            f"demo: serving {len(records)} generated breweries at {server.url}; "
            f"lake {settings.lake_root}",
            file=out,
            flush=True,
        )
        settings = settings.replace(api_url=server.url)
        if spark is None:
            from brewlake.spark import build_session

            spark = build_session(settings, "brewlake-demo")
        outcomes = run_pipeline(settings, logical_date, spark=spark)
    print("\n" + summary_table(outcomes), file=out)
    if any(o.result is None for o in outcomes):
        return False
    print("top of gold.brewery_counts:", file=out)
    print(top_of_gold(spark, top), file=out, end="")
    print(
        '\nquery it yourself: brewlake sql "SELECT * FROM gold.brewery_counts '
        "WHERE country = 'United States' ORDER BY brewery_count DESC LIMIT 10\"",
        file=out,
    )
    report = report_line(outcomes[-1].result.checks)
    if report:
        print(report, file=out)
    return True


def report_line(checks: list[Any]) -> str:
    """Where gold wrote the HTML report (or why it could not); empty when reports are off."""
    for check in checks:
        if check.rule == "report.written":
            if check.passed:
                return f"report: {check.detail} (open it in a browser; works offline)"
            return f"report: NOT written: {check.detail}"
    return ""


app = command.app()


@app.command("demo", help=__doc__.splitlines()[0])
def demo_command(
    rows: Annotated[int, typer.Option(help="generated breweries to serve")] = 3000,
    seed: Annotated[int, typer.Option(help="generator seed")] = 42,
    date: LogicalDate = None,
    top: Annotated[int, typer.Option(help="rows of gold to print")] = 15,
    verbose: command.Verbose = False,
) -> None:
    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else "WARNING", settings.log_format)
        t0 = time.monotonic()
        ok = run_demo(settings, rows=rows, seed=seed, logical_date=date or today_utc(), top=top)
        print(f"demo: {'done' if ok else 'FAILED'} in {time.monotonic() - t0:.0f} s")
        return 0 if ok else 1

    if not verbose:
        logmod.quiet_spark()
    raise typer.Exit(logmod.report_run_log(guarded(go, verbose=verbose)))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "python -m brewlake.devkit.demo")


if __name__ == "__main__":
    sys.exit(main())
