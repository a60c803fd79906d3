"""Gold job: recompute every gold table from one pinned version of silver.breweries.

    spark-submit gold/job.py --date 2025-01-01     # or: brewlake gold --date 2025-01-01

Silver is read at the version that was current when the job started (`versionAsOf`), so a silver
run committing meanwhile cannot mix two versions into one gold run. Each gold table is replaced
whole by one Delta overwrite (one commit): a reader sees the old table or the new one, never a
half-written one. Before anything is written, every table's total must equal the active row count
of that silver version; a mismatch fails the run with both numbers and commits nothing.

When every gold table already records the current silver version (and this code's logic version),
the run writes nothing: unchanged silver means unchanged gold, and no empty commits pile up.
`--force` recomputes anyway.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pyspark.sql import functions as F

from brewlake import command, delta
from brewlake.catalog import (
    GOLD_BREWERY_COUNTS,
    GOLD_COUNTS_BY_COUNTRY_TYPE,
    GOLD_COUNTS_BY_TYPE,
    GOLD_OPERATING_STATUS,
    SILVER_BREWERIES,
    register_table,
    table_version,
)
from brewlake.config import Settings
from brewlake.errors import BrewlakeError, QualityBreach
from brewlake.lake import Lake, TableRef
from brewlake.log import get_logger
from brewlake.parallel import concurrently
from brewlake.runtime.job import LogicalDate, RunFn, run_layer_job
from brewlake.runtime.result import LayerResult, QualityCheck
from brewlake.storage import open_store
from gold import transforms as gt

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)

# Bump when a transform's output changes, so gold recomputes even if silver did not.
GOLD_LOGIC_VERSION = 1


@dataclass(frozen=True)
class GoldTable:
    table: TableRef
    build: Callable[[DataFrame], DataFrame]
    columns: tuple[str, ...]


LINEAGE = ("silver_version", "computed_at")
GOLD_TABLES: tuple[GoldTable, ...] = (
    GoldTable(
        GOLD_BREWERY_COUNTS,
        gt.count_by_location_type,
        ("country", "state", "brewery_type", gt.COUNT, *LINEAGE),
    ),
    GoldTable(
        GOLD_COUNTS_BY_COUNTRY_TYPE,
        gt.count_by_country_type,
        ("country", "brewery_type", gt.COUNT, *LINEAGE),
    ),
    GoldTable(GOLD_COUNTS_BY_TYPE, gt.count_by_type, ("brewery_type", gt.COUNT, "share", *LINEAGE)),
    GoldTable(
        GOLD_OPERATING_STATUS,
        gt.summarize_operating_status,
        (
            "country",
            "operating_count",
            "planning_count",
            "closed_count",
            gt.COUNT,
            "operating_share",
            *LINEAGE,
        ),
    ),
)


class SilverMissing(BrewlakeError):
    """silver.breweries does not exist yet."""


@dataclass(frozen=True)
class PinnedSilver:
    """silver.breweries at one version: the frame read at it, and when that commit landed."""

    frame: DataFrame
    version: int
    committed_at: str  # UTC, ISO
    commit_id: str = ""  # the commit's txnId: unique, and readable without Spark


@dataclass(frozen=True)
class TableFigures:
    """One built gold table, measured: the sum of its counts and its number of rows."""

    total: int
    rows: int


def pinned_silver(spark: SparkSession, settings: Settings) -> PinnedSilver:
    """silver.breweries pinned at its current version (SilverMissing before silver's first run)."""
    lake = Lake(settings)
    location = lake.table_location(SILVER_BREWERIES)
    commit = delta.last_commit(spark, location)
    if commit is None:
        raise SilverMissing(
            f"{SILVER_BREWERIES} does not exist at {location}: run `brewlake silver` first"
        )
    version = int(commit["version"])
    frame = delta.read(spark, location, version=version)
    info = delta.commit_info(open_store(settings), lake.table_key(SILVER_BREWERIES), version)
    return PinnedSilver(frame, version, commit["timestamp"].isoformat(), info.get("txnId", ""))


def _lineage(silver: PinnedSilver) -> dict[str, Any]:
    # The commit time guards against a silver table deleted and rebuilt from version 0.
    return {
        "silver_version": silver.version,
        "silver_committed_at": silver.committed_at,
        "silver_commit_id": silver.commit_id,
        "gold_logic_version": GOLD_LOGIC_VERSION,
    }


def plan_without_spark(
    settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> RunFn | None:
    """A gold run that needs no Spark session, or None when Spark is needed.

    Decided from the Delta logs alone (a listing and one read per table): when every gold
    table's newest commit records silver.breweries' newest commit (its version and txnId) and
    this code's logic version, gold is current and the run writes nothing — as `run` would
    decide with Spark, without starting it."""
    if getattr(args, "force", False):
        return None
    store, lake = open_store(settings), Lake(settings)
    silver = delta.head_commit(store, lake.table_key(SILVER_BREWERIES))
    commit_id = (silver or (None, {}))[1].get("txnId")
    if not commit_id:
        return None
    versions = {}
    for gold in GOLD_TABLES:
        head = delta.head_commit(store, lake.table_key(gold.table))
        if head is None:
            return None
        try:
            meta = json.loads(head[1].get("userMetadata") or "{}")
        except ValueError:
            return None
        wanted = (silver[0], commit_id, GOLD_LOGIC_VERSION)
        if (
            meta.get("silver_version"),
            meta.get("silver_commit_id"),
            meta.get("gold_logic_version"),
        ) != wanted:
            return None
        versions[str(gold.table)] = (head[0], head[0])

    def run_unchanged(
        _spark: object, settings: Settings, logical_date: dt.date, args: argparse.Namespace
    ) -> LayerResult:
        log.info("gold.unchanged", silver_version=silver[0], spark=False)
        result = LayerResult(layer="gold", table_versions=dict(versions))
        result.details.update(
            silver_version=silver[0],
            silver_commit_id=commit_id,
            gold_logic_version=GOLD_LOGIC_VERSION,
            logical_date=logical_date.isoformat(),
            skipped=True,
            spark=False,
        )
        return result

    return run_unchanged


def _is_current(spark: SparkSession, settings: Settings, lineage: dict[str, Any]) -> bool:
    lake = Lake(settings)
    for gold in GOLD_TABLES:
        meta = delta.last_metadata(spark, lake.table_location(gold.table))
        if any(meta.get(key) != value for key, value in lineage.items()):
            return False
    return True


def run(
    spark: SparkSession, settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> LayerResult:
    silver = pinned_silver(spark, settings)
    lineage = _lineage(silver)
    result = LayerResult(layer="gold")
    result.details.update(lineage, logical_date=logical_date.isoformat())
    before = {g.table: table_version(spark, settings, g.table) for g in GOLD_TABLES}
    if not getattr(args, "force", False) and _is_current(spark, settings, lineage):
        log.info("gold.unchanged", silver_version=silver.version)
        result.details["skipped"] = True
        result.table_versions = _register_unchanged(spark, settings, before)
        result.checks.extend(write_report(spark, settings, logical_date))
        return result

    result.rows_in, active = count_silver(silver.frame)
    result.details["active_rows"] = active
    metadata = json.dumps({**lineage, "logical_date": logical_date.isoformat()})
    figures, checks = recompute(spark, settings, silver, active, metadata)
    result.checks.extend(checks)
    result.details.update({f"{table}.rows": f.rows for table, f in figures.items()})
    result.table_versions = _register_written(spark, settings, before)
    result.rows_out = figures[GOLD_BREWERY_COUNTS].rows
    log.info(
        "gold.written",
        silver_version=silver.version,
        active_rows=active,
        brewery_counts_rows=result.rows_out,
    )
    result.checks.extend(write_report(spark, settings, logical_date))
    return result


def write_report(
    spark: SparkSession, settings: Settings, logical_date: dt.date
) -> list[QualityCheck]:
    """The HTML report of the gold just committed (brewlake.report), as a check that never gates:
    a page that cannot be written leaves gold's commits standing and the run `quality_breached`."""
    if not settings.report_enabled:
        return []
    from brewlake.report.build import publish

    try:
        places = publish(spark, settings, logical_date)
    except Exception as exc:
        log.error("report.failed", error_class=type(exc).__name__, error=str(exc))
        return [QualityCheck("report.written", False, detail=f"{type(exc).__name__}: {exc}")]
    return [QualityCheck("report.written", True, detail=places[0])]


def count_silver(silver: DataFrame) -> tuple[int, int]:
    """(rows, active rows) of silver, in one pass."""
    by_activity = dict(silver.groupBy("is_active").count().collect())
    return sum(by_activity.values()), by_activity.get(True, 0)


def recompute(
    spark: SparkSession, settings: Settings, silver: PinnedSilver, active: int, metadata: str
) -> tuple[dict[TableRef, TableFigures], list[QualityCheck]]:
    """Build every table, check each against silver's `active` count, then replace each in one
    commit carrying `metadata`. Nothing is written unless every table reconciles."""
    with built_tables(silver, _now(), GOLD_TABLES) as frames:
        figures = measure_tables(frames)
        checks = reconciliation_checks(figures, active, silver.version)
        require_reconciled(checks)
        replace_tables(Lake(settings), frames, metadata)
    return figures, checks


@contextmanager
def built_tables(
    silver: PinnedSilver, computed_at: dt.datetime, tables: tuple[GoldTable, ...]
) -> Iterator[dict[TableRef, DataFrame]]:
    """Every table built from silver's active rows, cached for its check and its write."""
    # Only the columns the aggregates read: a narrow cache of a wide table costs little to build.
    active_breweries = gt.filter_active(silver.frame).select(*gt.INPUT_COLUMNS).cache()
    frames: dict[TableRef, DataFrame] = {}
    try:
        for gold in tables:
            frames[gold.table] = (
                active_breweries.transform(gold.build)
                .transform(gt.with_lineage, silver.version, computed_at)
                .select(*gold.columns)
                .cache()
            )
        yield frames
    finally:
        for frame in frames.values():
            frame.unpersist()
        active_breweries.unpersist()


def measure_tables(frames: dict[TableRef, DataFrame]) -> dict[TableRef, TableFigures]:
    def measure(frame: DataFrame) -> TableFigures:
        total, rows = frame.agg(F.sum(gt.COUNT), F.count(F.lit(1))).first()
        return TableFigures(int(total or 0), int(rows))

    # The tables are small and independent: their Spark jobs run side by side.
    return dict(zip(frames, concurrently(measure, list(frames.values())), strict=True))


def reconciliation_checks(
    figures: dict[TableRef, TableFigures], active: int, silver_version: int
) -> list[QualityCheck]:
    return [
        QualityCheck(
            rule=f"{table}.reconciles_with_silver",
            passed=f.total == active,
            observed=float(f.total),
            threshold=float(active),
            detail=(
                f"sum({gt.COUNT}) over {table} = {f.total}; active rows in "
                f"{SILVER_BREWERIES} v{silver_version} = {active}"
            ),
        )
        for table, f in figures.items()
    ]


def require_reconciled(checks: list[QualityCheck]) -> None:
    failed = [c for c in checks if not c.passed]
    if failed:
        raise QualityBreach(
            "gold does not reconcile with silver, nothing written: "
            + "; ".join(c.detail for c in failed),
            # Every rule evaluated, passed or not: ops.quality_checks records them all.
            checks,
        )


def replace_tables(lake: Lake, frames: dict[TableRef, DataFrame], metadata: str) -> None:
    def replace(table: TableRef) -> None:
        delta.replace(frames[table].coalesce(1), lake.table_location(table), metadata=metadata)

    # Each table is still replaced by its own atomic commit; a failure raises after the
    # other writes finish, and the run fails as it would have written sequentially.
    concurrently(replace, list(frames))


def _register_unchanged(
    spark: SparkSession, settings: Settings, before: dict[TableRef, int | None]
) -> dict[str, tuple[int | None, int | None]]:
    for table in before:
        register_table(spark, settings, table)
    return {str(table): (version, version) for table, version in before.items()}


def _register_written(
    spark: SparkSession, settings: Settings, before: dict[TableRef, int | None]
) -> dict[str, tuple[int | None, int | None]]:
    versions = {}
    for table, version in before.items():
        register_table(spark, settings, table)
        versions[str(table)] = (version, table_version(spark, settings, table))
    return versions


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


app = command.app()


@app.command("gold", help="Recompute the gold aggregate tables from the current silver version.")
def gold_command(
    date: LogicalDate = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="recompute even when gold already reflects the current silver version"
        ),
    ] = False,
    verbose: command.Verbose = False,
) -> None:
    code = run_layer_job(
        "gold",
        run,
        logical_date=date,
        verbose=verbose,
        without_spark=plan_without_spark,
        force=force,
    )
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake gold")


if __name__ == "__main__":
    sys.exit(main())
