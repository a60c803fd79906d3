"""Silver's writes: table creation, the breweries MERGE, SCD2 history, quarantine, bookkeeping.

Which batches are applied is decided by the breweries table itself: every MERGE that applies a
batch carries the batch in its Delta commit (`userMetadata`), so the data and the record that it
was applied land in one atomic commit. `silver.applied_batches` is an audit table written after;
a batch whose commit landed but whose audit row did not (a crash in between) is recorded from the
commit on the next run, and history is re-synchronised from breweries, so nothing is applied twice
or skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from brewlake import delta
from brewlake.catalog import (
    SILVER_APPLIED_BATCHES,
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_LOCATIONS,
    SILVER_QUARANTINE,
    quote_identifier,
)
from brewlake.errors import BrewlakeError
from brewlake.frames import checkpointed, is_in, local_frame, release
from brewlake.lake import TableRef
from brewlake.log import get_logger
from brewlake.schemas import (
    SILVER_APPLIED_BATCHES_SCHEMA,
    SILVER_BREWERIES_SCHEMA,
    SILVER_HISTORY_SCHEMA,
    SILVER_LOCATIONS_SCHEMA,
    SILVER_PARTITION_COLUMNS,
    SILVER_QUARANTINE_SCHEMA,
)
from silver.transforms import history_from_changes, history_versions, staged_history

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from brewlake.storage import ObjectStore

log = get_logger(__name__)

MARKER_KEY = "brewlake.silver"

TABLE_SPECS: dict[TableRef, tuple[T.StructType, tuple[str, ...], str]] = {
    SILVER_BREWERIES: (
        SILVER_BREWERIES_SCHEMA,
        SILVER_PARTITION_COLUMNS,
        "One row per brewery id: its latest accepted state, active or soft-deleted.",
    ),
    SILVER_HISTORY: (
        SILVER_HISTORY_SCHEMA,
        (),
        "One row per brewery version (SCD2): valid_from <= day < valid_to.",
    ),
    SILVER_QUARANTINE: (
        SILVER_QUARANTINE_SCHEMA,
        (),
        "One row per rejected bronze record, with every rule it failed.",
    ),
    SILVER_APPLIED_BATCHES: (
        SILVER_APPLIED_BATCHES_SCHEMA,
        (),
        "One row per bronze batch applied to silver.breweries (audit).",
    ),
    SILVER_LOCATIONS: (
        SILVER_LOCATIONS_SCHEMA,
        (),
        "One row per raw (country_raw, state_raw) pair silver has seen: its canonical pair.",
    ),
}


# Delta keeps min/max/null-count statistics of the first 32 columns of every file it writes, and
# computing them cost more than writing the rows: 1 M history rows appended in 15–18 s with them
# and 8.4–10 s without; 8.4 k rows in a quick session (no code generation) in 2.4–4.0 s against
# 0.7–1.4 s. Statistics only serve data skipping, so the large tables keep them for the columns a
# query can skip files by (dates, times, coordinates, the id, the batch), not for the free text.
# Delta has no min/max for booleans and never needs them for partition columns.
STATS_PROPERTY = "delta.dataSkippingStatsColumns"
STATS_COLUMNS: dict[TableRef, tuple[str, ...]] = {
    SILVER_BREWERIES: (
        "id",
        "longitude",
        "latitude",
        "deactivated_on",
        "first_seen_date",
        "last_seen_date",
        "changed_on",
        "updated_at",
    ),
    SILVER_HISTORY: ("id", "deactivated_on", "valid_from", "valid_to", "recorded_at"),
    SILVER_QUARANTINE: ("batch_id", "logical_date", "quarantined_at", "ingest_date"),
}


def table_properties(table: TableRef) -> dict[str, str]:
    """The Delta properties silver sets on `table`: its statistics columns (`STATS_COLUMNS`),
    and deletion vectors on the tables a daily MERGE updates in place."""
    properties = {}
    if table in STATS_COLUMNS:
        properties[STATS_PROPERTY] = ",".join(STATS_COLUMNS[table])
    if table in (SILVER_BREWERIES, SILVER_HISTORY):
        # A MERGE that updates a few rows marks them deleted in place (a deletion vector) and
        # writes only the new images, instead of rewriting every file that holds one of them:
        # closing yesterday's SCD2 versions then costs the changed rows, not the whole history.
        properties["delta.enableDeletionVectors"] = "true"
    return properties


class SchemaMismatch(BrewlakeError):
    """A DataFrame does not have the exact columns and types of the table it is written to."""


@dataclass(frozen=True)
class BatchMarker:
    """What a breweries commit records about the batch it applied (or a rebuild reset)."""

    batch_id: str = ""
    ingest_date: str = ""
    reset: bool = False
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    deactivated: int = 0
    # Records not parsed: the same bytes silver's active row was built from (counted in
    # rows_in and accepted).
    skipped_unchanged: int = 0
    # Rows whose content was unchanged but came from other bytes: only the fingerprint written.
    refreshed: int = 0

    @property
    def position(self) -> tuple[dt.date, str] | None:
        if self.reset or not self.batch_id:
            return None
        return dt.date.fromisoformat(self.ingest_date), self.batch_id


def check_schema(df: DataFrame, schema: T.StructType, table: TableRef) -> None:
    """Fail with the differing columns before Delta sees a write (names and types, in order)."""
    want = [(f.name, f.dataType.simpleString()) for f in schema.fields]
    have = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
    if want == have:
        return
    extra = [f"{n} {t}" for n, t in have if (n, t) not in want]
    missing = [f"{n} {t}" for n, t in want if (n, t) not in have]
    raise SchemaMismatch(
        f"refusing to write {table}: unexpected columns [{', '.join(extra) or 'none'}], "
        f"missing columns [{', '.join(missing) or 'none'}]"
        + ("" if extra or missing else "; columns are out of order")
        + "; silver schemas are fixed in brewlake/schemas.py"
    )


def commit_metadata(spark: SparkSession, marker: BatchMarker):
    """Every Delta commit inside the block carries `marker` in its commitInfo.userMetadata."""
    return delta.commit_metadata(spark, json.dumps({MARKER_KEY: asdict(marker)}, sort_keys=True))


def _marker_of(user_metadata: str | None) -> BatchMarker | None:
    if not user_metadata:
        return None
    try:
        payload = json.loads(user_metadata).get(MARKER_KEY)
    except (ValueError, AttributeError):
        return None
    return BatchMarker(**payload) if isinstance(payload, dict) else None


def ensure_table(spark: SparkSession, table: TableRef, location: str) -> bool:
    """Create `table` empty at `location` with its fixed schema; True when it was created.

    An existing table that lacks columns the schema ends with (added by a later release) gains
    them, null in its old rows; any other difference is refused."""
    schema, partitions, comment = TABLE_SPECS[table]
    if delta.is_delta(spark, location):
        _add_trailing_columns(spark, table, location, schema)
        _set_missing_properties(spark, table, location)
        return False
    properties = table_properties(table)
    delta.create(
        spark, location, schema, partitions=partitions, properties=properties, comment=comment
    )
    log.info("silver.table_created", table=str(table), location=location)
    return True


def _add_trailing_columns(
    spark: SparkSession, table: TableRef, location: str, schema: T.StructType
) -> None:
    have = delta.read(spark, location).schema
    known = [f.name for f in have.fields]
    if known == schema.fieldNames():
        return
    if known != schema.fieldNames()[: len(known)]:
        check_schema(local_frame(spark, [], have), schema, table)  # raises, naming columns
    added = schema.fields[len(known) :]
    columns = ", ".join(f"{quote_identifier(f.name)} {f.dataType.simpleString()}" for f in added)
    spark.sql(f"ALTER TABLE delta.{quote_identifier(location)} ADD COLUMNS ({columns})")
    log.info("silver.table_evolved", table=str(table), added=",".join(f.name for f in added))


def _set_missing_properties(spark: SparkSession, table: TableRef, location: str) -> None:
    """Give a table made by an earlier release its statistics columns (`STATS_COLUMNS`; one
    commit, once). A table whose owner chose its statistics (either property set) is left as it
    is; files written before keep the statistics they have."""
    if table not in STATS_COLUMNS:
        return
    have = delta.detail(spark, location)["properties"]
    if STATS_PROPERTY in have or "delta.dataSkippingNumIndexedCols" in have:
        return
    columns = table_properties(table)[STATS_PROPERTY]
    spark.sql(
        f"ALTER TABLE delta.{quote_identifier(location)} "
        f"SET TBLPROPERTIES ('{STATS_PROPERTY}' = '{columns}')"
    )
    log.info("silver.table_evolved", table=str(table), properties=STATS_PROPERTY)


def last_marker(store: ObjectStore, table_key: str) -> tuple[BatchMarker | None, int | None]:
    """The newest batch marker in the breweries commits and the version that carries it, read
    off the log's commit files newest first (no Spark job; it is usually the newest commit)."""
    for version in delta.commit_versions(store, table_key):
        marker = _marker_of(delta.commit_info(store, table_key, version).get("userMetadata"))
        if marker is not None:
            return marker, version
    return None, None


def applied_positions(
    spark: SparkSession, location: str, since_version: int | None
) -> set[tuple[dt.date, str]]:
    """(ingest_date, batch_id) of audit rows recorded at or after breweries `since_version`."""
    df = delta.read(spark, location)
    if since_version is not None:
        df = df.where(F.col("breweries_version") >= since_version)
    return {
        (r["ingest_date"], r["batch_id"]) for r in df.select("ingest_date", "batch_id").collect()
    }


def apply_changes(
    spark: SparkSession, location: str, changes: DataFrame, actions: Mapping[str, int]
) -> None:
    """Write the change set to breweries in one commit: an append when it only inserts ids
    (they are absent from the table, so a MERGE would only add them, at the cost of a join),
    else the MERGE by id. `actions` counts the change set's rows by `_action`."""
    if set(actions) == {"insert"}:
        source = changes.select(*[f.name for f in SILVER_BREWERIES_SCHEMA.fields])
        check_schema(source, SILVER_BREWERIES_SCHEMA, SILVER_BREWERIES)
        # One file per (country, state) partition, as the MERGE writes them: the repartition
        # makes them, so the optimized write's own shuffle is left out.
        source = source.repartition(*SILVER_PARTITION_COLUMNS)
        delta.append(source, location, optimize_write=False)
    else:
        merge_breweries(
            spark,
            location,
            changes,
            inserts="insert" in actions,
            small=is_small(actions),
        )


# Up to this many rows (about 600 bytes each), a MERGE source is small: hinted to Spark (`hinted`).
SMALL_SOURCE_ROWS = 50_000


def is_small(actions: Mapping[str, int]) -> bool:
    """Whether a change set (its rows counted by `_action`) is a small MERGE source."""
    return sum(actions.values()) <= SMALL_SOURCE_ROWS


def hinted(source: DataFrame, *, small: bool) -> DataFrame:
    """A MERGE source hinted for the joins Delta runs between it and the target's rows. A small
    source is broadcast, so the inner joins become lookups: the search for the files the MERGE
    touches, the pass that writes their deletion vectors, and the whole of a MERGE without
    insert clause. A MERGE with one also joins the source LEFT OUTER to the rows of the touched
    files, and Spark cannot broadcast the outer side: that join stays a sort-merge join. (A
    `shuffle_hash` hint made it a hash join, but then every inner join shuffled the target too:
    warm 1 % days at 1 M rows took 22.6 / 19.5 / 19.3 and 22.7 / 20.2 / 19.2 s broadcast,
    against 22.9 / 20.4 / 19.7 and 23.2 / 20.8 / 19.7 s so hinted.) A large source is left to
    Spark's choice."""
    return F.broadcast(source) if small else source


# MERGE sources here are fixed data (built from local checkpoints): Delta's own copy of the
# source, made so that a non-deterministic one reads the same twice, is a pass it can skip.
FIXED_SOURCE_CONF = {"spark.databricks.delta.merge.materializeSource": "none"}

# History is not partitioned: optimized writes pack it into bins of 512 MB of shuffle output,
# so a first load of 1 M rows lands as one file, and every later MERGE scans it, and rewrites
# its changed rows, in one task. Bins of 64 MB give several files that many cores share.
HISTORY_FILES_CONF = {"spark.databricks.delta.optimizeWrite.binSize": "64"}


def merge_breweries(
    spark: SparkSession,
    location: str,
    changes: DataFrame,
    *,
    inserts: bool = True,
    small: bool = False,
) -> None:
    """Upsert the new images in `changes` (from `transforms.changed_rows`) by id.

    Every change carries the row's whole new image (a refresh is silver's row with a new
    fingerprint), so no clause reads a target column besides the id: the MERGE need not read
    every column of every file it touches. Without `inserts` (no new id: the usual day) the
    MERGE has no insert clause, so Delta joins the source to the target's rows by an inner
    join, which a `small` source turns into a lookup (`hinted`); with them, the outer join gets
    only the rows of the source's ids (`narrowed`)."""
    names = [f.name for f in SILVER_BREWERIES_SCHEMA.fields]
    source = changes.select(*names)
    check_schema(source, SILVER_BREWERIES_SCHEMA, SILVER_BREWERIES)
    columns = {name: F.col(f"s.{name}") for name in names}
    condition = F.col("t.id") == F.col("s.id")
    if inserts:  # the outer join: only the rows of the source's ids need reach it
        condition = narrowed(condition, F.col("t.id"), source.select("id"), small=small)
    merge = (
        delta.table(spark, location)
        .alias("t")
        .merge(hinted(source, small=small).alias("s"), condition)
        .whenMatchedUpdate(set=columns)
    )
    if inserts:
        merge = merge.whenNotMatchedInsert(values=columns)
    with delta.session_conf(spark, FIXED_SOURCE_CONF):
        merge.execute()


def sync_history(
    spark: SparkSession, breweries_location: str, history_location: str, recorded_at: dt.datetime
) -> int:
    """Bring SCD2 history in line with breweries by comparing the two tables; returns the number
    of new versions (0: no commit). Idempotent: the repair after a run that crashed between the
    breweries commit and the history commit (a normal run uses `record_history`)."""
    breweries = delta.read(spark, breweries_location)
    history = delta.read(spark, history_location)
    versions = history_versions(breweries, history.where(F.col("is_current")), recorded_at)
    versions = checkpointed(versions, StorageLevel.MEMORY_AND_DISK)
    try:
        count = versions.count()
        if count:
            _merge_history(spark, history_location, versions, small=count <= SMALL_SOURCE_ROWS)
    finally:
        release(versions)
    return count


def record_history(
    spark: SparkSession,
    history_location: str,
    changes: DataFrame,
    recorded_at: dt.datetime,
    *,
    insert_only: bool,
    small: bool = False,
) -> None:
    """Add the SCD2 versions of the change set just merged into breweries (one commit): an
    append when the set only inserts (no version to close), else the SCD2 MERGE (`small`: a
    change set of at most `SMALL_SOURCE_ROWS`)."""
    versions = history_from_changes(changes, recorded_at)
    if insert_only:
        rows = versions.drop("_has_open_version")
        check_schema(rows, SILVER_HISTORY_SCHEMA, SILVER_HISTORY)
        with delta.session_conf(spark, HISTORY_FILES_CONF):
            delta.append(rows, history_location)
    else:
        _merge_history(spark, history_location, versions, small=small)


def history_condition(versions: DataFrame, *, small: bool) -> Column:
    """The SCD2 MERGE's condition: a keyed source row meets the open version of its id, and
    for a `small` source only the ids it closes can (`narrowed`)."""
    condition = (F.col("h.id") == F.col("s._merge_key")) & F.col("h.is_current")
    closing = versions.where(F.col("_has_open_version")).select("id")
    return narrowed(condition, F.col("h.id"), closing, small=small)


# Up to this many ids, a MERGE's condition names them (`narrowed`): the list rides in the plan
# of every task that scans the target. The SCD2 MERGE alone at 1 M history rows, alternating
# with the plain condition: 10,000 ids to close 5.4 / 5.5 / 4.7 s against 6.9 / 6.1 / 5.9 s,
# 20,000 ids 6.0 / 5.5 / 4.7 s against 7.4 / 5.8 / 5.3 s, 50,000 ids 10.5 / 9.2 / 9.0 s
# against 8.8 / 6.6 / 5.7 s.
NARROWED_IDS = 20_000


def narrowed(condition: Column, target_id: Column, ids: DataFrame, *, small: bool) -> Column:
    """A MERGE `condition` that also names the `ids` the source can match, for a `small` source
    of at most `NARROWED_IDS` ids.

    With an insert clause, Delta joins the source LEFT OUTER to every row of the files the MERGE
    touches, and 1 % of the ids, spread at random, touch every file: Spark shuffled and sorted
    every row of the table for that join (Spark cannot broadcast the outer side). The list is a
    predicate on the target's rows alone, which Spark applies before the join, so only the rows
    the source can match reach the shuffle. Every id the join can match is in it, so the MERGE's
    result is the same. A larger source keeps the plain condition."""
    listed = is_in(target_id, ids, most=NARROWED_IDS) if small else None
    return condition if listed is None else condition & listed


def _merge_history(
    spark: SparkSession, history_location: str, versions: DataFrame, *, small: bool
) -> None:
    check_schema(versions.drop("_has_open_version"), SILVER_HISTORY_SCHEMA, SILVER_HISTORY)
    staged = hinted(staged_history(versions), small=small)
    columns = {f.name: F.col(f"s.{f.name}") for f in SILVER_HISTORY_SCHEMA.fields}
    merge = (
        delta.table(spark, history_location)
        .alias("h")
        .merge(staged.alias("s"), history_condition(versions, small=small))
        .whenMatchedUpdate(set={"is_current": F.lit(False), "valid_to": F.col("s.valid_from")})
        # A closing row whose open version is missing must not become a second new version.
        .whenNotMatchedInsert(condition=F.col("s._merge_key").isNull(), values=columns)
    )
    with delta.session_conf(spark, {**FIXED_SOURCE_CONF, **HISTORY_FILES_CONF}):
        merge.execute()


def replace_quarantine(rows: DataFrame, location: str, batch_id: str) -> None:
    """Write a batch's quarantine rows, replacing any earlier attempt at the same batch."""
    check_schema(rows, SILVER_QUARANTINE_SCHEMA, SILVER_QUARANTINE)
    (
        rows.coalesce(1)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"batch_id = '{batch_id}'")
        .save(location)
    )


def append_applied(
    spark: SparkSession,
    location: str,
    marker: BatchMarker,
    *,
    breweries_version: int | None,
    logical_date: dt.date,
    applied_at: dt.datetime,
) -> None:
    row = (
        marker.batch_id,
        dt.date.fromisoformat(marker.ingest_date),
        logical_date,
        breweries_version,
        marker.rows_in,
        marker.accepted,
        marker.quarantined,
        marker.duplicates,
        marker.inserted,
        marker.updated,
        marker.deactivated,
        applied_at,
    )
    df = local_frame(spark, [row], SILVER_APPLIED_BATCHES_SCHEMA)
    delta.append(df.coalesce(1), location, optimize_write=False)


def reset_tables(spark: SparkSession, locations: dict[TableRef, str]) -> None:
    """Empty the silver tables for a rebuild (their history stays readable by time travel).

    The audit, quarantine and history go first and breweries last, with a reset marker: a crash
    part-way leaves breweries' own markers in charge, and the next run resynchronises history.
    """
    for table in (SILVER_APPLIED_BATCHES, SILVER_QUARANTINE, SILVER_HISTORY, SILVER_LOCATIONS):
        delta.table(spark, locations[table]).delete()
    with commit_metadata(spark, BatchMarker(reset=True)):
        delta.table(spark, locations[SILVER_BREWERIES]).delete()


def read_locations(spark: SparkSession, location: str) -> dict[tuple, dict]:
    """silver.locations as {(country_raw, state_raw): row as a dict} (a few hundred rows)."""
    rows = delta.read(spark, location).collect()
    return {(r["country_raw"], r["state_raw"]): r.asDict() for r in rows}


def upsert_locations(
    spark: SparkSession, location: str, rows: list[dict], *, all_new: bool = False
) -> None:
    """Insert new raw pairs and update the counts of known ones (one commit; none if empty).
    `all_new`: no row's pair is in the table yet (a first load), so the rows are appended: a
    MERGE would only insert them, at the cost of a join with the table."""
    if not rows:
        return
    source = local_frame(
        spark,
        [tuple(r[f] for f in SILVER_LOCATIONS_SCHEMA.fieldNames()) for r in rows],
        SILVER_LOCATIONS_SCHEMA,
    )
    check_schema(source, SILVER_LOCATIONS_SCHEMA, SILVER_LOCATIONS)
    if all_new:
        delta.append(source.coalesce(1), location, optimize_write=False)
        return
    raw_pair = "t.country_raw <=> s.country_raw AND t.state_raw <=> s.state_raw"
    (
        delta.table(spark, location)
        .alias("t")
        .merge(source.coalesce(1).alias("s"), raw_pair)
        .whenMatchedUpdate(set={"rows": "s.rows", "batch_id": "s.batch_id"})
        .whenNotMatchedInsertAll()
        .execute()
    )
