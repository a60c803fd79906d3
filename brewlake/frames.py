"""A computed frame's lifetime: compute it once (`materialized`, `checkpointed`) and give its
memory and local disk back (`release`) as soon as nothing reads it any more.

`DataFrame.unpersist` frees a cache but not a local checkpoint: the checkpoint's blocks stay in
the heap (or on local disk) until the JVM happens to collect their RDD, which at 1 M rows kept a
batch's parsed records and change set in memory while the next steps ran. `release` frees both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark import StorageLevel
    from pyspark.sql import DataFrame

# Registers a frame for release on the way out of a `holding` block, and returns it.
Hold = Callable[["DataFrame"], "DataFrame"]


def materialized(df: DataFrame, level: StorageLevel) -> DataFrame:
    """`df` cached (columnar, at `level`) and computed now, once; later passes read only the
    columns they need from it. Only for frames whose inputs cannot change while they are read:
    a frame read after a write to its input is `checkpointed` instead."""
    df = df.persist(level)
    df.count()
    return df


def checkpointed(df: DataFrame, level: StorageLevel) -> DataFrame:
    """`df` computed now into blocks at `level` (row format), cut from its plan: it reads the
    same after a write to the tables it came from, and it is never recomputed."""
    return df.localCheckpoint(storageLevel=level)


def release(*frames: DataFrame | None) -> None:
    """Free what each frame holds: the blocks of its local checkpoint, or its cache. Nothing
    built on a released frame may be read after; None and frames that hold nothing are skipped,
    and releasing twice is harmless."""
    for df in frames:
        if df is None:
            continue
        # A local checkpoint is a LogicalRDD over the checkpointed RDD (classic PySpark only).
        plan = df._jdf.queryExecution().logical()
        if plan.getClass().getSimpleName() != "LogicalRDD":
            df.unpersist()
        elif plan.rdd().getStorageLevel().isValid():  # NONE once released: Spark warns per call
            plan.rdd().unpersist(False)


@contextlib.contextmanager
def holding() -> Iterator[Hold]:
    """`hold(df)` returns `df` and releases it on the way out of the block, however the block
    ends (a failure part-way through leaves nothing held). Release earlier what is done with
    early; the release on the way out is then harmless."""
    held: list[DataFrame] = []

    def hold(df: DataFrame) -> DataFrame:
        held.append(df)
        return df

    try:
        yield hold
    finally:
        release(*held)
