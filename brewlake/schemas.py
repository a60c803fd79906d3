"""Explicit schemas: the API record as bronze holds it, and every silver table.

Nothing in brewlake infers a schema. The API record schema reads every field as text: the API has
emitted coordinates both as JSON numbers and as JSON strings, and Spark's JSON reader turns either
into the token's text for a string field, so one cast later parses both.
"""

from __future__ import annotations

from pyspark.sql import types as T

S = T.StringType()

# Field order as the API emits it (see /work/shared/API.md).
API_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "brewery_type",
    "address_1",
    "address_2",
    "address_3",
    "city",
    "state_province",
    "postal_code",
    "country",
    "longitude",
    "latitude",
    "phone",
    "website_url",
    "state",
    "street",
)

BREWERY_RECORD_SCHEMA = T.StructType([T.StructField(name, S, True) for name in API_FIELDS])

# The API's brewery_type enum (openbrewerydb-laravel-api), lower-case.
BREWERY_TYPES: tuple[str, ...] = (
    "micro",
    "nano",
    "regional",
    "brewpub",
    "large",
    "planning",
    "bar",
    "contract",
    "proprietor",
    "closed",
    "taproom",
    "cidery",
    "beergarden",
    "location",
    "unknown",
)

# The columns whose values describe a brewery; their hash decides whether a row changed.
CONTENT_COLUMNS: tuple[str, ...] = (
    "name",
    "brewery_type",
    "address_1",
    "address_2",
    "address_3",
    "city",
    "state",
    "state_raw",
    "country",
    "country_raw",
    "postal_code",
    "phone",
    "website_url",
    "longitude",
    "latitude",
    "is_location_suspect",
)

_CONTENT_FIELDS = [
    T.StructField("name", S),
    T.StructField("brewery_type", S),
    T.StructField("address_1", S),
    T.StructField("address_2", S),
    T.StructField("address_3", S),
    T.StructField("city", S),
    T.StructField("state", S),
    T.StructField("state_raw", S),
    T.StructField("country", S),
    T.StructField("country_raw", S),
    T.StructField("postal_code", S),
    T.StructField("phone", S),
    T.StructField("website_url", S),
    T.StructField("longitude", T.DoubleType()),
    T.StructField("latitude", T.DoubleType()),
    T.StructField("is_location_suspect", T.BooleanType()),
]

# Coordinates are kept to 7 decimals (about 1 cm): the API's coordinates wobble beyond the 11th
# decimal between snapshots (47.867323017472 -> 47.86732301747203), and a version opens only on a
# change people care about.
COORDINATE_DECIMALS = 7

SILVER_PARTITION_COLUMNS: tuple[str, ...] = ("country", "state")

SILVER_BREWERIES_SCHEMA = T.StructType(
    [
        T.StructField("id", S),
        *_CONTENT_FIELDS,
        T.StructField("is_active", T.BooleanType()),
        T.StructField("deactivated_on", T.DateType()),
        T.StructField("first_seen_date", T.DateType()),
        T.StructField("last_seen_date", T.DateType()),
        # Snapshot date of the batch that last wrote this row: the SCD2 valid_from.
        T.StructField("changed_on", T.DateType()),
        T.StructField("batch_id", S),
        T.StructField("content_hash", S),
        T.StructField("updated_at", T.TimestampType()),
        # sha256 of the raw record (salted with silver's logic version) the row was last built
        # or confirmed from: a record with the same bytes is not parsed again. Not content, so
        # not in history; added last, so older tables gain it in place (null: parse next time).
        T.StructField("source_fingerprint", S),
    ]
)

SILVER_HISTORY_SCHEMA = T.StructType(
    [
        T.StructField("id", S),
        *_CONTENT_FIELDS,
        T.StructField("is_active", T.BooleanType()),
        T.StructField("deactivated_on", T.DateType()),
        T.StructField("batch_id", S),
        T.StructField("content_hash", S),
        T.StructField("valid_from", T.DateType()),
        T.StructField("valid_to", T.DateType()),
        T.StructField("is_current", T.BooleanType()),
        T.StructField("recorded_at", T.TimestampType()),
    ]
)

SILVER_QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("batch_id", S),
        T.StructField("page", S),
        T.StructField("raw_record", S),
        T.StructField("id", S),
        T.StructField("failed_rules", T.ArrayType(S)),
        # The logical date of the run that quarantined the record (as in applied_batches); the
        # batch's own date is `ingest_date` (added last, so older tables gain it in place).
        T.StructField("logical_date", T.DateType()),
        T.StructField("quarantined_at", T.TimestampType()),
        T.StructField("ingest_date", T.DateType()),
    ]
)

SILVER_APPLIED_BATCHES_SCHEMA = T.StructType(
    [
        T.StructField("batch_id", S),
        T.StructField("ingest_date", T.DateType()),
        T.StructField("logical_date", T.DateType()),
        T.StructField("breweries_version", T.LongType()),
        T.StructField("rows_in", T.LongType()),
        T.StructField("accepted", T.LongType()),
        T.StructField("quarantined", T.LongType()),
        T.StructField("duplicates", T.LongType()),
        T.StructField("inserted", T.LongType()),
        T.StructField("updated", T.LongType()),
        T.StructField("deactivated", T.LongType()),
        T.StructField("applied_at", T.TimestampType()),
    ]
)

SILVER_LOCATIONS_SCHEMA = T.StructType(
    [
        T.StructField("country_raw", S),
        T.StructField("state_raw", S),
        T.StructField("country", S),
        T.StructField("state", S),
        # Records with this raw pair in `batch_id`, the latest batch that changed the count.
        T.StructField("rows", T.LongType()),
        T.StructField("first_batch_id", S),
        T.StructField("first_seen_date", T.DateType()),
        T.StructField("batch_id", S),
        # The alias map (`LocationAliases.fingerprint`) the canonical pair was chosen with.
        T.StructField("alias_map_sha256", S),
    ]
)
