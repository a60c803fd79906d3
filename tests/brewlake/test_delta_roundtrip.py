"""Delta create → MERGE → read → time travel, on the local lake and on S3 (moto) via s3a://."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from brewlake.lake import Lake, TableRef
from brewlake.storage import aws_client

SCHEMA = T.StructType(
    [T.StructField("id", T.StringType(), False), T.StructField("name", T.StringType(), True)]
)


def _round_trip(spark, settings) -> str:
    from delta.tables import DeltaTable

    location = Lake(settings).table_location(TableRef("silver", "roundtrip"))
    spark.createDataFrame([("a", "Alpha"), ("b", None)], SCHEMA).write.format("delta").save(
        location
    )
    updates = spark.createDataFrame([("b", "Beta"), ("c", "Gamma")], SCHEMA)
    (
        DeltaTable.forPath(spark, location)
        .alias("t")
        .merge(updates.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    now = {tuple(r) for r in spark.read.format("delta").load(location).collect()}
    assert now == {("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")}
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(location)
    assert {tuple(r) for r in v0.collect()} == {("a", "Alpha"), ("b", None)}
    assert DeltaTable.forPath(spark, location).history().count() == 2
    return location


def test_delta_round_trip_on_local_lake(spark, lake_settings):
    location = _round_trip(spark, lake_settings)
    assert location.startswith("/")


@pytest.mark.s3
def test_delta_round_trip_on_s3_via_s3a(spark, s3_settings):
    location = _round_trip(spark, s3_settings)
    assert location.startswith("s3a://")
    # boto3 sees the very objects Spark wrote: both clients reach the same store.
    listing = aws_client(s3_settings).list_objects_v2(
        Bucket=s3_settings.s3_bucket, Prefix=f"{s3_settings.s3_prefix}/silver/roundtrip/_delta_log/"
    )
    names = [o["Key"].rsplit("/", 1)[-1] for o in listing.get("Contents", [])]
    assert "00000000000000000000.json" in names
    assert "00000000000000000001.json" in names


def test_an_append_without_optimized_write_writes_the_frames_partitions_as_they_are(
    spark, lake_settings
):
    from brewlake import delta

    lake = Lake(lake_settings)
    frame = spark.range(0, 30, numPartitions=3).selectExpr("CAST(id AS STRING) AS id")
    packed, as_is = (lake.table_location(TableRef("silver", n)) for n in ("packed", "as_is"))
    delta.append(frame, packed)  # the session's optimized write: one bin, one file
    delta.append(frame, as_is, optimize_write=False)  # one file per partition, no shuffle
    assert spark.conf.get("spark.databricks.delta.optimizeWrite.enabled") == "true"
    for location, files in ((packed, 1), (as_is, 3)):
        table = spark.read.format("delta").load(location)
        assert len(table.inputFiles()) == files, location
        assert sorted(int(r.id) for r in table.collect()) == list(range(30))
