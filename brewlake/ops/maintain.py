"""`brewlake maintain`: OPTIMIZE, purge deletion vectors, then VACUUM the lake's Delta tables.

Per table: OPTIMIZE (bin-packing compaction); on tables with the `deletionVectors` feature
(silver.breweries and its history), `REORG TABLE … APPLY (PURGE)`, which rewrites every live file
that still carries a deletion vector — OPTIMIZE only purges the files it happens to compact — so
rows marked deleted leave the live files; then VACUUM, which deletes the replaced files once they
are older than the retention.

Safe defaults: VACUUM keeps 168 hours (7 days) of unreferenced files, Delta's own minimum, so
readers of recent versions and time travel within a week keep working; Delta's retention check
stays on, so a shorter `--retain-hours` is refused by Delta with its own explanation.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from brewlake import command, delta
from brewlake.catalog import TABLES, quote_identifier
from brewlake.config import Settings, load_settings
from brewlake.errors import guarded
from brewlake.lake import Lake, TableRef
from brewlake.log import configure, get_logger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = get_logger(__name__)

DEFAULT_RETAIN_HOURS = 168
# `--table` takes the name of a table the catalog declares.
TableName = enum.StrEnum("TableName", {str(t): str(t) for t in TABLES})


@dataclass(frozen=True)
class MaintenanceResult:
    table: str
    files_before: int
    files_after: int
    files_compacted: int
    files_vacuumed: int
    deletion_vectors_purged: int = 0


def _deletion_vectors_removed(metrics: Any) -> int:
    """`numDeletionVectorsRemoved` of an OPTIMIZE/REORG result's metrics (0 when none)."""
    stats = metrics["deletionVectorStats"] if metrics else None
    return int(stats["numDeletionVectorsRemoved"]) if stats else 0


def purge_deletion_vectors(spark: SparkSession, location: str) -> int:
    """`REORG TABLE … APPLY (PURGE)`: rewrite every live file that has a deletion vector, so the
    rows it marks are gone from the live files; returns the deletion vectors removed. Rewrites
    nothing, and commits nothing, when no live file has one."""
    row = spark.sql(f"REORG TABLE delta.{quote_identifier(location)} APPLY (PURGE)").first()
    return _deletion_vectors_removed(row["metrics"] if row else None)


# VACUUM lists a table's files in as many tasks as Spark's partition discovery may use
# (`spark.sql.sources.parallelPartitionDiscovery.parallelism`, 10,000 by default), in a
# repartition adaptive execution does not coalesce: a VACUUM of a small table on 2 cores ran
# 10,000 tasks, minutes each (dry run and real). A few tasks per core list a lake's folders.
VACUUM_TASKS_PER_CORE = 4


def vacuum_listing_conf(spark: SparkSession) -> dict[str, str]:
    """The session setting VACUUM's file listing runs with: a few tasks per core."""
    tasks = max(8, VACUUM_TASKS_PER_CORE * spark.sparkContext.defaultParallelism)
    return {"spark.sql.sources.parallelPartitionDiscovery.parallelism": str(tasks)}


def maintain_table(
    spark: SparkSession,
    location: str,
    name: str,
    *,
    retain_hours: float = DEFAULT_RETAIN_HOURS,
    vacuum: bool = True,
) -> MaintenanceResult:
    """OPTIMIZE, purge deletion vectors (tables that have the feature), then VACUUM one Delta
    table at `location`."""
    table = delta.table(spark, location)
    detail = delta.detail(spark, location)
    before = int(detail["numFiles"])
    metrics = table.optimize().executeCompaction().first()["metrics"]
    compacted = int(metrics["numFilesRemoved"]) if metrics else 0
    purged = _deletion_vectors_removed(metrics)
    if "deletionVectors" in (detail["tableFeatures"] or []):
        # Before VACUUM: the files REORG replaces then age out with every other unreferenced file.
        purged += purge_deletion_vectors(spark, location)
    vacuumed = 0
    if vacuum:
        hours = float(retain_hours)
        dry_run = f"VACUUM delta.{quote_identifier(location)} RETAIN {hours} HOURS DRY RUN"
        with delta.session_conf(spark, vacuum_listing_conf(spark)):
            vacuumed = spark.sql(dry_run).count()
            table.vacuum(hours)
    after = delta.file_count(spark, location)
    result = MaintenanceResult(name, before, after, compacted, vacuumed, purged)
    log.info("maintain.table", **result.__dict__)
    return result


def maintain(
    spark: SparkSession,
    settings: Settings,
    *,
    tables: tuple[TableRef, ...] = TABLES,
    retain_hours: float = DEFAULT_RETAIN_HOURS,
    vacuum: bool = True,
) -> list[MaintenanceResult]:
    """Maintain each of `tables` that exists in the lake; missing ones are skipped."""
    lake = Lake(settings)
    results = []
    for table in tables:
        location = lake.table_location(table)
        if not delta.is_delta(spark, location):
            log.info("maintain.skipped", table=str(table), reason="does not exist")
            continue
        results.append(
            maintain_table(spark, location, str(table), retain_hours=retain_hours, vacuum=vacuum)
        )
    return results


app = command.app()


@app.command("maintain", help=__doc__.splitlines()[0])
def maintain_command(
    table: Annotated[
        list[TableName] | None,
        typer.Option(
            metavar="TABLE",
            help="only this table (repeatable; default: every existing brewlake table)",
        ),
    ] = None,
    retain_hours: Annotated[
        float,
        typer.Option(
            help=f"VACUUM retention in hours (default {DEFAULT_RETAIN_HOURS}, "
            "Delta's safe minimum)",
            show_default=False,
        ),
    ] = DEFAULT_RETAIN_HOURS,
    no_vacuum: Annotated[
        bool, typer.Option("--no-vacuum", help="OPTIMIZE and purge only; delete no file")
    ] = False,
    verbose: command.Verbose = False,
) -> None:
    def go() -> int:
        settings = load_settings()
        configure("DEBUG" if verbose else settings.log_level, settings.log_format)
        from brewlake.spark import build_session

        # Tables are addressed by path: registering every name would only delay the work.
        spark = build_session(settings, "brewlake-maintain", register_tables=False)
        chosen = tuple(t for t in TABLES if not table or str(t) in table)
        for r in maintain(
            spark, settings, tables=chosen, retain_hours=retain_hours, vacuum=not no_vacuum
        ):
            print(
                f"{r.table}: files {r.files_before} -> {r.files_after} "
                f"(compacted {r.files_compacted}, deletion vectors purged "
                f"{r.deletion_vectors_purged}, vacuumed {r.files_vacuumed})"
            )
        return 0

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake maintain")


if __name__ == "__main__":
    sys.exit(main())
