"""Small silver tables built inline for gold tests (silver's own code is not needed)."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

SILVER_SCHEMA = T.StructType(
    [
        T.StructField("id", T.StringType(), False),
        T.StructField("name", T.StringType(), True),
        T.StructField("brewery_type", T.StringType(), True),
        T.StructField("city", T.StringType(), True),
        T.StructField("state", T.StringType(), True),
        T.StructField("country", T.StringType(), True),
        T.StructField("is_active", T.BooleanType(), False),
        T.StructField("latitude", T.DoubleType(), True),
        T.StructField("longitude", T.DoubleType(), True),
    ]
)

# Nulls, diacritics, apostrophes, a slash, and rows that are no longer active.
SILVER_ROWS = [
    ("1", "Alpha", "micro", "Austin", "Texas", "United States", True, 30.2, -97.7),
    ("2", "Beta", "micro", "Dallas", "Texas", "United States", True, None, None),
    ("3", "Gamma", "brewpub", "Austin", "Texas", "United States", True, 30.3, -97.8),
    ("4", "Delta", "closed", "Reno", "Nevada", "United States", True, None, None),
    ("5", "Epsilon", "planning", "Kärnten", "Kärnten", "Austria", True, None, None),
    ("6", "Zeta", "micro", "Lübbenau/Spreewald", "Brandenburg", "Germany", True, 51.9, 13.9),
    ("7", "Eta", "micro", "Napier", "Hawke's Bay Region", "New Zealand", True, None, None),
    ("8", "Theta", "micro", "Nowhere", None, None, True, None, None),
    ("9", "Iota", None, "Austin", "Texas", "United States", True, None, None),
    ("10", "Kappa", "micro", "Austin", "Texas", "United States", False, None, None),
    ("11", "Lambda", "closed", "Graz", "Steiermark", "Austria", False, None, None),
]


@pytest.fixture
def silver_frame(spark):
    return spark.createDataFrame(SILVER_ROWS, SILVER_SCHEMA)


def write_silver(spark, settings, rows=SILVER_ROWS):
    """Write `rows` as silver.breweries, partitioned as silver is; return the location."""
    from brewlake.catalog import SILVER_BREWERIES
    from brewlake.lake import Lake

    location = Lake(settings).table_location(SILVER_BREWERIES)
    (
        spark.createDataFrame(rows, SILVER_SCHEMA)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("country", "state")
        .save(location)
    )
    return location
