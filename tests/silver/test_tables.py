"""Schema enforcement on silver tables, MERGE source hints and `brewlake maintain`."""

from __future__ import annotations

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

from brewlake import delta
from brewlake.catalog import SILVER_BREWERIES, SILVER_QUARANTINE
from brewlake.lake import Lake
from brewlake.ops.maintain import maintain
from brewlake.schemas import SILVER_QUARANTINE_SCHEMA
from silver import merge


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
    ("small", "outer", "join"),
    [
        (True, False, "BroadcastHashJoin"),
        (True, True, "ShuffledHashJoin"),
        (False, True, "SortMergeJoin"),
    ],
)
def test_a_small_merge_source_is_hinted_to_the_join_delta_runs(spark, small, outer, join):
    """The join a MERGE runs between its source and the target's rows: inner without an insert
    clause, the source left-outer-joined to the target with one. A small source is broadcast to
    the first and is the hash side of the second; a large one is left to Spark (a sort-merge
    join here, with automatic broadcasts off)."""
    target = spark.range(1000).select(F.col("id").cast("string").alias("id"))
    source = merge.hinted(
        spark.range(10).select(F.col("id").cast("string").alias("id")), small=small, outer=outer
    )
    joined = source.alias("s").join(target.alias("t"), "id", "left_outer" if outer else "inner")
    with delta.session_conf(spark, {"spark.sql.autoBroadcastJoinThreshold": "-1"}):
        plan = joined._jdf.queryExecution().executedPlan().toString()
    assert join in plan, plan
