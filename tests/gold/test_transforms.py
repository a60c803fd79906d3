"""Each gold transform on silver rows in silver's real schema, against expected rows by hand."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from gold import transforms as gt
from tests.gold.conftest import SILVER_ROWS, as_silver_rows, silver_df, silver_row

COUNT = T.StructField("brewery_count", T.LongType(), False)


def test_filter_active_drops_soft_deleted_rows(spark):
    rows = [
        *as_silver_rows(SILVER_ROWS),
        # A row whose activity is unknown is not known to be listed: it drops out too.
        silver_row("12", name="Mu's", is_active=None),
    ]
    actual = gt.filter_active(silver_df(spark, rows))
    # Whole rows, every silver column untouched; only 10 and 11 (inactive) and 12 (null) go.
    expected = silver_df(spark, [r for r in rows if r[0] not in {"10", "11", "12"}])
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


def test_count_by_location_type_keeps_null_groups(spark, silver_frame):
    actual = gt.filter_active(silver_frame).transform(gt.count_by_location_type)
    schema = T.StructType(
        [
            T.StructField("country", T.StringType(), True),
            T.StructField("state", T.StringType(), True),
            T.StructField("brewery_type", T.StringType(), True),
            COUNT,
        ]
    )
    expected = spark.createDataFrame(
        [
            ("United States", "Texas", "micro", 2),
            ("United States", "Texas", "brewpub", 1),
            ("United States", "Texas", None, 1),
            ("United States", "Nevada", "closed", 1),
            ("Austria", "Kärnten", "planning", 1),
            ("Germany", "Brandenburg", "micro", 1),
            ("New Zealand", "Hawke's Bay Region", "micro", 1),
            (None, None, "micro", 1),
        ],
        schema,
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


def test_count_by_country_type(spark, silver_frame):
    actual = gt.filter_active(silver_frame).transform(gt.count_by_country_type)
    schema = T.StructType(
        [
            T.StructField("country", T.StringType(), True),
            T.StructField("brewery_type", T.StringType(), True),
            COUNT,
        ]
    )
    expected = spark.createDataFrame(
        [
            ("United States", "micro", 2),
            ("United States", "brewpub", 1),
            ("United States", None, 1),
            ("United States", "closed", 1),
            ("Austria", "planning", 1),
            ("Germany", "micro", 1),
            ("New Zealand", "micro", 1),
            (None, "micro", 1),
        ],
        schema,
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


COUNT_BY_TYPE_SCHEMA = T.StructType(
    [
        T.StructField("brewery_type", T.StringType(), True),
        COUNT,
        T.StructField("share", T.DoubleType(), True),
    ]
)


def test_count_by_type_with_share(spark, silver_frame):
    actual = gt.filter_active(silver_frame).transform(gt.count_by_type)
    # Shares are rounded to 6 decimals: 5/9 -> 0.555556 (half up), 1/9 -> 0.111111.
    expected = spark.createDataFrame(
        [
            ("micro", 5, 0.555556),
            ("brewpub", 1, 0.111111),
            ("closed", 1, 0.111111),
            ("planning", 1, 0.111111),
            (None, 1, 0.111111),
        ],
        COUNT_BY_TYPE_SCHEMA,
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)


OPERATING_SCHEMA = T.StructType(
    [
        T.StructField("country", T.StringType(), True),
        T.StructField("operating_count", T.LongType(), True),
        T.StructField("planning_count", T.LongType(), True),
        T.StructField("closed_count", T.LongType(), True),
        COUNT,
        T.StructField("operating_share", T.DoubleType(), True),
    ]
)


def test_operating_status_treats_closed_and_planning_as_not_operating(spark, silver_frame):
    actual = gt.filter_active(silver_frame).transform(gt.summarize_operating_status)
    expected = spark.createDataFrame(
        [
            # A null type is not known to be closed: operating.
            ("United States", 4, 0, 1, 5, 0.8),
            ("Austria", 0, 1, 0, 1, 0.0),
            ("Germany", 1, 0, 0, 1, 1.0),
            ("New Zealand", 1, 0, 0, 1, 1.0),
            (None, 1, 0, 0, 1, 1.0),
        ],
        OPERATING_SCHEMA,
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)


def test_operating_status_ignores_type_case(spark):
    silver = silver_df(
        spark,
        [
            silver_row("a", brewery_type="CLOSED", country="Österreich"),
            silver_row("b", brewery_type="Planning", country="Österreich"),
            silver_row("c", brewery_type="micro", country="Österreich"),
            silver_row("d", brewery_type=None, country="Österreich"),
            silver_row("e", brewery_type="Closed", country=None),
        ],
    )
    actual = silver.transform(gt.summarize_operating_status)
    expected = spark.createDataFrame(
        [("Österreich", 2, 1, 1, 4, 0.5), (None, 0, 0, 1, 1, 0.0)], OPERATING_SCHEMA
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)


def test_with_lineage_stamps_version_and_time(spark):
    at = dt.datetime(2025, 1, 2, 3, 4, 5)
    silver = silver_df(
        spark,
        [
            silver_row("a", brewery_type="micro"),
            silver_row("b", brewery_type="micro", name="O'Brien's Bräu"),
            silver_row("c", brewery_type=None),
        ],
    )
    actual = silver.transform(gt.count_by_type).transform(lambda df: gt.with_lineage(df, 7, at))
    schema = T.StructType(
        [
            *COUNT_BY_TYPE_SCHEMA.fields,
            T.StructField("silver_version", T.LongType(), True),
            T.StructField("computed_at", T.TimestampType(), True),
        ]
    )
    expected = spark.createDataFrame(
        [("micro", 2, 0.666667, 7, at), (None, 1, 0.333333, 7, at)], schema
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)
