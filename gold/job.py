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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from brewlake import delta
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
from brewlake.runtime.job import run_layer_job
from brewlake.runtime.result import LayerResult, QualityCheck
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="recompute even when gold already reflects the current silver version",
    )


def _lineage(silver_version: int, silver_committed_at: str) -> dict[str, Any]:
    # The commit time guards against a silver table deleted and rebuilt from version 0.
    return {
        "silver_version": silver_version,
        "silver_committed_at": silver_committed_at,
        "gold_logic_version": GOLD_LOGIC_VERSION,
    }


def _is_current(spark: SparkSession, settings: Settings, lineage: dict[str, Any]) -> bool:
    lake = Lake(settings)
    for gold in GOLD_TABLES:
        meta = delta.last_metadata(spark, lake.table_location(gold.table))
        if any(meta.get(key) != value for key, value in lineage.items()):
            return False
    return True


def silver_commit(spark: SparkSession, settings: Settings) -> tuple[int, str]:
    """silver.breweries' current version and that commit's timestamp (UTC, ISO)."""
    location = Lake(settings).table_location(SILVER_BREWERIES)
    commit = delta.last_commit(spark, location)
    if commit is None:
        raise SilverMissing(
            f"{SILVER_BREWERIES} does not exist at {location}: run `brewlake silver` first"
        )
    return int(commit["version"]), commit["timestamp"].isoformat()


def read_silver(spark: SparkSession, settings: Settings) -> tuple[DataFrame, int]:
    """silver.breweries pinned at its current version, and that version."""
    version, _ = silver_commit(spark, settings)
    location = Lake(settings).table_location(SILVER_BREWERIES)
    frame = delta.read(spark, location, version=version)
    return frame, version


def run(
    spark: SparkSession, settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> LayerResult:
    silver_version, silver_committed_at = silver_commit(spark, settings)
    location = Lake(settings).table_location(SILVER_BREWERIES)
    silver = delta.read(spark, location, version=silver_version)
    lineage = _lineage(silver_version, silver_committed_at)
    result = LayerResult(layer="gold")
    result.details.update(lineage, logical_date=logical_date.isoformat())
    versions_before = {g.table: table_version(spark, settings, g.table) for g in GOLD_TABLES}

    if not getattr(args, "force", False) and _is_current(spark, settings, lineage):
        log.info("gold.unchanged", silver_version=silver_version)
        result.details["skipped"] = True
        for gold in GOLD_TABLES:
            version = versions_before[gold.table]
            result.table_versions[str(gold.table)] = (version, version)
            register_table(spark, settings, gold.table)
        return result

    # One pass over silver for both figures the result reports.
    by_activity = dict(silver.groupBy("is_active").count().collect())
    result.rows_in = sum(by_activity.values())
    active = by_activity.get(True, 0)
    result.details["active_rows"] = active

    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    write_gold(spark, settings, silver, silver_version, computed_at, result, versions_before)
    result.rows_out = result.details[f"{GOLD_BREWERY_COUNTS}.rows"]
    log.info(
        "gold.written",
        silver_version=silver_version,
        active_rows=active,
        brewery_counts_rows=result.rows_out,
    )
    return result


def write_gold(
    spark: SparkSession,
    settings: Settings,
    silver: DataFrame,
    silver_version: int,
    computed_at: dt.datetime,
    result: LayerResult,
    versions_before: dict[TableRef, int | None],
    tables: tuple[GoldTable, ...] = GOLD_TABLES,
) -> None:
    """Build every table, check each against silver's active count, then write each in one commit.

    Nothing is written unless every table reconciles.
    """
    from pyspark.sql import functions as F

    lake = Lake(settings)
    active = result.details["active_rows"]
    logical_date = result.details["logical_date"]
    # Only the columns the aggregates read: a narrow cache of a wide table costs little to build.
    active_breweries = gt.filter_active(silver).select(*gt.INPUT_COLUMNS).cache()
    frames: dict[TableRef, DataFrame] = {}
    try:
        for gold in tables:
            frames[gold.table] = (
                active_breweries.transform(gold.build)
                .transform(lambda df: gt.with_lineage(df, silver_version, computed_at))
                .select(*gold.columns)
                .cache()
            )

        def reconcile(frame: DataFrame) -> tuple[int, int]:
            total, rows = frame.agg(F.sum(gt.COUNT), F.count(F.lit(1))).first()
            return int(total or 0), int(rows)

        # The tables are small and independent: their Spark jobs run side by side.
        figures = dict(zip(frames, concurrently(reconcile, list(frames.values())), strict=True))
        for gold in tables:
            total, rows = figures[gold.table]
            result.checks.append(
                QualityCheck(
                    rule=f"{gold.table}.reconciles_with_silver",
                    passed=total == active,
                    observed=float(total),
                    threshold=float(active),
                    detail=(
                        f"sum({gt.COUNT}) over {gold.table} = {total}; active rows in "
                        f"{SILVER_BREWERIES} v{silver_version} = {active}"
                    ),
                )
            )
            result.details[f"{gold.table}.rows"] = rows
        if result.failed_checks:
            raise QualityBreach(
                "gold does not reconcile with silver, nothing written: "
                + "; ".join(c.detail for c in result.failed_checks),
                # Every rule evaluated, passed or not: ops.quality_checks records them all.
                result.checks,
            )

        metadata = json.dumps(
            {
                **_lineage(silver_version, result.details.get("silver_committed_at", "")),
                "logical_date": logical_date,
            }
        )

        def write(gold: GoldTable) -> None:
            delta.replace(
                frames[gold.table].coalesce(1), lake.table_location(gold.table), metadata=metadata
            )

        # Each table is still replaced by its own atomic commit; a failure raises after the
        # other writes finish, and the run fails as it would have written sequentially.
        concurrently(write, list(tables))
        for gold in tables:
            register_table(spark, settings, gold.table)
            after = table_version(spark, settings, gold.table)
            result.table_versions[str(gold.table)] = (versions_before.get(gold.table), after)
    finally:
        for frame in frames.values():
            frame.unpersist()
        active_breweries.unpersist()


def main(argv: list[str] | None = None) -> int:
    return run_layer_job(
        "gold",
        argv,
        run,
        description="Recompute the gold aggregate tables from the current silver version.",
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    sys.exit(main())
