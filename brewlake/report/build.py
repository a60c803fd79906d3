"""`brewlake report`: gold and the runs as one self-contained HTML page; the report's I/O layer.

    brewlake report                        # <lake>/reports/<logical date>/index.html and latest/
    brewlake report --out report.html      # or --out s3://bucket/key.html
    brewlake report --as-of 3              # the gold tables at Delta version 3

Three steps, kept apart: `resolve_pins` decides which Delta version of each table the page shows
(gold's current versions, the silver version gold records, the ops tables' current versions);
`collect` runs the queries of `brewlake.report.queries` (each also runnable with `brewlake sql`)
and keeps each result exactly as `brewlake sql --format json` prints it; `brewlake.report.page`
turns that document into HTML. The gold job calls `publish` after every run.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from brewlake import __version__, command, delta
from brewlake.catalog import (
    GOLD_BREWERY_COUNTS,
    GOLD_COUNTS_BY_TYPE,
    GOLD_OPERATING_STATUS,
    OPS_PIPELINE_RUNS,
    OPS_QUALITY_CHECKS,
    SILVER_BREWERIES,
    register_table,
)
from brewlake.config import Settings
from brewlake.console import json_records
from brewlake.errors import BrewlakeError, SetupError, first_line
from brewlake.lake import Lake, TableRef
from brewlake.log import get_logger
from brewlake.parallel import concurrently
from brewlake.report import queries as q

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = get_logger(__name__)

GOLD_READ = (GOLD_BREWERY_COUNTS, GOLD_COUNTS_BY_TYPE, GOLD_OPERATING_STATUS)
REPORT_TABLES = (*GOLD_READ, SILVER_BREWERIES, OPS_PIPELINE_RUNS, OPS_QUALITY_CHECKS)
RUNS_PER_LAYER = 10
REPORTS = "reports"
PAGE = "index.html"


class ReportError(BrewlakeError):
    """The report cannot be built from the lake as it is."""


def _history(spark: SparkSession, location: str) -> dict[int, dict[str, Any]]:
    """version -> {timestamp, operation, metadata} of every commit still in the table's log."""
    out = {}
    columns = ("version", "timestamp", "operation", "userMetadata")
    for row in delta.history(spark, location).select(*columns).collect():
        try:
            meta = json.loads(row["userMetadata"]) if row["userMetadata"] else {}
        except ValueError:
            meta = {}
        out[int(row["version"])] = {
            "timestamp": row["timestamp"],
            "operation": row["operation"],
            "metadata": meta,
        }
    return out


def _is_empty_creation(spark: SparkSession, location: str, version: int) -> bool:
    """Whether commit `version` created the table empty (CREATE TABLE; a CTAS is named apart)."""
    commit = _history(spark, location).get(version)
    return commit is not None and commit["operation"] == "CREATE TABLE"


def resolve_pins(
    spark: SparkSession, settings: Settings, as_of: int | None = None
) -> tuple[q.Pins, dict[str, Any]]:
    """The version of every table the page reads, and gold's lineage at those versions."""
    lake = Lake(settings)
    gold: dict[TableRef, int] = {}
    lineage: dict[str, Any] = {}

    def gold_commits(table: TableRef) -> dict[int, dict[str, Any]]:
        location = lake.table_location(table)
        if not delta.is_delta(spark, location):
            raise ReportError(f"{table} does not exist at {location}: run `brewlake gold` first")
        return _history(spark, location)

    # Each table's log is read on the driver: side by side they take about the time of one.
    for table, commits in zip(GOLD_READ, concurrently(gold_commits, GOLD_READ), strict=True):
        version = max(commits) if as_of is None else int(as_of)
        if version not in commits:
            raise ReportError(
                f"{table} has no version {version} (versions {min(commits)}..{max(commits)})"
            )
        gold[table] = version
        if table == GOLD_BREWERY_COUNTS:
            lineage = dict(commits[version]["metadata"])
            # collect() hands timestamps over in the process's time zone: back to UTC.
            committed = commits[version]["timestamp"].astimezone(dt.UTC).replace(tzinfo=None)
            lineage["gold_committed_at"] = committed.isoformat(sep=" ", timespec="seconds")
    if "silver_version" not in lineage:
        # A commit without brewlake's metadata: the lineage column says the same.
        row = delta.read(
            spark, lake.table_location(GOLD_BREWERY_COUNTS), version=gold[GOLD_BREWERY_COUNTS]
        )
        lineage["silver_version"] = row.agg({"silver_version": "max"}).first()[0] or 0
    silver = int(lineage["silver_version"])
    previous = silver - 1 if silver > 0 else None

    def version_of(table: TableRef) -> int | None:
        return delta.version(spark, lake.table_location(table))

    def previous_was_empty() -> bool:
        location = lake.table_location(SILVER_BREWERIES)
        return previous is not None and _is_empty_creation(spark, location, previous)

    runs, checks, empty = concurrently(
        lambda look_up: look_up(),
        [
            lambda: version_of(OPS_PIPELINE_RUNS),
            lambda: version_of(OPS_QUALITY_CHECKS),
            previous_was_empty,
        ],
    )
    pins = q.Pins(
        gold=gold,
        silver=silver,
        previous_silver=previous,
        previous_silver_empty=empty,
        pipeline_runs=runs,
        quality_checks=checks,
    )
    return pins, lineage


def run_query(spark: SparkSession, sql: str) -> dict[str, Any]:
    """One dataset: its SQL, columns and rows as `brewlake sql --format json` prints them."""
    frame = spark.sql(sql)
    rows = json_records(frame.columns, frame.collect())
    return {"sql": sql, "columns": frame.columns, "rows": rows}


def collect(
    spark: SparkSession,
    settings: Settings,
    logical_date: dt.date | None = None,
    *,
    as_of: int | None = None,
) -> dict[str, Any]:
    """The report document: what it shows (pins, lineage) and every dataset."""
    for table in REPORT_TABLES:
        register_table(spark, settings, table)
    pins, lineage = resolve_pins(spark, settings, as_of)
    queries = q.report_queries(
        pins, map_limit=settings.report_map_points, runs_per_layer=RUNS_PER_LAYER
    )

    def dataset(item: tuple[str, str]) -> dict[str, Any]:
        name, sql = item
        try:
            return run_query(spark, sql)
        except Exception as exc:
            if name != "changes":
                raise
            # The previous silver version may be vacuumed away: the page says so, the rest stands.
            return {"sql": sql, "columns": [], "rows": [], "error": first_line(exc)}

    # Small independent queries: their Spark jobs run side by side.
    datasets = dict(zip(queries, concurrently(dataset, list(queries.items())), strict=True))
    return {
        "title": "brewlake report",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "brewlake_version": __version__,
        "lake": settings.lake_root,
        "logical_date": (logical_date.isoformat() if logical_date else lineage.get("logical_date")),
        "gold_logical_date": lineage.get("logical_date"),
        "gold_committed_at": lineage.get("gold_committed_at"),
        "versions": {
            **{str(t): v for t, v in pins.gold.items()},
            str(SILVER_BREWERIES): pins.silver,
            "previous_silver": pins.previous_silver,
            str(OPS_PIPELINE_RUNS): pins.pipeline_runs,
            str(OPS_QUALITY_CHECKS): pins.quality_checks,
        },
        "map_limit": settings.report_map_points,
        "datasets": datasets,
    }


def page_module():
    """`brewlake.report.page`, or a SetupError naming the extra to install."""
    try:
        from brewlake.report import page
    except ImportError as exc:
        raise SetupError(
            f"the report needs plotly ({exc.name} is missing): "
            "pip install -c constraints.txt -e '.[report]' (or `make setup`)"
        ) from None
    return page


def render(doc: dict[str, Any]) -> str:
    return page_module().render(doc)


# ---- where pages go


def lake_keys(lake: Lake, logical_date: dt.date) -> list[str]:
    """The page's keys in the lake: the logical date's folder and `latest`."""
    return [lake.key(REPORTS, logical_date.isoformat(), PAGE), lake.key(REPORTS, "latest", PAGE)]


def write_page(settings: Settings, html: str, out: str | None, logical_date: dt.date) -> list[str]:
    """Write the page to `out` (a local path or s3://bucket/key), or into the lake; the places."""
    data = html.encode("utf-8")
    content_type = "text/html; charset=utf-8"
    if out is None:
        from brewlake.storage import open_store

        lake, store = Lake(settings), open_store(settings)
        places = []
        for key in lake_keys(lake, logical_date):
            store.put(key, data, content_type=content_type)
            places.append(lake.uri_of_key(key))
        return places
    if out.startswith(("s3://", "s3a://")):
        from brewlake.storage import aws_client

        bucket, _, key = out.split("://", 1)[1].partition("/")
        if not bucket or not key or key.endswith("/"):
            raise ReportError(f"--out {out}: give s3://bucket/path/report.html")
        aws_client(settings).put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return [out]
    from pathlib import Path

    path = Path(out).expanduser()
    if path.is_dir():
        path = path / PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return [str(path.resolve())]


def publish(
    spark: SparkSession,
    settings: Settings,
    logical_date: dt.date,
    *,
    out: str | None = None,
    as_of: int | None = None,
) -> list[str]:
    """Build the page and write it; returns where it went."""
    t0 = time.monotonic()
    html = render(collect(spark, settings, logical_date, as_of=as_of))
    places = write_page(settings, html, out, logical_date)
    log.info(
        "report.written",
        path=places[0],
        bytes=len(html.encode("utf-8")),
        seconds=round(time.monotonic() - t0, 1),
    )
    return places


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


app = command.app()


@app.command("report", help="Write gold and the recent runs as one self-contained HTML page.")
def report_command(
    out: Annotated[
        str | None,
        typer.Option(
            metavar="PATH|s3://BUCKET/KEY",
            help="where to write the page (default: <lake>/reports/<date>/ and reports/latest/)",
        ),
    ] = None,
    as_of: Annotated[
        int | None,
        typer.Option(metavar="VERSION", help="show the gold tables at this Delta version"),
    ] = None,
    date: Annotated[
        dt.date | None,
        typer.Option(
            parser=_date,
            metavar="YYYY-MM-DD",
            help="logical date of the page's folder (default: the one gold records)",
        ),
    ] = None,
    verbose: command.Verbose = False,
) -> None:
    from brewlake import log as logmod
    from brewlake.config import load_settings
    from brewlake.errors import guarded

    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else "WARNING", settings.log_format)
        page_module()  # a missing extra fails before Spark starts
        from brewlake.spark import build_session

        spark = build_session(settings, "brewlake-report", register_tables=False)
        doc = collect(spark, settings, date, as_of=as_of)
        today = dt.datetime.now(dt.UTC).date().isoformat()
        day = dt.date.fromisoformat(doc["logical_date"] or today)
        html = render(doc)
        for place in write_page(settings, html, out, day):
            print(place)
        return 0

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake report")


if __name__ == "__main__":
    sys.exit(main())
