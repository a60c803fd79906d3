"""Silver job: apply complete bronze batches, in order, to silver.breweries.

    spark-submit silver/job.py --date 2025-01-01     # or: brewlake silver --date 2025-01-01
    brewlake silver --rebuild                        # empty the silver tables, re-apply bronze

Each batch is a full snapshot. Per batch: read its pages with Spark, check them against the
manifest, parse with the explicit schema, cleanse, canonicalise the location, validate; write the
rejected records to quarantine; stop (QualityBreach) when their share exceeds the limit; MERGE
only changed rows (new, changed, vanished, returning ids) into breweries in one commit that also
records the batch; then bring SCD2 history in line and append the audit row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import functions as F
from pyspark.sql import types as T

from brewlake import delta
from brewlake.batches import BatchError, BatchInfo, list_batches
from brewlake.catalog import (
    SILVER_APPLIED_BATCHES,
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_LOCATIONS,
    SILVER_QUARANTINE,
    register_table,
)
from brewlake.config import Settings
from brewlake.errors import ConfigError, QualityBreach
from brewlake.lake import Lake
from brewlake.log import get_logger
from brewlake.parallel import concurrently
from brewlake.runtime.job import run_layer_job
from brewlake.runtime.result import LayerResult, QualityCheck
from brewlake.storage import open_store
from silver import merge
from silver.locations import LocationAliases, canonical_locations, load_aliases, location_rows
from silver.merge import BatchMarker
from silver.transforms import (
    changed_rows,
    cleanse,
    explode_pages,
    first_load_rows,
    is_quarantined,
    is_record,
    page_summary,
    parse_pages,
    raw_location_profile,
    select_accepted,
    to_quarantine_rows,
    to_silver_rows,
    validate,
    with_canonical_location,
    with_content_hash,
    with_location_suspect,
    with_parsed_record,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

log = get_logger(__name__)

SILVER_TABLES = (
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_QUARANTINE,
    SILVER_APPLIED_BATCHES,
    SILVER_LOCATIONS,
)
# Session properties silver needs for its whole run, restored afterwards (gold shares the
# session under `brewlake run`). Constraint propagation explodes (minutes, then
# OutOfMemoryError) on the wide MERGE source plans built here; it only infers extra filters, so
# turning it off changes no result.
RUN_CONF = {"spark.sql.constraintPropagation.enabled": "false"}
# For the breweries MERGE only: few, large files, one per touched (country, state) partition.
MERGE_CONF = {"spark.databricks.delta.merge.repartitionBeforeWrite.enabled": "true"}
# Where a test (or a chaos drill) can make the job die: right after the breweries commit,
# before history and the audit row are written.
FAULT_POINTS = ("after_breweries_commit",)
_MAPPING_SCHEMA = T.StructType(
    [T.StructField(n, T.StringType()) for n in ("country_raw", "state_raw", "country", "state")]
)


class InjectedFault(RuntimeError):
    """Raised at a fault point named by --fail-at (tests of crash recovery)."""


def _fault(args: argparse.Namespace, point: str) -> None:
    if getattr(args, "fail_at", None) == point:
        raise InjectedFault(f"injected fault at {point}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _materialized(df: DataFrame) -> DataFrame:
    """Cache `df` (columnar, spilling to disk) and compute it now, once. The later passes read
    only the columns they need from it. Only for frames derived from immutable bronze pages:
    the change set, which reads breweries, is checkpointed instead, so that it cannot be
    recomputed after the MERGE has changed its input."""
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    df.count()
    return df


def page_files(spark: SparkSession, settings: Settings, batch: BatchInfo) -> DataFrame:
    """The batch's page files as (path, content).

    The batch folder is listed once (`page-*.json`) rather than every page named: thousands of
    explicit paths cost Spark a file-status call each. `verify_pages` then holds what was read
    to the manifest, page by page, in both directions."""
    if not batch.manifest.pages:
        return spark.createDataFrame([], "path string, content binary")
    folder = Lake(settings).uri_of_key(batch.key)
    spark.catalog.refreshByPath(folder)  # the session caches listings: read the pages as they are
    pages = spark.read.format("binaryFile").option("pathGlobFilter", "page-*.json").load(folder)
    return pages.select("path", "content")


def read_pages(spark: SparkSession, settings: Settings, batch: BatchInfo) -> DataFrame:
    """The batch's page files, read once: `explode_pages` rows (records and empty pages)."""
    return explode_pages(page_files(spark, settings, batch))


def read_batch(spark: SparkSession, settings: Settings, batch: BatchInfo) -> DataFrame:
    """One row per record of the batch: page, position, raw_record (page bytes read by Spark)."""
    return parse_pages(page_files(spark, settings, batch))


def verify_pages(batch: BatchInfo, summary: list[Row]) -> None:
    """Every page's sha256 and record count (`page_summary`, computed by Spark) equal the
    manifest's, and no page is there that the manifest does not list; a BatchError naming the
    page and the fix otherwise."""
    seen = {r["page"]: (r["sha256"], r["records"]) for r in summary}
    for entry in batch.manifest.pages:
        sha, records = seen.pop(entry.file, (None, None))
        if sha != entry.sha256 or records != entry.records:
            raise BatchError(
                f"batch {batch.batch_id} page {entry.file}: found sha256={sha} records={records}, "
                f"manifest says sha256={entry.sha256} records={entry.records}; the page was "
                "changed or is not a JSON array — re-ingest with `brewlake bronze`"
            )
    if seen:
        raise BatchError(
            f"batch {batch.batch_id} holds pages its manifest does not list: "
            f"{', '.join(sorted(seen)[:5])}{' …' if len(seen) > 5 else ''}; they were added "
            "after ingestion — remove them or re-ingest with `brewlake bronze`"
        )


@dataclass
class Places:
    """silver.locations as this run knows it: the alias map and every raw place mapped so far.

    A batch's raw pairs are mapped with the spellings already established, so a spelling that
    wins by frequency today and loses tomorrow never moves a row between partitions."""

    aliases: LocationAliases
    location: str
    known: dict

    @classmethod
    def load(cls, spark: SparkSession, settings: Settings, location: str) -> Places:
        known = merge.read_locations(spark, location)
        places = cls(load_aliases(settings.conf_dir), location, known)
        stale = {r["alias_map_sha256"] for r in places.known.values()} - {places.fingerprint}
        if stale:
            raise ConfigError(
                "silver: the location alias map differs from the one silver.locations was built "
                f"with (sha256 {places.fingerprint[:12]}…, table {sorted(stale)[0][:12]}…); run "
                "`brewlake silver --rebuild` to re-apply every batch with it, or restore the map"
            )
        return places

    @property
    def fingerprint(self) -> str:
        return self.aliases.fingerprint()

    def mapping(self, pairs: list[tuple]) -> dict:
        established = {raw: (r["country"], r["state"]) for raw, r in self.known.items()}
        return canonical_locations(pairs, self.aliases, established)

    def as_frame(self, spark: SparkSession, mapping: dict) -> DataFrame:
        rows = [(cr, sr, c, s) for (cr, sr), (c, s) in mapping.items()]
        return spark.createDataFrame(rows, _MAPPING_SCHEMA)

    def record(self, spark: SparkSession, mapping: dict, pairs: list[tuple], batch: BatchInfo):
        """Write the batch's new raw pairs and changed counts to silver.locations."""
        rows = location_rows(
            mapping,
            pairs,
            self.known,
            batch_id=batch.batch_id,
            ingest_date=batch.ingest_date,
            alias_map_sha256=self.fingerprint,
        )
        merge.upsert_locations(spark, self.location, rows)
        self.known.update({(r["country_raw"], r["state_raw"]): r for r in rows})


def apply_batch(
    spark: SparkSession,
    settings: Settings,
    batch: BatchInfo,
    *,
    locations: dict,
    places: Places,
    previous_snapshot_date: dt.date | None,
    logical_date: dt.date,
    args: argparse.Namespace,
    result: LayerResult,
) -> None:
    started = _now()
    # One pass over the page bytes: hash, split, parse and cleanse, kept for the steps below.
    parsed = (
        read_pages(spark, settings, batch)
        .transform(with_parsed_record)
        .transform(cleanse)
        .transform(_materialized)
    )
    verify_pages(batch, parsed.transform(page_summary).collect())
    records = parsed.where(is_record())
    profile = records.transform(raw_location_profile).collect()
    drift = sorted({field for row in profile for field in row["unknown_fields"]})
    if drift:
        log.warning("silver.schema_drift", batch_id=batch.batch_id, unknown_fields=",".join(drift))
        result.details.setdefault("unknown_fields", drift)
    pairs = [(r["country_raw"], r["state_raw"], r["count"]) for r in profile]
    mapping = places.mapping(pairs)

    validated = (
        records.drop("_page_sha256")
        .transform(with_canonical_location, places.as_frame(spark, mapping))
        .transform(with_location_suspect, places.aliases.bounds)
        .transform(with_content_hash)
        .transform(validate)
        .localCheckpoint()  # row format: a columnar cache of this wide frame needs far more heap
    )
    parsed.unpersist()
    totals = validated.agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.count_if(is_quarantined()).alias("quarantined"),
        F.count_if(F.col("_is_duplicate_copy")).alias("duplicates"),
    ).first()
    rows_in, quarantined, duplicates = (
        totals["rows_in"],
        totals["quarantined"],
        totals["duplicates"],
    )
    share = quarantined / rows_in if rows_in else 0.0
    limit = settings.quarantine_max_share
    check = QualityCheck(
        rule="quarantine_share",
        passed=share <= limit,
        observed=round(share, 6),
        threshold=limit,
        detail=f"batch {batch.batch_id}: {quarantined} of {rows_in} records quarantined",
    )
    result.checks.append(check)
    result.rows_in += rows_in
    result.quarantined += quarantined
    result.duplicates += duplicates

    if quarantined:
        quarantine = to_quarantine_rows(
            validated,
            batch.batch_id,
            ingest_date=batch.ingest_date,
            logical_date=logical_date,
            quarantined_at=started,
        )
        merge.replace_quarantine(quarantine, locations[SILVER_QUARANTINE], batch.batch_id)
    if not check.passed:
        raise QualityBreach(
            f"silver: batch {batch.batch_id} has {quarantined} of {rows_in} records quarantined "
            f"({share:.1%}), above the limit {limit:.1%} (BREWLAKE_QUARANTINE_MAX_SHARE); nothing "
            f"from it was merged. Reasons: SELECT failed_rules, count(*) FROM "
            f"silver.breweries_quarantine WHERE batch_id = '{batch.batch_id}' GROUP BY 1",
            result.checks,
        )

    breweries_location = locations[SILVER_BREWERIES]
    current = delta.read(spark, breweries_location)
    if rows_in == 0 and current.where(F.col("is_active")).limit(1).count():
        check = QualityCheck(
            "snapshot_not_empty", False, 0, 1, f"batch {batch.batch_id} holds no records"
        )
        result.checks.append(check)
        raise QualityBreach(
            f"silver: batch {batch.batch_id} holds no records; a full snapshot cannot be empty "
            "(it would deactivate every brewery). Nothing was merged; re-ingest with "
            "`brewlake bronze`.",
            result.checks,
        )

    places.record(spark, mapping, pairs, batch)  # before the data: a rerun maps the same way
    incoming = to_silver_rows(
        select_accepted(validated), batch.batch_id, batch.ingest_date, started
    )
    present_ids = validated.where(F.col("id").isNotNull()).select("id")
    if delta.file_count(spark, breweries_location) == 0:
        changes = first_load_rows(incoming)  # nothing to compare with, nothing to deactivate
    else:
        changes = changed_rows(
            incoming,
            current,
            present_ids,
            batch_id=batch.batch_id,
            snapshot_date=batch.ingest_date,
            previous_snapshot_date=previous_snapshot_date,
            updated_at=started,
        )
    changes = changes.localCheckpoint()  # fixed before the MERGE changes `current`
    validated.unpersist()
    actions = {r["_action"]: r["count"] for r in changes.groupBy("_action").count().collect()}
    marker = BatchMarker(
        batch_id=batch.batch_id,
        ingest_date=batch.ingest_date.isoformat(),
        rows_in=rows_in,
        accepted=rows_in - quarantined - duplicates,
        quarantined=quarantined,
        duplicates=duplicates,
        inserted=actions.get("insert", 0),
        updated=actions.get("update", 0) + actions.get("reactivate", 0),
        deactivated=actions.get("deactivate", 0),
    )
    insert_only = set(actions) == {"insert"}
    if actions:
        with delta.session_conf(spark, MERGE_CONF), merge.commit_metadata(spark, marker):
            merge.apply_changes(spark, breweries_location, changes, insert_only=insert_only)
        _fault(args, "after_breweries_commit")
        # History follows from the change set; a crash before this commit is repaired by
        # `recover` on the next run, which compares breweries with history.
        merge.record_history(
            spark, locations[SILVER_HISTORY], changes, started, insert_only=insert_only
        )
    merge.append_applied(
        spark,
        locations[SILVER_APPLIED_BATCHES],
        marker,
        breweries_version=delta.version(spark, breweries_location),
        logical_date=logical_date,
        applied_at=started,
    )
    result.rows_out += marker.inserted + marker.updated + marker.deactivated
    result.batch_ids.append(batch.batch_id)
    result.details.setdefault("batches", []).append({**asdict(marker), "actions": actions})
    log.info("silver.batch_applied", **{k: v for k, v in asdict(marker).items() if k != "reset"})
    changes.unpersist()


def recover(spark: SparkSession, locations: dict, logical_date: dt.date) -> tuple:
    """Finish what a crashed run left undone; return the high-water mark (date, batch) or None.

    The newest batch marker in the breweries commits is the truth. If its audit row is missing,
    the run that committed it stopped before its bookkeeping: resynchronise history from
    breweries and write the audit row from the marker.
    """
    breweries, applied = locations[SILVER_BREWERIES], locations[SILVER_APPLIED_BATCHES]
    marker, version = merge.last_marker(spark, breweries)
    if marker is None:
        return None  # nothing was ever applied (or only a rebuild reset)
    since = version if marker.reset else None
    audited = merge.applied_positions(spark, applied, since)
    marked = marker.position
    if marked is not None and marked not in audited:
        log.warning(
            "silver.recovered",
            batch_id=marker.batch_id,
            detail="batch committed to breweries by a run that stopped before its bookkeeping",
        )
        # History follows breweries; after a normal run it is already in line.
        merge.sync_history(spark, breweries, locations[SILVER_HISTORY], _now())
        merge.append_applied(
            spark,
            applied,
            marker,
            breweries_version=version,
            logical_date=logical_date,
            applied_at=_now(),
        )
        audited.add(marked)
    positions = audited | ({marked} if marked else set())
    return max(positions) if positions else None


def run(
    spark: SparkSession, settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> LayerResult:
    with delta.session_conf(spark, RUN_CONF):
        return _run(spark, settings, logical_date, args)


def _run(
    spark: SparkSession, settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> LayerResult:
    lake = Lake(settings)
    locations = {t: lake.table_location(t) for t in SILVER_TABLES}
    result = LayerResult(layer="silver")
    before = {t: delta.version(spark, loc) for t, loc in locations.items()}
    created = concurrently(lambda t: merge.ensure_table(spark, t, locations[t]), list(locations))
    for table, is_new in zip(locations, created, strict=True):
        if is_new:
            register_table(spark, settings, table)

    if getattr(args, "rebuild", False):
        log.info("silver.rebuild", detail="emptying silver tables; every bronze batch re-applies")
        merge.reset_tables(spark, locations)
        high_water = None
    else:
        high_water = recover(spark, locations, logical_date)

    batches = list_batches(open_store(settings), lake)
    pending = [b for b in batches if high_water is None or (b.ingest_date, b.batch_id) > high_water]
    skipped = len(batches) - len(pending)
    log.info("silver.plan", batches=len(batches), pending=len(pending), already_applied=skipped)
    places = Places.load(spark, settings, locations[SILVER_LOCATIONS])
    previous = high_water[0] if high_water else None
    try:
        for batch in pending:
            apply_batch(
                spark,
                settings,
                batch,
                locations=locations,
                places=places,
                previous_snapshot_date=previous,
                logical_date=logical_date,
                args=args,
                result=result,
            )
            previous = batch.ingest_date
    finally:
        result.table_versions = {
            str(t): (before[t], delta.version(spark, loc)) for t, loc in locations.items()
        }
    result.details["already_applied"] = skipped
    if not pending:
        result.checks.append(
            QualityCheck("quarantine_share", True, 0.0, settings.quarantine_max_share, "no batch")
        )
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="empty the silver tables and re-apply every complete bronze batch in order",
    )
    parser.add_argument("--fail-at", choices=FAULT_POINTS, help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    return run_layer_job(
        "silver",
        argv,
        run,
        description="apply complete bronze batches to silver.breweries",
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    sys.exit(main())
