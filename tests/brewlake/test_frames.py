"""brewlake.frames on a real session: a frame is computed once, and `release` gives back what
it holds, a local checkpoint's blocks included (`DataFrame.unpersist` does not)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark import StorageLevel
from pyspark.sql import functions as F
from pyspark.sql import types as T

from brewlake.frames import checkpointed, is_in, local_frame, materialized, release
from tests.conftest import held_rdds


def numbers(spark, n=1000):
    return spark.range(n).withColumn("square", F.col("id") * F.col("id"))


def test_release_frees_a_local_checkpoint_that_unpersist_keeps(spark):
    before = held_rdds(spark)
    frame = checkpointed(numbers(spark), StorageLevel.MEMORY_AND_DISK)
    assert len(held_rdds(spark) - before) == 1
    frame.unpersist()
    assert len(held_rdds(spark) - before) == 1  # why `release` exists
    release(frame)
    assert held_rdds(spark) - before == set()
    release(frame)  # the second release of a checkpoint finds it released and leaves it be
    assert held_rdds(spark) - before == set()


def test_release_frees_a_cache_and_skips_none_and_a_second_release(spark):
    before = held_rdds(spark)
    frame = materialized(numbers(spark), StorageLevel.MEMORY_AND_DISK)
    assert frame.is_cached and len(held_rdds(spark) - before) == 1
    release(frame, None)
    release(frame)
    assert not frame.is_cached
    assert held_rdds(spark) - before == set()


def test_a_checkpoint_reads_the_same_after_its_input_changes(spark, tmp_path):
    path = str(tmp_path / "t")
    numbers(spark, 10).write.parquet(path)
    frame = checkpointed(spark.read.parquet(path), StorageLevel.MEMORY_AND_DISK)
    numbers(spark, 20).write.mode("overwrite").parquet(path)
    assert frame.count() == 10
    release(frame)


def test_a_local_frame_holds_its_rows_in_its_schema_exactly(spark):
    schema = T.StructType(
        [
            T.StructField("id", T.StringType(), nullable=False),
            T.StructField("n", T.LongType()),
            T.StructField("small", T.IntegerType()),
            T.StructField("share", T.DoubleType()),
            T.StructField("ok", T.BooleanType()),
            T.StructField("day", T.DateType()),
            T.StructField("at", T.TimestampType()),
            T.StructField("names", T.ArrayType(T.StringType())),
            T.StructField(
                "versions",
                T.ArrayType(
                    T.StructType(
                        [T.StructField("table", T.StringType()), T.StructField("v", T.LongType())]
                    )
                ),
            ),
            T.StructField("context", T.MapType(T.StringType(), T.StringType())),
            T.StructField("raw", T.BinaryType()),
        ]
    )
    plus_two = dt.timezone(dt.timedelta(hours=2))
    rows = [
        (
            "a",
            2**40,
            7,
            0.25,
            True,
            dt.date(2026, 1, 31),
            dt.datetime(2026, 1, 31, 23, 59, 59, 123456),  # naive: UTC
            ["x", None],
            [{"table": "silver.breweries", "v": None}],
            {"k": "v"},
            b"\x00\xff",
        ),
        ("é ü 🍺", None, None, None, None, None, dt.datetime(2026, 2, 1, 1, 0, tzinfo=plus_two))
        + (None,) * 4,
    ]
    frame = local_frame(spark, rows, schema)
    assert frame.schema == schema
    got = frame.select(
        "*", F.date_format("at", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("at_utc")
    ).collect()
    assert [r.at_utc for r in got] == ["2026-01-31 23:59:59.123456", "2026-01-31 23:00:00.000000"]
    first, second = (r.asDict(recursive=True) for r in got)
    assert {k: v for k, v in first.items() if k not in ("at", "at_utc")} == {
        "id": "a",
        "n": 2**40,
        "small": 7,
        "share": 0.25,
        "ok": True,
        "day": dt.date(2026, 1, 31),
        "names": ["x", None],
        "versions": [{"table": "silver.breweries", "v": None}],
        "context": {"k": "v"},
        "raw": bytearray(b"\x00\xff"),
    }
    assert second["id"] == "é ü 🍺" and all(
        second[k] is None for k in ("n", "small", "share", "ok", "day", "names", "context", "raw")
    )
    assert local_frame(spark, [], "path string, content binary").count() == 0


def test_is_in_keeps_the_rows_a_semi_join_keeps_as_a_filter_not_a_join(spark):
    """`is_in` gathers the values on the JVM (no py4j call per value) and is a plain predicate:
    the same rows as a semi join with the values' frame, and no join in the plan, so Spark can
    apply it to a table's rows before a shuffle."""
    names = ["a", "it's", 'say "hi"', "back\\slash", "ünï", "", "x" * 300]
    rows = spark.createDataFrame([(n,) for n in [*names, "b", "c"]], "name string")
    values = spark.createDataFrame([(n,) for n in [*names, "not in rows", None]], "v string")

    filtered = rows.where(is_in(F.col("name"), values))

    expected = rows.join(values, rows.name == values.v, "left_semi")
    assert sorted(filtered.collect()) == sorted(expected.collect())
    assert sorted(r.name for r in filtered.collect()) == sorted(names)
    plan = filtered._jdf.queryExecution().optimizedPlan().toString()
    assert "Join" not in plan and "Filter" in plan, plan


def test_is_in_gives_none_for_more_values_than_most(spark):
    values = spark.createDataFrame([("a",), ("b",)], "v string")
    assert is_in(F.col("name"), values, most=1) is None
    rows = spark.createDataFrame([("a",), ("c",)], "name string")
    assert [r.name for r in rows.where(is_in(F.col("name"), values, most=2)).collect()] == ["a"]


def test_is_in_takes_a_frame_of_one_column(spark):
    with pytest.raises(ValueError, match="one column"):
        is_in(F.col("id"), spark.range(3).withColumn("other", F.col("id")))
