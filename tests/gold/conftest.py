"""Small silver tables built inline for gold tests, in silver's real schema (silver's code is not
needed: `SILVER_BREWERIES_SCHEMA` is the contract between the layers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from brewlake.schemas import SILVER_BREWERIES_SCHEMA

DAY = dt.date(2025, 1, 1)
AT = dt.datetime(2025, 1, 1, 6, 0, 0)

# What a plain silver row holds; a test names only the columns it is about.
SILVER_DEFAULTS: Mapping[str, Any] = {
    "id": None,
    "name": "Brewery",
    "brewery_type": "micro",
    "address_1": "1 Main St",
    "address_2": None,
    "address_3": None,
    "city": "Austin",
    "state": "Texas",
    "state_raw": "Texas",
    "country": "United States",
    "country_raw": "United States",
    "postal_code": "78701",
    "phone": "5125550100",
    "website_url": None,
    "longitude": None,
    "latitude": None,
    "is_location_suspect": False,
    "is_active": True,
    "deactivated_on": None,
    "first_seen_date": DAY,
    "last_seen_date": DAY,
    "changed_on": DAY,
    "batch_id": "b1",
    "content_hash": "0" * 64,
    "updated_at": AT,
    "source_fingerprint": None,
}
assert list(SILVER_DEFAULTS) == SILVER_BREWERIES_SCHEMA.fieldNames(), "defaults drifted"


def silver_row(id_: str | None, **columns: Any) -> tuple:
    """One silver.breweries row in schema order: defaults, then `columns` (names are checked)."""
    unknown = set(columns) - set(SILVER_DEFAULTS)
    if unknown:
        raise KeyError(f"not silver.breweries columns: {sorted(unknown)}")
    row = {**SILVER_DEFAULTS, "id": id_, "name": f"Brewery {id_}", **columns}
    return tuple(row[name] for name in SILVER_BREWERIES_SCHEMA.fieldNames())


def silver_df(spark, rows: Iterable[tuple]):
    """`silver_row` tuples as a frame with `SILVER_BREWERIES_SCHEMA`."""
    return spark.createDataFrame(list(rows), SILVER_BREWERIES_SCHEMA)


# The columns gold reads, one tuple per brewery below (test_job indexes id [0], is_active [6]).
SILVER_ROW_COLUMNS = (
    "id",
    "name",
    "brewery_type",
    "city",
    "state",
    "country",
    "is_active",
    "latitude",
    "longitude",
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


def as_silver_rows(rows: Iterable[tuple]) -> list[tuple]:
    """`SILVER_ROWS`-shaped tuples as full silver rows (raw location = canonical; an inactive
    row was deactivated on `DAY`)."""
    out = []
    for values in rows:
        given = dict(zip(SILVER_ROW_COLUMNS, values, strict=True))
        out.append(
            silver_row(
                given.pop("id"),
                **given,
                state_raw=given["state"],
                country_raw=given["country"],
                deactivated_on=None if given["is_active"] else DAY,
            )
        )
    return out


@pytest.fixture
def silver_frame(spark):
    return silver_df(spark, as_silver_rows(SILVER_ROWS))


def write_silver(spark, settings, rows=SILVER_ROWS):
    """Write `rows` as silver.breweries, partitioned as silver is; return the location."""
    from brewlake.catalog import SILVER_BREWERIES
    from brewlake.lake import Lake

    location = Lake(settings).table_location(SILVER_BREWERIES)
    (
        silver_df(spark, as_silver_rows(rows))
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("country", "state")
        .save(location)
    )
    return location
