"""Delta I/O, the one place that talks to Delta Lake: is there a table, read it (at a version),
its last commits, commit metadata, file counts, its log's live files.

Layers and ops go through these functions; what is particular to a table (silver's MERGE by id,
its SCD2 history, gold's lineage) stays with its owner and calls them for the generic steps.
Locations are the strings `brewlake.lake.Lake.table_location` builds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, Row, SparkSession
    from pyspark.sql import types as T

    from brewlake.storage import ObjectStore

LOG_DIR = "_delta_log"
# The session property Delta copies into every commit's commitInfo.userMetadata.
USER_METADATA_KEY = "spark.databricks.delta.commitInfo.userMetadata"


# ---- existence and handles


def is_delta(spark: SparkSession, location: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, location)


def table(spark: SparkSession, location: str) -> DeltaTable:
    """The Delta table at `location`, for MERGE, DELETE, OPTIMIZE and VACUUM."""
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, location)


def has_log(store: ObjectStore, table_key: str) -> bool:
    """A Delta log with at least one commit under `table_key` in `store`, by listing (no Spark)."""
    return any(key.endswith(".json") for key in store.list(f"{table_key}/{LOG_DIR}/"))


def commit_versions(store: ObjectStore, table_key: str) -> list[int]:
    """Versions of the JSON commits in the log under `table_key`, newest first (no Spark: one
    listing). Commits a checkpoint replaced and log cleanup removed are not listed, as in
    `DESCRIBE HISTORY`; the newest commit is always there."""
    versions = []
    for key in store.list(f"{table_key}/{LOG_DIR}/"):
        name = key.rsplit("/", 1)[-1]
        stem = name[: -len(".json")] if name.endswith(".json") else ""
        if stem.isdigit():
            versions.append(int(stem))
    return sorted(versions, reverse=True)


def head_commit(store: ObjectStore, table_key: str) -> tuple[int, dict[str, Any]] | None:
    """(version, commitInfo) of the newest commit under `table_key`, from the log's JSON files
    (no Spark: a listing and one read); None without a table. For decisions taken before a
    session starts."""
    versions = commit_versions(store, table_key)
    return (versions[0], commit_info(store, table_key, versions[0])) if versions else None


def commit_info(store: ObjectStore, table_key: str, version: int) -> dict[str, Any]:
    """The commitInfo of commit `version` under `table_key` (no Spark; {} when it has none)."""
    return _commit_info(store.get(f"{table_key}/{LOG_DIR}/{version:020d}.json"))


def _commit_info(commit: bytes) -> dict[str, Any]:
    for line in commit.decode("utf-8").splitlines():
        action = json.loads(line) if line.strip() else {}
        if "commitInfo" in action:
            return action["commitInfo"]
    return {}


def create(
    spark: SparkSession,
    location: str,
    schema: T.StructType,
    *,
    partitions: tuple[str, ...] = (),
    properties: dict[str, str] | None = None,
    comment: str = "",
) -> None:
    """Create an empty table at `location` (nothing happens when one exists)."""
    from delta.tables import DeltaTable

    builder = DeltaTable.createIfNotExists(spark).location(location).addColumns(schema)
    if partitions:
        builder = builder.partitionedBy(*partitions)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    if comment:
        builder = builder.comment(comment)
    builder.execute()


# ---- reads and writes


def read(spark: SparkSession, location: str, *, version: int | None = None) -> DataFrame:
    """The table's current state, or its state at `version`."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    return reader.load(location)


def read_if_exists(spark: SparkSession, location: str) -> DataFrame | None:
    return read(spark, location) if is_delta(spark, location) else None


def append(frame: DataFrame, location: str, *, optimize_write: bool = True) -> None:
    """Add `frame`'s rows in one commit (the table is created when there is none).
    `optimize_write=False`: the frame's partitions already are the files to write (one
    partition, or rows repartitioned by the table's partition columns), so the session's
    optimized write would only add a shuffle (and, partitioned, a task per partition value)."""
    writer = frame.write.format("delta").mode("append")
    if not optimize_write:
        writer = writer.option("optimizeWrite", "false")
    writer.save(location)


def replace(
    frame: DataFrame,
    location: str,
    *,
    metadata: str | None = None,
    partitions: tuple[str, ...] = (),
) -> None:
    """Replace the whole table, schema and partitioning included, by one commit carrying
    `metadata`."""
    writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if metadata is not None:
        writer = writer.option("userMetadata", metadata)
    if partitions:
        writer = writer.partitionBy(*partitions)
    writer.save(location)


# ---- versions and commits


def history(spark: SparkSession, location: str, limit: int | None = None) -> DataFrame:
    """The table's commits, newest first (`limit` of them, or all)."""
    handle = table(spark, location)
    return handle.history(limit) if limit else handle.history()


def last_commit(spark: SparkSession, location: str) -> Row | None:
    """The newest commit (version, timestamp, operation, userMetadata, …); None without a table."""
    if not is_delta(spark, location):
        return None
    return history(spark, location, 1).first()


def version(spark: SparkSession, location: str) -> int | None:
    """The latest committed version, or None when there is no table yet."""
    commit = last_commit(spark, location)
    return None if commit is None else int(commit["version"])


def last_metadata(spark: SparkSession, location: str) -> dict[str, Any]:
    """The newest commit's userMetadata as a JSON object ({} without a table, metadata or JSON)."""
    commit = last_commit(spark, location)
    text = commit["userMetadata"] if commit is not None else None
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


@contextmanager
def session_conf(spark: SparkSession, conf: dict[str, str]) -> Iterator[None]:
    """Set session properties for the block only; each gets its earlier value (or none) back,
    so nothing one layer tunes leaks into the next layer of the same session."""
    before = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def commit_metadata(spark: SparkSession, metadata: str):
    """Every Delta commit inside the block carries `metadata` in its commitInfo.userMetadata."""
    return session_conf(spark, {USER_METADATA_KEY: metadata})


# ---- files


def detail(spark: SparkSession, location: str) -> Row:
    """`DESCRIBE DETAIL`: numFiles, sizeInBytes, tableFeatures, properties, …"""
    return table(spark, location).detail().first()


def file_count(spark: SparkSession, location: str) -> int:
    """Data files in the current version (0: a new table, or one emptied by a rebuild)."""
    return int(detail(spark, location)["numFiles"])


def log_commits(location: str | Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(version, actions) of every JSON commit in a local table's log, oldest first.

    Reads the files themselves (no Spark), for tests and benchmarks on a local lake; a log
    whose early commits were replaced by a checkpoint only lists the commits still there."""
    log_dir = Path(location) / LOG_DIR
    if not log_dir.is_dir():
        return
    for path in sorted(log_dir.glob("*.json")):
        lines = path.read_text(encoding="utf-8").splitlines()
        yield int(path.stem), [json.loads(line) for line in lines if line.strip()]


def live_files(location: str | Path) -> dict[str, dict[str, Any] | None]:
    """Data files of the current snapshot, each with its deletion vector (None: has none).

    A commit that attaches a deletion vector removes the file and adds it back, same path: a
    commit's removes apply before its adds."""
    live: dict[str, dict[str, Any] | None] = {}
    for _, actions in log_commits(location):
        for action in actions:
            if "remove" in action:
                live.pop(action["remove"]["path"], None)
        for action in actions:
            if "add" in action:
                live[action["add"]["path"]] = action["add"].get("deletionVector")
    return live
