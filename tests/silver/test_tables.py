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
from silver import merge, transforms
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


def _version(id_: str, **values) -> dict:
    row = dict(zip(SILVER_HISTORY_SCHEMA.fieldNames(), _history_row(id_), strict=True))
    return {**row, "valid_to": None, "is_current": True, **values}


def _history_table(spark, location: str, ids: str) -> None:
    rows = [tuple(_version(i).values()) for i in ids]
    delta.append(local_frame(spark, rows, SILVER_HISTORY_SCHEMA), location)


def _versions(spark):
    """New versions for b and c (each closes an open one), d (no open version: a first one)."""
    day2 = dt.date(2026, 1, 2)
    rows = [
        (*_version(i, name=f"{i}2", valid_from=day2).values(), has_open)
        for i, has_open in (("b", True), ("c", True), ("d", False))
    ]
    schema = T.StructType(
        [*SILVER_HISTORY_SCHEMA.fields, T.StructField("_has_open_version", T.BooleanType())]
    )
    return local_frame(spark, rows, schema)


@pytest.mark.parametrize("small", [True, False])
def test_the_scd2_merge_closes_open_versions_and_adds_the_new_ones(spark, tmp_path, small):
    """A small change set names the ids it closes in the MERGE condition (`history_condition`);
    the history it leaves is the one a large change set leaves."""
    location = str(tmp_path / "history")
    _history_table(spark, location, "abc")

    merge._merge_history(spark, location, _versions(spark), small=small)

    rows = delta.read(spark, location).select("id", "name", "valid_from", "valid_to", "is_current")
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    assert sorted(rows.collect()) == [
        ("a", "x", day1, None, True),
        ("b", "b2", day2, None, True),
        ("b", "x", day1, day2, False),
        ("c", "c2", day2, None, True),
        ("c", "x", day1, day2, False),
        ("d", "d2", day2, None, True),
    ]


@pytest.mark.parametrize(
    ("small", "most_ids", "filtered"),
    [(True, merge.NARROWED_IDS, True), (False, merge.NARROWED_IDS, False), (True, 1, False)],
)
def test_a_small_scd2_merge_filters_the_history_rows_before_its_outer_join(
    spark, tmp_path, monkeypatch, small, most_ids, filtered
):
    """Delta joins the MERGE's source LEFT OUTER to the rows of the touched files with the
    MERGE's condition; with a small change set, the ids it closes are a predicate on the
    history's rows alone, which Spark applies below the join (so below its shuffle): only the
    open versions being closed reach it, not every history row. More ids than `NARROWED_IDS`
    (two here, against a limit of one) keep the plain condition."""
    monkeypatch.setattr(merge, "NARROWED_IDS", most_ids)
    location = str(tmp_path / "history")
    _history_table(spark, location, "abcdefghijklmnop")
    versions = _versions(spark)
    condition = merge.history_condition(versions, small=small)
    source = transforms.staged_history(versions).alias("s")
    joined = source.join(delta.read(spark, location).alias("h"), condition, "left_outer")
    plan = joined._jdf.queryExecution().optimizedPlan().toString()
    # The join's right side (the history's rows) starts at the root's last child line.
    right = plan[plan.index("\n+- ", plan.index("Join LeftOuter")) :].splitlines()[1]
    assert right.startswith("+- Filter") and ("id" in right and "IN (b,c)" in right) is filtered
    assert sorted(
        r.h_id for r in joined.select(F.col("h.id").alias("h_id")).collect() if r.h_id
    ) == ["b", "c"]
