"""Pure gold aggregations: DataFrame in, DataFrame out; no session, path, config or action.

Every aggregate counts the rows it is given; `filter_active` decides which silver rows those are.
Grouping keeps nulls as their own group (a brewery with no state is still a brewery), so the sum
of `brewery_count` over any gold table equals the number of active silver rows read — the
reconciliation gate in `gold.job` relies on that.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

# Types whose rows are listed but not brewing: the API's `closed` and `planning`.
NOT_OPERATING_TYPES = ("closed", "planning")
COUNT = "brewery_count"
# The silver columns every aggregate below reads (after `filter_active`).
INPUT_COLUMNS = ("country", "state", "brewery_type")


def filter_active(silver: DataFrame) -> DataFrame:
    """Silver rows the source still lists (`is_active`); soft-deleted rows drop out."""
    return silver.where(F.col("is_active"))


def count_by_location_type(breweries: DataFrame) -> DataFrame:
    """One row per (country, state, brewery_type): brewery_count."""
    return breweries.groupBy("country", "state", "brewery_type").agg(
        F.count(F.lit(1)).cast(T.LongType()).alias(COUNT)
    )


def count_by_country_type(breweries: DataFrame) -> DataFrame:
    """One row per (country, brewery_type): brewery_count."""
    return breweries.groupBy("country", "brewery_type").agg(
        F.count(F.lit(1)).cast(T.LongType()).alias(COUNT)
    )


def count_by_type(breweries: DataFrame) -> DataFrame:
    """One row per brewery_type: brewery_count and its share of all breweries (0..1)."""
    counts = breweries.groupBy("brewery_type").agg(
        F.count(F.lit(1)).cast(T.LongType()).alias(COUNT)
    )
    total = counts.agg(F.sum(COUNT).alias("_total"))
    return (
        counts.crossJoin(total)
        .withColumn("share", F.round(F.col(COUNT) / F.col("_total"), 6))
        .drop("_total")
    )


def _is_operating() -> Column:
    # A null or unknown type is not known to be closed: it counts as operating.
    return F.coalesce(~F.lower(F.col("brewery_type")).isin(*NOT_OPERATING_TYPES), F.lit(True))


def summarize_operating_status(breweries: DataFrame) -> DataFrame:
    """One row per country: operating, planning, closed and total counts, operating share."""

    def count_where(condition: Column) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0)).cast(T.LongType())

    kind = F.lower(F.col("brewery_type"))
    return (
        breweries.groupBy("country")
        .agg(
            count_where(_is_operating()).alias("operating_count"),
            count_where(kind == "planning").alias("planning_count"),
            count_where(kind == "closed").alias("closed_count"),
            F.count(F.lit(1)).cast(T.LongType()).alias(COUNT),
        )
        .withColumn("operating_share", F.round(F.col("operating_count") / F.col(COUNT), 6))
    )


def with_lineage(gold: DataFrame, silver_version: int, computed_at: dt.datetime) -> DataFrame:
    """Stamp each row with the silver version it was computed from and when."""
    return gold.withColumn("silver_version", F.lit(silver_version).cast(T.LongType())).withColumn(
        "computed_at", F.lit(computed_at).cast(T.TimestampType())
    )
