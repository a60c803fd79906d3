"""Schema enforcement on silver tables, MERGE source hints and `brewlake maintain`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F
from pyspark.sql import types as T

from brewlake import delta
from brewlake.catalog import SILVER_BREWERIES, SILVER_HISTORY, SILVER_QUARANTINE
from brewlake.frames import local_frame
from brewlake.lake import Lake
from brewlake.ops.maintain import maintain
from brewlake.schemas import SILVER_HISTORY_SCHEMA, SILVER_QUARANTINE_SCHEMA
from silver import merge
from tests.conftest import operations

_VALUES = {
    T.StringType(): "x",
    T.DoubleType(): 1.5,
    T.BooleanType(): True,
    T.DateType(): dt.date(2026, 1, 1),
    T.TimestampType(): dt.datetime(2026, 1, 1, 12),
}


def _history_row(id_: str) -> tuple:
    """A history row with a value in every column."""
    return tuple(id_ if f.name == "id" else _VALUES[f.dataType] for f in SILVER_HISTORY_SCHEMA)


def _file_stats(location: str) -> list[dict]:
    """The statistics of every file added to a local table, from its log."""
    return [
        json.loads(action["add"]["stats"])
        for _, actions in delta.log_commits(location)
        for action in actions
        if "add" in action
    ]


def test_unexpected_column_or_type_is_refused(spark, lake_settings):
    location = Lake(lake_settings).table_location(SILVER_QUARANTINE)
    assert merge.ensure_table(spark, SILVER_QUARANTINE, location)
    good = spark.createDataFrame([], SILVER_QUARANTINE_SCHEMA)
    merge.check_schema(good, SILVER_QUARANTINE_SCHEMA, SILVER_QUARANTINE)  # passes

    extra = good.withColumn("surprise", F.lit(1))
    with pytest.raises(merge.SchemaMismatch, match=r"unexpected columns \[surprise int\]"):
        merge.check_schema(extra, SILVER_QUARANTINE_SCHEMA, SILVER_QUARANTINE)
    retyped = good.withColumn("page", F.lit(1))
    with pytest.raises(
        merge.SchemaMismatch, match=r"unexpected columns \[page int\].*\[page string\]"
    ):
        merge.check_schema(retyped, SILVER_QUARANTINE_SCHEMA, SILVER_QUARANTINE)
    # Delta's own enforcement stays on behind ours (schema auto-merge is disabled).
    with pytest.raises(AnalysisException, match=r"(?i)schema mismatch|surprise"):
        extra.write.format("delta").mode("append").save(location)


def test_a_silver_table_keeps_statistics_of_its_skipping_columns_only(spark, lake_settings):
    """New files of silver's large tables carry min/max statistics of `STATS_COLUMNS` alone (the
    row count stays): every other column costs its statistics on every write and skips no file."""
    location = Lake(lake_settings).table_location(SILVER_HISTORY)
    assert merge.ensure_table(spark, SILVER_HISTORY, location)
    delta.append(
        local_frame(spark, [_history_row("a"), _history_row("b")], SILVER_HISTORY_SCHEMA), location
    )

    (stats,) = _file_stats(location)
    assert stats["numRecords"] == 2
    assert set(stats["minValues"]) == set(merge.STATS_COLUMNS[SILVER_HISTORY])
    assert set(stats["maxValues"]) == set(merge.STATS_COLUMNS[SILVER_HISTORY])
    assert (stats["minValues"]["id"], stats["maxValues"]["id"]) == ("a", "b")


def test_a_table_of_an_earlier_release_gains_the_statistics_columns_once(spark, lake_settings):
    """An existing table without statistics settings gets `STATS_COLUMNS` in one commit, and no
    commit on the next run; one whose owner chose its statistics is left as it is."""
    lake = Lake(lake_settings)
    old = lake.table_location(SILVER_HISTORY)
    delta.create(spark, old, SILVER_HISTORY_SCHEMA)  # as an earlier release made it
    delta.append(local_frame(spark, [_history_row("a")], SILVER_HISTORY_SCHEMA), old)

    assert not merge.ensure_table(spark, SILVER_HISTORY, old)
    assert not merge.ensure_table(spark, SILVER_HISTORY, old)
    assert operations(spark, old) == ["CREATE TABLE", "WRITE", "SET TBLPROPERTIES"]
    columns = delta.detail(spark, old)["properties"][merge.STATS_PROPERTY]
    assert columns.split(",") == list(merge.STATS_COLUMNS[SILVER_HISTORY])
    assert spark.read.format("delta").load(old).count() == 1  # its data untouched

    tuned = lake.table_location(SILVER_QUARANTINE)
    delta.create(
        spark, tuned, SILVER_QUARANTINE_SCHEMA, properties={"delta.dataSkippingNumIndexedCols": "3"}
    )
    assert not merge.ensure_table(spark, SILVER_QUARANTINE, tuned)
    assert operations(spark, tuned) == ["CREATE TABLE"]
    assert merge.STATS_PROPERTY not in delta.detail(spark, tuned)["properties"]


def test_maintain_compacts_and_vacuums_safely(spark, lake_settings):
    location = Lake(lake_settings).table_location(SILVER_BREWERIES)
    merge.ensure_table(spark, SILVER_BREWERIES, location)
    table = spark.read.format("delta").load(location)
    for i in range(3):
        row = spark.range(1).select(
            *[
                (
                    F.lit(f"id{i}")
                    if f.name == "id"
                    else F.lit("Oregon")
                    if f.name == "state"
                    else F.lit("United States")
                    if f.name == "country"
                    else F.lit(None)
                )
                .cast(f.dataType)
                .alias(f.name)
                for f in table.schema.fields
            ]
        )
        row.write.format("delta").mode("append").save(location)
    results = maintain(spark, lake_settings)
    by_table = {r.table: r for r in results}
    assert set(by_table) == {"silver.breweries"}  # only existing tables
    r = by_table["silver.breweries"]
    assert (r.files_before, r.files_after, r.files_compacted) == (3, 1, 3)
    assert r.files_vacuumed == 0  # replaced files are younger than the 7-day retention
    assert spark.read.format("delta").load(location).count() == 3


@pytest.mark.parametrize(
    ("small", "inner", "outer"),
    [(True, "BroadcastHashJoin", "SortMergeJoin"), (False, "SortMergeJoin", "SortMergeJoin")],
)
def test_a_small_merge_source_is_broadcast_to_the_inner_joins_delta_runs(
    spark, small, inner, outer
):
    """The joins a MERGE runs between its source and the target's rows: inner ones (the search
    for touched files, the deletion vectors' pass, and all of a MERGE without insert clause),
    and with an insert clause the source left-outer-joined to the target. A small source is
    broadcast to the inner ones; the outer side of an outer join cannot be, so that join is a
    sort-merge join, as every join of a large source is here (automatic broadcasts off)."""
    target = spark.range(1000).select(F.col("id").cast("string").alias("id"))
    source = merge.hinted(
        spark.range(10).select(F.col("id").cast("string").alias("id")), small=small
    )
    for how, join in (("inner", inner), ("left_outer", outer)):
        joined = source.alias("s").join(target.alias("t"), "id", how)
        with delta.session_conf(spark, {"spark.sql.autoBroadcastJoinThreshold": "-1"}):
            plan = joined._jdf.queryExecution().executedPlan().toString()
        assert join in plan, (how, plan)
