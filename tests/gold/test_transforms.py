"""Each gold transform against expected rows written out by hand."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from gold import transforms as gt


def test_filter_active_drops_soft_deleted_rows(silver_frame):
    ids = {r.id for r in gt.filter_active(silver_frame).collect()}
    assert ids == {str(i) for i in range(1, 10)}


def test_count_by_location_type_keeps_null_groups(spark, silver_frame):
    actual = gt.filter_active(silver_frame).transform(gt.count_by_location_type)
    schema = T.StructType(
        [
            T.StructField("country", T.StringType(), True),
            T.StructField("state", T.StringType(), True),
            T.StructField("brewery_type", T.StringType(), True),
            T.StructField("brewery_count", T.LongType(), False),
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
        "country string, brewery_type string, brewery_count long",
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


def test_count_by_type_with_share(spark, silver_frame):
    actual = gt.filter_active(silver_frame).transform(gt.count_by_type)
    expected = spark.createDataFrame(
        [
            ("micro", 5, round(5 / 9, 6)),
            ("brewpub", 1, round(1 / 9, 6)),
            ("closed", 1, round(1 / 9, 6)),
            ("planning", 1, round(1 / 9, 6)),
            (None, 1, round(1 / 9, 6)),
        ],
        "brewery_type string, brewery_count long, share double",
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


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
        "country string, operating_count long, planning_count long, closed_count long, "
        "brewery_count long, operating_share double",
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False)


def test_operating_status_ignores_type_case(spark):
    frame = spark.createDataFrame(
        [("CLOSED", "X"), ("Planning", "X"), ("micro", "X")], "brewery_type string, country string"
    )
    row = frame.transform(gt.summarize_operating_status).first()
    assert (row.operating_count, row.planning_count, row.closed_count) == (1, 1, 1)


def test_with_lineage_stamps_version_and_time(silver_frame):
    at = dt.datetime(2025, 1, 2, 3, 4, 5)
    rows = silver_frame.transform(gt.count_by_type).transform(lambda df: gt.with_lineage(df, 7, at))
    assert {(r.silver_version, r.computed_at) for r in rows.collect()} == {(7, at)}
