"""Schema enforcement on silver tables and `brewlake maintain`."""

from __future__ import annotations

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

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
