"""Silver job: apply complete bronze batches, in order, to silver.breweries.

    spark-submit silver/job.py --date 2025-01-01     # or: brewlake silver --date 2025-01-01
    brewlake silver --rebuild                        # empty the silver tables, re-apply bronze

Each batch is a full snapshot. Per batch: read its pages with Spark, check them against the
manifest, fingerprint every record and set aside those silver already holds from the same bytes
(not parsed again); parse the others with the explicit schema, cleanse, canonicalise the
location, validate; write the rejected records to quarantine; stop (QualityBreach) when their
share exceeds the limit; MERGE only changed rows (new, changed, vanished, returning ids) into
breweries in one commit that also records the batch; then bring SCD2 history in line and
append the audit row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from pyspark import StorageLevel
from pyspark.sql import functions as F
from pyspark.sql import types as T

from brewlake import command, delta
from brewlake.batches import BatchError, BatchInfo, list_batches
from brewlake.catalog import (
    SILVER_APPLIED_BATCHES,
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_LOCATIONS,
    SILVER_QUARANTINE,
    register_table,
    table_version,
)
from brewlake.config import Settings
from brewlake.errors import ConfigError, QualityBreach
from brewlake.frames import Hold, checkpointed, holding, local_frame, materialized, release
from brewlake.lake import Lake, TableRef
from brewlake.log import get_logger
from brewlake.parallel import concurrently
from brewlake.runtime.job import LogicalDate, RunFn, run_layer_job
from brewlake.runtime.result import LayerResult, QualityCheck
from brewlake.storage import open_store
from silver import merge
from silver import state as applied_state
from silver.locations import LocationAliases, canonical_locations, load_aliases, location_rows
from silver.merge import BatchMarker
from silver.transforms import (
    changed_rows,
    cleanse,
    compared_with_silver,
    comparison_counts,
    conform,
    explode_pages,
    first_load_rows,
    is_quarantined,
    is_record,
    page_summary,
    raw_location_profile,
    records_to_parse,
    select_accepted,
    to_quarantine_rows,
    to_silver_rows,
    touched_ids,
    with_fingerprint,
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
# turning it off changes no result. A batch's cached records are stored without column
# encodings: choosing one gathers statistics on every value (a dictionary of each string
# column per batch of rows), and the records are text that never repeats (the 1 M first load
# ~3 s faster). Gold keeps them: its cache is a few repetitive columns.
RUN_CONF = {
    "spark.sql.constraintPropagation.enabled": "false",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}
# For the breweries MERGE only: few, large files, one per touched (country, state) partition.
MERGE_CONF = {"spark.databricks.delta.merge.repartitionBeforeWrite.enabled": "true"}
# Up to this many records left to parse, their (page, position) are broadcast to pick them out
# of the batch; above it (a first run over rows without fingerprints) Spark chooses the join.
BROADCAST_PARSE_ROWS = 200_000
# A batch whose pages hold more bytes than this keeps its intermediate frames on local disk only
# (DISK_ONLY): a 4.4 GB batch (10 M records) cached in the memory store of the default 2 GB
# driver ran it out of heap. Smaller batches keep them in memory, spilling to disk as needed.
MEMORY_CACHE_MAX_BYTES = 1 << 30
# Raw page bytes per partition of a batch's records. Bronze pages are many small files (one per
# API page): Spark's file splitting gives 1 M records ~470 partitions, and every later pass over
# the cached batch, or over the few records parsed from it on a normal day, then schedules that
# many tiny tasks. 32 MB ran a 1 M-record first load out of a 2 GB driver's heap, and 8 MB came
# close (a shuffle's page allocation failed once, then succeeded on retry).
PARTITION_BYTES = 4 << 20
_MAPPING_SCHEMA = T.StructType(
    [T.StructField(n, T.StringType()) for n in ("country_raw", "state_raw", "country", "state")]
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def storage_level(batch: BatchInfo) -> StorageLevel:
    """Where a batch's cached and checkpointed frames live: memory (spilling to disk), or local
    disk only for a batch above `MEMORY_CACHE_MAX_BYTES`."""
    large = batch.manifest.total_bytes > MEMORY_CACHE_MAX_BYTES
    return StorageLevel.DISK_ONLY if large else StorageLevel.MEMORY_AND_DISK


def partition_count(spark: SparkSession, nbytes: int) -> int:
    """Partitions for `nbytes` of raw records: one per `PARTITION_BYTES`, at least one per core
    (the default parallelism)."""
    return max(spark.sparkContext.defaultParallelism, math.ceil(nbytes / PARTITION_BYTES))


def page_files(spark: SparkSession, settings: Settings, batch: BatchInfo) -> DataFrame:
    """The batch's page files as (path, content).

    The batch folder is listed once (`page-*.json`) rather than every page named: thousands of
    explicit paths cost Spark a file-status call each. `verify_pages` then holds what was read
    to the manifest, page by page, in both directions."""
    if not batch.manifest.pages:
        return local_frame(spark, [], "path string, content binary")
    folder = Lake(settings).uri_of_key(batch.key)
    spark.catalog.refreshByPath(folder)  # the session caches listings: read the pages as they are
    pages = spark.read.format("binaryFile").option("pathGlobFilter", "page-*.json").load(folder)
    return pages.select("path", "content")


def read_pages(spark: SparkSession, settings: Settings, batch: BatchInfo) -> DataFrame:
    """The batch's page files, read once: `explode_pages` rows (records and empty pages), each
    record with its `_key` and `_fingerprint` (salted with silver's logic version, so that a
    change of logic parses every record again)."""
    salt = f"brewlake.silver/{applied_state.LOGIC_VERSION}"
    return explode_pages(page_files(spark, settings, batch)).transform(with_fingerprint, salt)


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
    def load(
        cls, spark: SparkSession, settings: Settings, location: str, *, empty: bool = False
    ) -> Places:
        """The places silver.locations holds; `empty`: the table was created by this run, so
        there is nothing to read (the first read of a Delta table costs a cold JVM seconds)."""
        known = {} if empty else merge.read_locations(spark, location)
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

    def mapping(self, pairs: Sequence[tuple]) -> dict:
        established = {raw: (r["country"], r["state"]) for raw, r in self.known.items()}
        return canonical_locations(pairs, self.aliases, established)

    def as_frame(self, spark: SparkSession, mapping: dict) -> DataFrame:
        rows = [(cr, sr, c, s) for (cr, sr), (c, s) in mapping.items()]
        return local_frame(spark, rows, _MAPPING_SCHEMA)

    def record(self, spark: SparkSession, mapping: dict, pairs: Sequence[tuple], batch: BatchInfo):
        """Write the batch's new raw pairs and changed counts to silver.locations."""
        rows = location_rows(
            mapping,
            pairs,
            self.known,
            batch_id=batch.batch_id,
            ingest_date=batch.ingest_date,
            alias_map_sha256=self.fingerprint,
        )
        # `known` is the table (the writer lock keeps it so): rows none of it names are inserts.
        all_new = not any((r["country_raw"], r["state_raw"]) in self.known for r in rows)
        merge.upsert_locations(spark, self.location, rows, all_new=all_new)
        self.known.update({(r["country_raw"], r["state_raw"]): r for r in rows})


@dataclass(frozen=True)
class SilverRun:
    """What every batch of one run shares: session, settings, table locations, logical date and
    the places known so far."""

    spark: SparkSession
    settings: Settings
    locations: dict[TableRef, str]
    logical_date: dt.date
    places: Places


@dataclass(frozen=True)
class PendingBatch:
    """A bronze batch about to be applied, the snapshot date before it, and when its application
    started (the one timestamp its quarantine, breweries, history and audit rows carry)."""

    batch: BatchInfo
    previous_snapshot_date: dt.date | None
    started: dt.datetime
    # breweries was created by this run and nothing is applied yet: a first load, known without
    # asking Delta for its file count.
    into_new_table: bool = False


@dataclass(frozen=True)
class BatchProfile:
    """A batch's raw records before validation: the fields the schema does not know, and each raw
    (country, state) pair with its record count."""

    unknown_fields: tuple[str, ...]
    pairs: tuple[tuple[str | None, str | None, int], ...]


@dataclass(frozen=True)
class BatchCounts:
    """A validated batch, measured once. `rows_in` counts every record, the `skipped` ones
    (unchanged, not parsed; accepted as they were) included."""

    rows_in: int
    quarantined: int
    duplicates: int
    skipped: int = 0

    @property
    def share(self) -> float:
        return self.quarantined / self.rows_in if self.rows_in else 0.0

    @property
    def accepted(self) -> int:
        return self.rows_in - self.quarantined - self.duplicates


@dataclass(frozen=True)
class Comparison:
    """How a batch compares with silver (`compared_with_silver`), counted in one pass: records
    left unparsed, records to parse, silver rows that may change, and the unparsed records' raw
    (country, state) pairs with their record counts."""

    unchanged: int = 0
    parsed: int = 0
    touched: int = 0
    unchanged_places: tuple[tuple[str | None, str | None, int], ...] = ()

    @classmethod
    def of(cls, compared: DataFrame) -> Comparison:
        places = compared.transform(comparison_counts).collect()
        return cls(
            unchanged=sum(p["count"] for p in places),
            parsed=sum(p["parsed"] for p in places),
            touched=sum(p["touched"] for p in places),
            unchanged_places=tuple(
                (p["country_raw"], p["state_raw"], p["count"]) for p in places if p["count"]
            ),
        )


@dataclass(frozen=True)
class BatchOutcome:
    """One applied batch, as the run's result records it."""

    marker: BatchMarker
    actions: dict[str, int]
    checks: tuple[QualityCheck, ...]
    unknown_fields: tuple[str, ...]


def apply_batch(
    run: SilverRun, pending: PendingBatch, earlier_checks: Sequence[QualityCheck]
) -> BatchOutcome:
    """Apply one batch; a QualityBreach carries `earlier_checks` (the run's) and this batch's.
    Each cached or checkpointed frame is released once it is done with, or on the way out."""
    with holding() as hold:
        return _apply_batch(run, pending, earlier_checks, hold)


def _apply_batch(
    run: SilverRun,
    pending: PendingBatch,
    earlier_checks: Sequence[QualityCheck],
    hold: Hold,
) -> BatchOutcome:
    batch, level = pending.batch, storage_level(pending.batch)
    current = delta.read(run.spark, run.locations[SILVER_BREWERIES])
    first_load = (
        pending.into_new_table or delta.file_count(run.spark, run.locations[SILVER_BREWERIES]) == 0
    )
    if first_load:  # nothing to compare with: every record is parsed, in the reading pass
        compared, tally = None, Comparison()
        read = read_verified(run.spark, run.settings, batch, level, hold, parse=True)
    else:
        pages = read_verified(run.spark, run.settings, batch, level, hold)
        records = pages.where(is_record())
        compared = hold(compared_with_silver(records, current).transform(checkpointed, level))
        tally = Comparison.of(compared)
        to_parse = batch.manifest.total_records - tally.unchanged
        read = hold(parse_changed(records, compared, batch, to_parse, level))
        release(pages)
    parsed = read.where(is_record())
    profile = profile_records(parsed, tally.unchanged_places, batch.batch_id)
    mapping = run.places.mapping(profile.pairs)
    validated = hold(validated_records(run.spark, parsed, run.places, mapping, level))
    release(read)
    counts = count_validated(validated, tally.unchanged)
    if counts.quarantined:
        write_quarantine(run, pending, validated)  # written even when the batch is refused
    check = quarantine_gate(
        batch.batch_id, counts, run.settings.quarantine_max_share, earlier_checks
    )
    empty_snapshot_gate(batch.batch_id, counts, current, [*earlier_checks, check])
    # silver.locations before the data: a rerun of this batch maps the same way.
    run.places.record(run.spark, mapping, profile.pairs, batch)
    if first_load:
        # Every accepted record is an insert: the change set is a projection of `validated`,
        # read by the two appends, and its rows are counted already.
        changes = first_load_rows(incoming_rows(pending, validated))
        actions = {"insert": counts.accepted} if counts.accepted else {}
    else:
        changes = hold(change_set(run, pending, validated, compared, tally, current, level))
        release(validated, compared)
        actions = action_counts(changes)
    marker = batch_marker(batch, counts, actions)
    write_batch(run, pending, changes, marker, actions)
    release(changes)
    record_state(run, batch, counts.share)
    return BatchOutcome(marker, actions, (check,), profile.unknown_fields)


def read_verified(
    spark: SparkSession,
    settings: Settings,
    batch: BatchInfo,
    level: StorageLevel,
    hold: Hold,
    *,
    parse: bool = False,
) -> DataFrame:
    """The batch's pages in one pass: hashed, split and fingerprinted, computed once (cached at
    `level`, held by `hold`) and held to the manifest before anything is written; an empty page
    keeps a placeholder row (`is_record` false). With `parse` (a first load, which has nothing
    to compare with) the same pass parses and cleanses every record, rather than caching the raw
    records first for a comparison it does not make; otherwise nothing is parsed yet."""
    partitions = partition_count(spark, batch.manifest.total_bytes)
    pages = read_pages(spark, settings, batch).coalesce(partitions)
    if parse:
        pages = pages.transform(with_parsed_record).transform(cleanse)
    pages = hold(pages.persist(level))
    # The page summary is the pass that fills the cache: no separate pass to compute it first.
    verify_pages(batch, pages.transform(page_summary).collect())
    return pages


def parse_changed(
    records: DataFrame,
    compared: DataFrame,
    batch: BatchInfo,
    to_parse: int,
    level: StorageLevel,
) -> DataFrame:
    """The records `compared` does not find unchanged, parsed and cleansed, computed once
    (cached at `level`; the caller `release`s it). `to_parse`, how many they are, decides
    whether their positions are broadcast and how many partitions they get."""
    records = records_to_parse(records, compared, broadcast=to_parse <= BROADCAST_PARSE_ROWS)
    share = to_parse / batch.manifest.total_records if batch.manifest.total_records else 0
    size = round(batch.manifest.total_bytes * share)
    records = records.coalesce(partition_count(records.sparkSession, size))
    parsed = records.transform(with_parsed_record).transform(cleanse)
    return parsed.transform(materialized, level)


def profile_records(
    records: DataFrame, unchanged_places: Sequence[tuple], batch_id: str
) -> BatchProfile:
    """Schema drift (logged) of the parsed records, and the raw location pairs of every record:
    the parsed ones from one pass over them, the unchanged ones as the comparison counted them
    (`Comparison.unchanged_places`, (country_raw, state_raw, count) as silver holds them)."""
    profile = records.transform(raw_location_profile).collect()
    drift = tuple(sorted({field for row in profile for field in row["unknown_fields"]}))
    if drift:
        log.warning("silver.schema_drift", batch_id=batch_id, unknown_fields=",".join(drift))
    counts: dict[tuple, int] = {}
    parsed = [(r["country_raw"], r["state_raw"], r["count"]) for r in profile]
    for country, state, count in [*parsed, *unchanged_places]:
        counts[(country, state)] = counts.get((country, state), 0) + count
    return BatchProfile(drift, tuple((c, s, n) for (c, s), n in counts.items()))


def validated_records(
    spark: SparkSession,
    records: DataFrame,
    places: Places,
    mapping: dict,
    level: StorageLevel,
) -> DataFrame:
    """The records with their canonical place, suspect flag, content hash and rule verdicts."""
    conformed = records.transform(conform, places.as_frame(spark, mapping), places.aliases.bounds)
    # Row format: a columnar cache of this wide frame needs far more heap.
    return conformed.transform(checkpointed, level)


def count_validated(validated: DataFrame, skipped: int = 0) -> BatchCounts:
    """The parsed records' counts, and the `skipped` (unchanged) ones as accepted records."""
    totals = validated.agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.count_if(is_quarantined()).alias("quarantined"),
        F.count_if(F.col("_is_duplicate_copy")).alias("duplicates"),
    ).first()
    return BatchCounts(
        totals["rows_in"] + skipped, totals["quarantined"], totals["duplicates"], skipped
    )


def write_quarantine(run: SilverRun, pending: PendingBatch, validated: DataFrame) -> None:
    """The batch's rejected records, replacing those of an earlier attempt at it."""
    batch = pending.batch
    rows = to_quarantine_rows(
        validated,
        batch.batch_id,
        ingest_date=batch.ingest_date,
        logical_date=run.logical_date,
        quarantined_at=pending.started,
    )
    merge.replace_quarantine(rows, run.locations[SILVER_QUARANTINE], batch.batch_id)


def quarantine_gate(
    batch_id: str, counts: BatchCounts, limit: float, earlier_checks: Sequence[QualityCheck]
) -> QualityCheck:
    """The batch's quarantine_share check; a QualityBreach when the share is above `limit`."""
    check = QualityCheck(
        rule="quarantine_share",
        passed=counts.share <= limit,
        observed=round(counts.share, 6),
        threshold=limit,
        detail=f"batch {batch_id}: {counts.quarantined} of {counts.rows_in} records quarantined",
    )
    if not check.passed:
        raise QualityBreach(
            f"silver: batch {batch_id} has {counts.quarantined} of {counts.rows_in} records "
            f"quarantined ({counts.share:.1%}), above the limit {limit:.1%} "
            "(BREWLAKE_QUARANTINE_MAX_SHARE); nothing from it was merged. Reasons: SELECT "
            "failed_rules, count(*) FROM silver.breweries_quarantine WHERE batch_id = "
            f"'{batch_id}' GROUP BY 1",
            [*earlier_checks, check],
        )
    return check


def empty_snapshot_gate(
    batch_id: str, counts: BatchCounts, current: DataFrame, earlier_checks: Sequence[QualityCheck]
) -> None:
    """A batch without records while breweries has active rows is refused (snapshot_not_empty):
    as a full snapshot it would deactivate every brewery."""
    if counts.rows_in > 0 or current.where(F.col("is_active")).limit(1).count() == 0:
        return
    check = QualityCheck("snapshot_not_empty", False, 0, 1, f"batch {batch_id} holds no records")
    raise QualityBreach(
        f"silver: batch {batch_id} holds no records; a full snapshot cannot be empty "
        "(it would deactivate every brewery). Nothing was merged; re-ingest with "
        "`brewlake bronze`.",
        [*earlier_checks, check],
    )


def incoming_rows(pending: PendingBatch, validated: DataFrame) -> DataFrame:
    """The batch's accepted records as silver.breweries rows."""
    batch = pending.batch
    accepted = select_accepted(validated)
    return to_silver_rows(accepted, batch.batch_id, batch.ingest_date, pending.started)


def change_set(
    run: SilverRun,
    pending: PendingBatch,
    validated: DataFrame,
    compared: DataFrame,
    tally: Comparison,
    current: DataFrame,
    level: StorageLevel,
) -> DataFrame:
    """The rows of breweries this batch adds or replaces (new, changed, vanished, returning, and
    refreshed fingerprints), checkpointed at `level`.

    Only silver's touched rows (no unchanged record vouches for them) and the parsed ids can
    change: `changed_rows` gets those rows of breweries alone (picked by a broadcast semi join
    on a normal day, and checkpointed: it reads them twice, and each read would scan the whole
    table again) and the parsed ids as the snapshot's ids — an active row outside them is
    vouched for by an unchanged record, so present."""
    batch = pending.batch
    incoming = incoming_rows(pending, validated)
    parsed_ids = validated.where(F.col("id").isNotNull()).select("id")  # quarantined too
    ids = touched_ids(compared).unionByName(incoming.select("id")).distinct()
    few = tally.touched + tally.parsed <= BROADCAST_PARSE_ROWS
    with holding() as hold:
        may_change = current.join(F.broadcast(ids) if few else ids, "id", "left_semi")
        changes = changed_rows(
            incoming,
            hold(may_change.transform(checkpointed, level)),
            parsed_ids,
            batch_id=batch.batch_id,
            snapshot_date=batch.ingest_date,
            previous_snapshot_date=pending.previous_snapshot_date,
            updated_at=pending.started,
        )
        return changes.transform(checkpointed, level)  # fixed before the MERGE changes `current`


def action_counts(changes: DataFrame) -> dict[str, int]:
    return {r["_action"]: r["count"] for r in changes.groupBy("_action").count().collect()}


def batch_marker(batch: BatchInfo, counts: BatchCounts, actions: dict[str, int]) -> BatchMarker:
    return BatchMarker(
        batch_id=batch.batch_id,
        ingest_date=batch.ingest_date.isoformat(),
        rows_in=counts.rows_in,
        accepted=counts.accepted,
        quarantined=counts.quarantined,
        duplicates=counts.duplicates,
        inserted=actions.get("insert", 0),
        updated=actions.get("update", 0) + actions.get("reactivate", 0),
        deactivated=actions.get("deactivate", 0),
        skipped_unchanged=counts.skipped,
        refreshed=actions.get("refresh", 0),
    )


def write_batch(
    run: SilverRun,
    pending: PendingBatch,
    changes: DataFrame,
    marker: BatchMarker,
    actions: dict[str, int],
) -> None:
    """breweries in one commit that carries `marker` (none when nothing changed), then SCD2
    history from the same change set (none when only fingerprints were refreshed), then the
    audit row."""
    spark, breweries = run.spark, run.locations[SILVER_BREWERIES]
    if actions:
        with delta.session_conf(spark, MERGE_CONF), merge.commit_metadata(spark, marker):
            merge.apply_changes(spark, breweries, changes, actions)
    versioned = set(actions) - {"refresh"}
    if versioned:
        # History follows from the change set; a crash before this commit is repaired by
        # `recover` on the next run, which compares breweries with history.
        merge.record_history(
            spark,
            run.locations[SILVER_HISTORY],
            changes,
            pending.started,
            insert_only=versioned == {"insert"},
            small=merge.is_small(actions),
        )
    merge.append_applied(
        spark,
        run.locations[SILVER_APPLIED_BATCHES],
        marker,
        breweries_version=table_version(spark, run.settings, SILVER_BREWERIES),
        logical_date=run.logical_date,
        applied_at=pending.started,
    )
    log.info("silver.batch_applied", **{k: v for k, v in asdict(marker).items() if k != "reset"})


def record_state(run: SilverRun, batch: BatchInfo, quarantine_share: float) -> None:
    """After the batch's commits and audit row: remember it (`silver.state`), so that a next
    batch with the same pages is recorded without Spark."""
    store, lake = open_store(run.settings), Lake(run.settings)
    version = applied_state.breweries_head(store, lake)
    if version is None:
        return
    state = applied_state.AppliedState.of_batch(
        batch,
        breweries_version=version,
        alias_map_sha256=run.places.fingerprint,
        quarantine_share=quarantine_share,
        applied_version=applied_state.applied_head(store, lake),
    )
    applied_state.write(store, lake, state)


def plan_without_spark(
    settings: Settings, logical_date: dt.date, args: argparse.Namespace
) -> RunFn | None:
    """A silver run that needs no Spark session, or None when Spark is needed.

    Decided from the manifests alone: when every pending batch's pages (sha256 and record count)
    equal those of the last applied batch (`silver.state`, still current), applying them would
    change nothing, so they are recorded as applied in that object and no silver table gets a
    commit. The batch that was last applied stays the one the next day's diff is taken against
    (its data is theirs). A rebuild, a stale or missing state, or any differing page: None."""
    if getattr(args, "rebuild", False):
        return None
    store, lake = open_store(settings), Lake(settings)
    state = applied_state.current(store, lake, load_aliases(settings.conf_dir).fingerprint())
    if state is None or state.quarantine_share > settings.quarantine_max_share:
        return None
    batches = list_batches(store, lake)
    pending = [b for b in batches if (b.ingest_date, b.batch_id) > state.position]
    if any(applied_state.page_prints(b.manifest) != state.pages for b in pending):
        return None
    skipped = len(batches) - len(pending)

    def run_unchanged(
        _spark: object, settings: Settings, logical_date: dt.date, args: argparse.Namespace
    ) -> LayerResult:
        return record_unchanged(settings, state, pending, skipped)

    return run_unchanged


def record_unchanged(
    settings: Settings, state: applied_state.AppliedState, pending: list[BatchInfo], skipped: int
) -> LayerResult:
    """Record `pending` (each a repeat of the batch `state` describes) as applied: the state
    object moves to each in turn; no table is touched."""
    store, lake = open_store(settings), Lake(settings)
    result = LayerResult(layer="silver")
    for batch in pending:
        state = state.repeated_by(batch)
        applied_state.write(store, lake, state)
        source = state.repeats[-1][2]
        log.info("silver.batch_unchanged", batch_id=batch.batch_id, same_as=source)
        result.batch_ids.append(batch.batch_id)
        result.rows_in += batch.manifest.total_records
        result.details.setdefault("unchanged", []).append(
            {"batch_id": batch.batch_id, "same_as": source}
        )
    result.details["already_applied"] = skipped
    result.details["spark"] = False
    detail = f"{len(pending)} batch(es) equal to the last applied one" if pending else "no batch"
    result.checks.append(
        QualityCheck(
            "quarantine_share",
            True,
            state.quarantine_share if pending else 0.0,
            settings.quarantine_max_share,
            detail,
        )
    )
    version = state.breweries_version
    result.table_versions = {str(SILVER_BREWERIES): (version, version)}
    return result


def recover(
    spark: SparkSession, settings: Settings, locations: dict, logical_date: dt.date
) -> tuple:
    """Finish what a crashed run left undone; return the high-water mark (date, batch) or None.

    The newest batch marker in the breweries commits is the truth. If its audit row is missing,
    the run that committed it stopped before its bookkeeping: resynchronise history from
    breweries and write the audit row from the marker.
    """
    breweries, applied = locations[SILVER_BREWERIES], locations[SILVER_APPLIED_BATCHES]
    breweries_key = Lake(settings).table_key(SILVER_BREWERIES)
    marker, version = merge.last_marker(open_store(settings), breweries_key)
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
    before = {t: table_version(spark, settings, t) for t in locations}
    created = _ensure_tables(spark, settings, locations)
    high_water = _high_water(
        spark, settings, locations, logical_date, rebuild=getattr(args, "rebuild", False)
    )
    pending, skipped = _pending_batches(settings, lake, high_water)
    places = Places.load(
        spark, settings, locations[SILVER_LOCATIONS], empty=SILVER_LOCATIONS in created
    )
    run = SilverRun(spark, settings, locations, logical_date, places)
    previous = high_water[0] if high_water else None
    try:
        for i, batch in enumerate(pending):
            into_new = i == 0 and SILVER_BREWERIES in created
            outcome = apply_batch(
                run, PendingBatch(batch, previous, _now(), into_new), result.checks
            )
            _fold(result, outcome)
            previous = batch.ingest_date
    finally:
        result.table_versions = {
            str(t): (before[t], table_version(spark, settings, t)) for t in locations
        }
    result.details["already_applied"] = skipped
    if not pending:
        result.checks.append(
            QualityCheck("quarantine_share", True, 0.0, settings.quarantine_max_share, "no batch")
        )
    return result


def _ensure_tables(
    spark: SparkSession, settings: Settings, locations: dict[TableRef, str]
) -> frozenset[TableRef]:
    """Create the silver tables that do not exist yet (side by side); the ones it created."""
    is_new = concurrently(lambda t: merge.ensure_table(spark, t, locations[t]), list(locations))
    created = frozenset(t for t, new in zip(locations, is_new, strict=True) if new)
    for table in created:
        register_table(spark, settings, table)
    return created


def _high_water(
    spark: SparkSession,
    settings: Settings,
    locations: dict,
    logical_date: dt.date,
    *,
    rebuild: bool,
) -> tuple | None:
    """The newest applied (ingest_date, batch_id), after recovery; None after a rebuild's reset.
    A settled `silver.state` (no audit row since it was written) gives it without reading the
    audit table: there is nothing to recover. A current state's batch (a repeat recorded
    without Spark is applied as much as one that went through the MERGE) counts as applied."""
    store, lake = open_store(settings), Lake(settings)
    if not rebuild:
        aliases = load_aliases(settings.conf_dir).fingerprint()
        state = applied_state.current(store, lake, aliases)
        if applied_state.is_settled(store, lake, state):
            return state.position
        marked = recover(spark, settings, locations, logical_date)
        recorded = None if state is None else state.position
        return max(filter(None, (marked, recorded)), default=None)
    log.info("silver.rebuild", detail="emptying silver tables; every bronze batch re-applies")
    applied_state.clear(store, lake)
    merge.reset_tables(spark, locations)
    return None


def _pending_batches(
    settings: Settings, lake: Lake, high_water: tuple | None
) -> tuple[list[BatchInfo], int]:
    """The complete bronze batches after `high_water`, oldest first, and how many were skipped."""
    batches = list_batches(open_store(settings), lake)
    pending = [b for b in batches if high_water is None or (b.ingest_date, b.batch_id) > high_water]
    skipped = len(batches) - len(pending)
    log.info("silver.plan", batches=len(batches), pending=len(pending), already_applied=skipped)
    return pending, skipped


def _fold(result: LayerResult, outcome: BatchOutcome) -> None:
    """Add one applied batch to the run's result: the one place a batch changes it."""
    marker = outcome.marker
    result.checks.extend(outcome.checks)
    result.rows_in += marker.rows_in
    result.quarantined += marker.quarantined
    result.duplicates += marker.duplicates
    result.rows_out += marker.inserted + marker.updated + marker.deactivated
    result.batch_ids.append(marker.batch_id)
    skipped = result.details.get("skipped_unchanged", 0) + marker.skipped_unchanged
    result.details["skipped_unchanged"] = skipped
    if outcome.unknown_fields:
        result.details.setdefault("unknown_fields", list(outcome.unknown_fields))
    result.details.setdefault("batches", []).append({**asdict(marker), "actions": outcome.actions})


app = command.app()


@app.command("silver", help="apply complete bronze batches to silver.breweries")
def silver_command(
    date: LogicalDate = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="empty the silver tables and re-apply every complete bronze batch in order",
        ),
    ] = False,
    verbose: command.Verbose = False,
) -> None:
    code = run_layer_job(
        "silver",
        run,
        logical_date=date,
        verbose=verbose,
        without_spark=plan_without_spark,
        rebuild=rebuild,
    )
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake silver")


if __name__ == "__main__":
    sys.exit(main())
