"""A frame's making and lifetime: small frames from driver-side rows (`local_frame`); compute a
frame once (`materialized`, `checkpointed`) and give its memory and local disk back (`release`)
as soon as nothing reads it any more.

`DataFrame.unpersist` frees a cache but not a local checkpoint: the checkpoint's blocks stay in
the heap (or on local disk) until the JVM happens to collect their RDD, which at 1 M rows kept a
batch's parsed records and change set in memory while the next steps ran. `release` frees both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from pyspark import StorageLevel
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

# Registers a frame for release on the way out of a `holding` block, and returns it.
Hold = Callable[["DataFrame"], "DataFrame"]


def local_frame(
    spark: SparkSession, rows: Iterable[Sequence], schema: StructType | str
) -> DataFrame:
    """A frame of driver-side `rows` (sequences in `schema`'s field order; a StructType or DDL),
    handed to the JVM as one Arrow table. `spark.createDataFrame(list)` pickles rows through
    Python worker processes, and starting them cost a cold run ~1.5 s of a 2-core machine; the
    Arrow table needs none, here or on a cluster's executors. Naive datetimes are UTC."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import DataType
    from pyspark.sql.types import StructType as Struct

    struct = schema if isinstance(schema, Struct) else DataType.fromDDL(schema)
    names = struct.fieldNames()
    table = pa.Table.from_pylist(
        [dict(zip(names, row, strict=True)) for row in rows],
        schema=to_arrow_schema(struct, timezone="UTC"),
    )
    return spark.createDataFrame(table)


def is_in(column: Column, values: DataFrame, *, most: int | None = None) -> Column | None:
    """`column IN (the values of the one-column frame values)`, the values gathered on the
    JVM: a predicate Spark can push to a table scan, where a semi join with the frame stays a
    join. `Column.isin(list)` sends every value through py4j as a literal of its own, which took
    ~4 s for 10,000 ids; here the values never pass through Python (classic PySpark only).
    None when the frame holds more than `most` values (gathered once, counted on the JVM)."""
    from pyspark.sql.classic.column import Column as ClassicColumn

    if len(values.columns) != 1:
        raise ValueError(f"is_in takes a frame of one column, not {values.columns}")
    jvm = values.sparkSession._jvm
    gathered = getattr(values._jdf, "as")(jvm.org.apache.spark.sql.Encoders.STRING())
    listed = gathered.collectAsList()
    if most is not None and listed.size() > most:
        return None
    return ClassicColumn(column._jc.isInCollection(listed))


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
