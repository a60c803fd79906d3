"""brewlake.frames on a real session: a frame is computed once, and `release` gives back what
it holds, a local checkpoint's blocks included (`DataFrame.unpersist` does not)."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import functions as F

from brewlake.frames import checkpointed, materialized, release
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
