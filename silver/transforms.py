"""Silver transforms: pure DataFrame -> DataFrame functions, chained by `silver.job`.

None of these reads, writes, counts or looks at the clock: dates, batch ids and timestamps are
passed in. Helper columns start with `_` and are dropped by the functions that shape the output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from brewlake.schemas import (
    API_FIELDS,
    BREWERY_RECORD_SCHEMA,
    CONTENT_COLUMNS,
    COORDINATE_DECIMALS,
    SILVER_BREWERIES_SCHEMA,
    SILVER_HISTORY_SCHEMA,
    SILVER_QUARANTINE_SCHEMA,
)
from silver.rules import failed_rules, rules_of

Bounds = tuple[float, float, float, float]

# Unicode's White_Space characters: what Java's `(?U)\s` matches (no-break and other Unicode
# spaces too). `clean_string` trims exactly these off both ends.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_INNER_SPACE = r"(?U)\s+"


# ---------------------------------------------------------------- parsing
def explode_pages(pages: DataFrame) -> DataFrame:
    """(path, content) page files -> page, position, raw_record, `_page_sha256`,
    `_page_records`: one row per array element, and one row with a null position for a page
    that holds none (an empty array, or not a JSON array at all). The page's sha256 and element
    count ride on its first row only, so the pages are read, hashed and split in one pass and
    verified from the result (`page_summary`) without grouping the records by page."""
    # The page's bytes go to the JSON parser as they are (a cast; `decode` would build a Java
    # string of every page first), and the parser reads them as UTF-8: a malformed byte becomes
    # U+FFFD, as `decode` made it.
    elements = F.from_json(F.col("content").cast("string"), T.ArrayType(T.StringType()))
    # Page-level values first, then the explode: a generator beside them would carry the page
    # bytes into every element's row (a copy of the page per record) and hash the page again
    # for each of them.
    per_page = pages.select(
        F.regexp_extract(F.col("path"), r"([^/]+)$", 1).alias("page"),
        F.sha2(F.col("content"), 256).alias("_page_sha256"),
        elements.alias("_elements"),
    )
    exploded = per_page.select(
        "page",
        "_page_sha256",
        F.coalesce(F.size(F.col("_elements")), F.lit(0)).alias("_page_records"),
        F.posexplode_outer(F.col("_elements")).alias("position", "raw_record"),
    )
    first_row = F.coalesce(F.col("position"), F.lit(0)) == 0
    return exploded.withColumns(
        {name: F.when(first_row, F.col(name)) for name in PAGE_COLUMNS}
    ).select("page", *PAGE_COLUMNS, "position", "raw_record")


# What `explode_pages` puts on a page's first row only, for `page_summary`.
PAGE_COLUMNS = ("_page_sha256", "_page_records")


def is_record() -> Column:
    """False for the placeholder row `explode_pages` keeps for a page without elements."""
    return F.col("position").isNotNull()


def page_summary(exploded: DataFrame) -> DataFrame:
    """Per page of `explode_pages` output: its sha256 and how many records it holds, read off
    its first row (no aggregation over the records)."""
    return exploded.where(F.col("_page_sha256").isNotNull()).select(
        "page",
        F.col("_page_sha256").alias("sha256"),
        F.col("_page_records").cast("long").alias("records"),
    )


def with_parsed_record(records: DataFrame) -> DataFrame:
    """Add each API field (as text) and `_record_keys`, the field names the record carries."""
    parsed = F.from_json(F.col("raw_record"), BREWERY_RECORD_SCHEMA)
    return (
        records.withColumn("_record", parsed)
        .select(
            "*",
            F.json_object_keys(F.col("raw_record")).alias("_record_keys"),
            *[F.col("_record")[name].alias(f"_src_{name}") for name in API_FIELDS],
        )
        .drop("_record")
    )


def raw_location_profile(records: DataFrame, known: tuple[str, ...] = API_FIELDS) -> DataFrame:
    """Per distinct raw (country_raw, state_raw): `count`, and `unknown_fields`, the field names
    its records carry that the schema does not know. One small aggregate answers both questions
    the job asks of a batch before validating it (location mapping and schema drift)."""
    unknown = F.filter(F.col("_record_keys"), lambda key: ~key.isin(*known))
    return records.groupBy("country_raw", "state_raw").agg(
        F.count(F.lit(1)).alias("count"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_set(unknown)))).alias("unknown_fields"),
    )


# ---------------------------------------------------------------- cleansing
def clean_string(column: Column) -> Column:
    """Trim (Unicode spaces too); empty -> null. A set trim, not a regex: it runs on every id of
    a batch and on a dozen fields of every parsed record."""
    trimmed = F.btrim(column, F.lit(WHITE_SPACE))
    return F.when(trimmed != "", trimmed)


def collapse_spaces(column: Column) -> Column:
    return F.regexp_replace(column, _INNER_SPACE, " ")


def strip_float_artefact(column: Column) -> Column:
    """`55044.0` -> `55044`, `5.551234567E9` -> `5551234567`; anything else unchanged."""
    integral = F.regexp_replace(column, r"^([0-9]+)\.0+$", "$1")
    scientific = column.try_cast("decimal(38,0)").cast("string")
    return F.when(column.rlike(r"^[0-9]\.[0-9]+[eE]\+?[0-9]+$"), scientific).otherwise(integral)


def to_coordinate(column: Column) -> Column:
    """Text -> finite double rounded to `COORDINATE_DECIMALS` (half up), else null (NaN and
    infinities are not coordinates)."""
    value = column.try_cast("double")
    finite = ~F.isnan(value) & (F.abs(value) != F.lit(float("inf")))
    return F.when(finite, F.round(value, COORDINATE_DECIMALS))


def cleanse(records: DataFrame) -> DataFrame:
    """API fields (`_src_*`) -> cleansed silver columns; raw location and coordinate text kept."""
    src = {name: F.col(f"_src_{name}") for name in API_FIELDS}
    lon_text = clean_string(src["longitude"])
    lat_text = clean_string(src["latitude"])
    return records.select(
        *[c for c in records.columns if not c.startswith("_src_")],
        clean_string(src["id"]).alias("id"),
        collapse_spaces(clean_string(src["name"])).alias("name"),
        F.lower(clean_string(src["brewery_type"])).alias("brewery_type"),
        F.coalesce(clean_string(src["address_1"]), clean_string(src["street"])).alias("address_1"),
        clean_string(src["address_2"]).alias("address_2"),
        clean_string(src["address_3"]).alias("address_3"),
        collapse_spaces(clean_string(src["city"])).alias("city"),
        # Raw exactly as received: the canonical columns come from these.
        F.coalesce(src["state_province"], src["state"]).alias("state_raw"),
        src["country"].alias("country_raw"),
        strip_float_artefact(clean_string(src["postal_code"])).alias("postal_code"),
        strip_float_artefact(clean_string(src["phone"])).alias("phone"),
        clean_string(src["website_url"]).alias("website_url"),
        lon_text.alias("_longitude_text"),
        lat_text.alias("_latitude_text"),
        to_coordinate(lon_text).alias("longitude"),
        to_coordinate(lat_text).alias("latitude"),
    )


# ---------------------------------------------------------------- unchanged records
_ID_PREFIX = '{"id":"'


def leading_id(text: Column) -> Column:
    """The id of a record's JSON `text`. `explode_pages` writes each record as compact JSON and
    the API puts `id` first, so a non-empty id without an escape (a backslash) is read off the
    text's start; any other record is read by a JSON parse (`get_json_object`), which gives the
    same value. Byte-level string functions, not a regular expression: a regex match first
    decodes the whole text into a Java string (1 M ids: 0.85–0.88 s against 1.16–1.17 s)."""
    start = len(_ID_PREFIX) + 1  # the id's first character (1-based)
    end = F.locate('"', text, start)
    candidate = text.substr(F.lit(start), end - start)
    plain = text.startswith(_ID_PREFIX) & (end > start) & ~candidate.contains("\\")
    return F.when(plain, candidate).otherwise(F.get_json_object(text, "$.id"))


def with_fingerprint(records: DataFrame, salt: str) -> DataFrame:
    """Add `_key`, the record's id read without parsing the record (cleaned as `cleanse` cleans
    the id), and `_fingerprint`, the sha256 of `salt` and the record's raw text: the cheap pass
    that decides, before any parse, which records may be unchanged."""
    text = F.col("raw_record")
    return records.withColumn("_key", clean_string(leading_id(text))).withColumn(
        "_fingerprint", F.sha2(F.concat(F.lit(f"{salt}:"), text), 256)
    )


def compared_with_silver(records: DataFrame, current: DataFrame) -> DataFrame:
    """Every record of the batch beside silver's row of its key, and every silver row no record
    names, from one full outer join by key of narrow projections: (page, position, key,
    fingerprint) of the batch against (id, fingerprint, active) of silver.breweries (`current`).
    The raw records are never shuffled.

    One row per record and per silver row left alone: page, position (null for a silver row no
    record names), `id` (the key), `_unchanged` and `_touched`, and the raw place silver holds.
    A record is `_unchanged` (no parse needed) when its key occurs once in the batch and silver
    holds that id active, built from a record with the same fingerprint. A silver row is
    `_touched` unless an unchanged record vouches for it: only touched rows can change today
    (update, reactivate, deactivate)."""
    batch = records.select("page", "position", "_key", "_fingerprint").withColumn(
        "_copies", F.count(F.lit(1)).over(Window.partitionBy("_key"))
    )
    known = current.select(
        F.col("id").alias("_key"),
        F.col("source_fingerprint").alias("_t_print"),
        F.col("is_active").alias("_t_active"),
        F.lit(True).alias("_in_silver"),
        "country_raw",
        "state_raw",
    )
    same_record = (F.col("_copies") == 1) & F.col("_t_active")
    unchanged = F.coalesce(same_record & (F.col("_fingerprint") == F.col("_t_print")), F.lit(False))
    return batch.join(known, "_key", "full_outer").select(
        "page",
        "position",
        F.col("_key").alias("id"),
        unchanged.alias("_unchanged"),
        (F.col("_in_silver").isNotNull() & ~unchanged).alias("_touched"),
        "country_raw",
        "state_raw",
    )


def is_left_to_parse() -> Column:
    """Over `compared_with_silver`: a record of the batch that is not unchanged, so parsed."""
    return is_record() & ~F.col("_unchanged")


def records_to_parse(records: DataFrame, compared: DataFrame, *, broadcast: bool) -> DataFrame:
    """`records` less the unchanged ones of `compared_with_silver`: their (page, position) are
    picked out of `records` by a semi join, broadcast when they are few (a normal day), so the
    raw records are not shuffled."""
    keys = ["page", "position"]
    left = compared.where(is_left_to_parse()).select(*keys)
    return records.join(F.broadcast(left) if broadcast else left, keys, "left_semi")


def touched_ids(compared: DataFrame) -> DataFrame:
    """The ids of silver's rows that may change today (`_touched` in `compared_with_silver`)."""
    return compared.where(F.col("_touched")).select("id").distinct()


def comparison_counts(compared: DataFrame) -> DataFrame:
    """`compared_with_silver` counted in one pass, per raw (country_raw, state_raw) silver holds:
    `count`, the unchanged records (not parsed: their raw place is the one silver's row was
    built from, as their bytes are); `parsed`, the records left to parse; `touched`, the silver
    rows that may change today. Summed over the places, the last two are the batch's totals."""
    return compared.groupBy("country_raw", "state_raw").agg(
        F.count_if(F.col("_unchanged")).alias("count"),
        F.count_if(is_left_to_parse()).alias("parsed"),
        F.count_if(F.col("_touched")).alias("touched"),
    )


# ---------------------------------------------------------------- location
def with_canonical_location(records: DataFrame, mapping: DataFrame) -> DataFrame:
    """Add canonical `country`, `state` from a (country_raw, state_raw, country, state) mapping."""
    m = F.broadcast(mapping.select("country_raw", "state_raw", "country", "state")).alias("m")
    r = records.alias("r")
    condition = F.col("r.country_raw").eqNullSafe(F.col("m.country_raw")) & F.col(
        "r.state_raw"
    ).eqNullSafe(F.col("m.state_raw"))
    return r.join(m, condition, "left").select("r.*", F.col("m.country"), F.col("m.state"))


def location_suspect(bounds: Mapping[str, Bounds]) -> Column:
    """True for usable but doubtful coordinates: half missing, out of range, 0/0, off-country."""
    lon, lat = F.col("longitude"), F.col("latitude")
    outside = F.lit(False)
    for country, (min_lat, max_lat, min_lon, max_lon) in sorted(bounds.items()):
        off = ~lat.between(min_lat, max_lat) | ~lon.between(min_lon, max_lon)
        outside = F.when(F.col("country") == country, off).otherwise(outside)
    return (
        F.when(lon.isNull() & lat.isNull(), F.lit(False))
        .when(lon.isNull() | lat.isNull(), F.lit(True))
        .when((F.abs(lat) > 90) | (F.abs(lon) > 180), F.lit(True))
        .when((lat == 0) & (lon == 0), F.lit(True))
        .otherwise(F.coalesce(outside, F.lit(False)))
    )


def with_location_suspect(records: DataFrame, bounds: Mapping[str, Bounds]) -> DataFrame:
    return records.withColumn("is_location_suspect", location_suspect(bounds))


# ---------------------------------------------------------------- validation
def with_content_hash(records: DataFrame) -> DataFrame:
    """sha256 over the content columns (nulls included), the change detector of the MERGE."""
    body = F.to_json(F.struct(*CONTENT_COLUMNS), {"ignoreNullFields": "false"})
    return records.withColumn("content_hash", F.sha2(body, 256))


def with_row_rules(records: DataFrame) -> DataFrame:
    return records.withColumn("_row_failed", failed_rules(rules_of("row")))


def with_duplicates_resolved(records: DataFrame) -> DataFrame:
    """Among valid records of one id the last (latest page, then position) wins; flag the rest.

    `_is_duplicate_copy`: same content as the winner (dropped, counted);
    `_is_conflicting_duplicate`: different content (quarantined: `duplicate_id_conflict`).

    Decided in two narrow steps, neither of which shuffles the wide rows: the ids that occur
    more than once (a count over the id alone), then, for their records only, the winner's
    place and content hash, broadcast back to the rows. A batch without repeats computes no
    content hash or rule for the decision."""
    is_valid = (F.size(F.col("_row_failed")) == 0) & F.col("id").isNotNull()
    place = F.struct(F.col("page"), F.col("position"))
    repeated_ids = (
        records.where(F.col("id").isNotNull())
        .groupBy(F.col("id").alias("_dup_id"))
        .agg(F.count(F.lit(1)).alias("_dup_n"))
        .where(F.col("_dup_n") > 1)
        .select("_dup_id")
    )
    repeats = (
        records.join(F.broadcast(repeated_ids), F.col("id") == F.col("_dup_id"), "left_semi")
        .where(is_valid)
        .groupBy(F.col("id").alias("_dup_id"))
        .agg(
            F.count(F.lit(1)).alias("_dup_n"),
            F.max(place).alias("_dup_winner"),
            F.max_by(F.col("content_hash"), place).alias("_dup_winner_hash"),
        )
        .where(F.col("_dup_n") > 1)
        .drop("_dup_n")
    )
    joined = records.join(F.broadcast(repeats), F.col("id") == F.col("_dup_id"), "left")
    loser = is_valid & F.col("_dup_winner").isNotNull() & (place != F.col("_dup_winner"))
    same = F.col("content_hash") == F.col("_dup_winner_hash")
    return joined.select(
        *[F.col(c) for c in records.columns],
        (loser & same).alias("_is_duplicate_copy"),
        (loser & ~same).alias("_is_conflicting_duplicate"),
    )


def with_failed_rules(records: DataFrame) -> DataFrame:
    """`failed_rules`: every row and batch rule the record breaks."""
    return records.withColumn(
        "failed_rules", F.concat(F.col("_row_failed"), failed_rules(rules_of("batch")))
    )


def validate(records: DataFrame) -> DataFrame:
    """Row rules, duplicate resolution and batch rules, in that order."""
    return (
        records.transform(with_row_rules)
        .transform(with_duplicates_resolved)
        .transform(with_failed_rules)
    )


def conform(records: DataFrame, mapping: DataFrame, bounds: Mapping[str, Bounds]) -> DataFrame:
    """Cleansed records (the page hash already checked) -> canonical place, doubtful coordinates
    flagged, content hash and every rule's verdict: what quarantine and the MERGE both read."""
    return (
        records.drop(*PAGE_COLUMNS)
        .transform(with_canonical_location, mapping)
        .transform(with_location_suspect, bounds)
        .transform(with_content_hash)
        .transform(validate)
    )


def is_quarantined() -> Column:
    return F.size(F.col("failed_rules")) > 0


def select_accepted(records: DataFrame) -> DataFrame:
    """Records that become silver rows: no failed rule, not a duplicate copy."""
    return records.where(~is_quarantined() & ~F.col("_is_duplicate_copy"))


def to_quarantine_rows(
    records: DataFrame,
    batch_id: str,
    *,
    ingest_date: dt.date,
    logical_date: dt.date,
    quarantined_at: dt.datetime,
) -> DataFrame:
    """Rows of silver.breweries_quarantine: one per rejected record, with every failed rule.
    `ingest_date` is the batch's date, `logical_date` the run's (as in applied_batches)."""
    return (
        records.where(is_quarantined())
        .select(
            F.lit(batch_id).alias("batch_id"),
            F.col("page"),
            F.col("raw_record"),
            F.col("id"),
            F.col("failed_rules"),
            F.lit(logical_date).alias("logical_date"),
            F.lit(quarantined_at).cast(T.TimestampType()).alias("quarantined_at"),
            F.lit(ingest_date).alias("ingest_date"),
        )
        .select(*[F.col(f.name).cast(f.dataType) for f in SILVER_QUARANTINE_SCHEMA.fields])
    )


def to_silver_rows(
    accepted: DataFrame, batch_id: str, snapshot_date: dt.date, updated_at: dt.datetime
) -> DataFrame:
    """Accepted records as silver.breweries rows seen on `snapshot_date` (active)."""
    day = F.lit(snapshot_date).cast(T.DateType())
    extra = {
        "is_active": F.lit(True),
        "deactivated_on": F.lit(None).cast(T.DateType()),
        "first_seen_date": day,
        "last_seen_date": day,
        "changed_on": day,
        "batch_id": F.lit(batch_id),
        "updated_at": F.lit(updated_at).cast(T.TimestampType()),
        "source_fingerprint": F.col("_fingerprint"),
    }
    return accepted.select(
        *[
            (extra[f.name] if f.name in extra else F.col(f.name)).cast(f.dataType).alias(f.name)
            for f in SILVER_BREWERIES_SCHEMA.fields
        ]
    )


# ---------------------------------------------------------------- MERGE source
def changed_rows(
    incoming: DataFrame,
    current: DataFrame,
    present_ids: DataFrame,
    *,
    batch_id: str,
    snapshot_date: dt.date,
    previous_snapshot_date: dt.date | None,
    updated_at: dt.datetime,
) -> DataFrame:
    """The new image of every row this full snapshot changes, with `_action`.

    insert: id not in silver; update: content hash differs; reactivate: id was inactive;
    deactivate: active id absent from the snapshot (`present_ids` holds every id of the batch,
    quarantined ones included, so a record that failed a rule never deactivates its brewery);
    refresh: same content from other raw bytes (coordinates wobbling beyond the kept decimals,
    another key order, a row older than fingerprints): silver's row as it is with the new
    `source_fingerprint` (no history version opens), so that the record is skipped unparsed
    next time. Every row carries its whole new image: the MERGE sets every column from the
    source and reads nothing of the target but its ids.
    Unchanged rows are not in the result, so the MERGE touches only files holding changed rows.
    """
    names = [f.name for f in SILVER_BREWERIES_SCHEMA.fields]
    # Silver's whole row beside each incoming one (`_t_<column>`): a refresh keeps it.
    cur = current.select("id", *[F.col(n).alias(f"_t_{n}") for n in names if n != "id"])
    new_content = F.col("_t_content_hash") != F.col("content_hash")
    action = (
        F.when(F.col("_t_content_hash").isNull(), "insert")
        .when(~F.col("_t_is_active"), "reactivate")
        .when(new_content, "update")
        .otherwise("refresh")
    )
    kept = {"id", "source_fingerprint"}
    image = {
        n: F.when(F.col("_action") == "refresh", F.col(f"_t_{n}")).otherwise(F.col(n))
        for n in names
        if n not in kept
    }
    image["first_seen_date"] = F.coalesce(F.col("_t_first_seen_date"), F.col("first_seen_date"))
    upserts = (
        incoming.join(cur, "id", "left")
        .where(
            F.col("_t_content_hash").isNull()
            | new_content
            | ~F.col("_t_is_active")
            | ~F.col("_t_source_fingerprint").eqNullSafe(F.col("source_fingerprint"))
        )
        .withColumn("_action", action)
        .select(*[image.get(n, F.col(n)).alias(n) for n in names], "_action")
    )
    day = F.lit(snapshot_date).cast(T.DateType())
    # Snapshots are full: an active row was in every snapshot up to the previous one.
    last_seen = F.coalesce(
        F.lit(previous_snapshot_date).cast(T.DateType()), F.col("last_seen_date")
    )
    deactivations = (
        current.where(F.col("is_active"))
        .join(present_ids.select("id").distinct(), "id", "left_anti")
        .withColumn("is_active", F.lit(False))
        .withColumn("deactivated_on", day)
        .withColumn("last_seen_date", last_seen)
        .withColumn("changed_on", day)
        .withColumn("batch_id", F.lit(batch_id))
        .withColumn("updated_at", F.lit(updated_at).cast(T.TimestampType()))
        .withColumn("_action", F.lit("deactivate"))
    )
    return upserts.unionByName(deactivations.select(*names, "_action"))


def first_load_rows(incoming: DataFrame) -> DataFrame:
    """`changed_rows` for an empty silver table: every accepted row is an insert."""
    columns = [f.name for f in SILVER_BREWERIES_SCHEMA.fields]
    return incoming.select(*columns, F.lit("insert").alias("_action"))


# ---------------------------------------------------------------- history (SCD2)
def history_versions(
    breweries: DataFrame, history_current: DataFrame, recorded_at: dt.datetime
) -> DataFrame:
    """New SCD2 versions: silver rows whose content or activity differs from their current
    history row (or that have none), valid from the snapshot date that changed them.

    `_has_open_version` says whether a current history row must be closed first.
    """
    h = history_current.select(
        "id", F.col("content_hash").alias("_h_hash"), F.col("is_active").alias("_h_active")
    )
    changed = breweries.join(h, "id", "left").where(
        F.col("_h_hash").isNull()
        | (F.col("_h_hash") != F.col("content_hash"))
        | (F.col("_h_active") != F.col("is_active"))
    )
    return _as_versions(changed, recorded_at, has_open_version=F.col("_h_hash").isNotNull())


def history_from_changes(changes: DataFrame, recorded_at: dt.datetime) -> DataFrame:
    """The SCD2 versions a MERGE of `changes` (from `changed_rows`) creates: each changed row is
    one new version, valid from its `changed_on`; every action but an insert closes an open one.

    Equal to `history_versions` over breweries right after that MERGE, without reading breweries
    or history: the daily cost follows the change set, not the table size. A refresh (only the
    fingerprint is new) is no version."""
    versions = changes.where(F.col("_action") != "refresh")
    return _as_versions(versions, recorded_at, has_open_version=F.col("_action") != "insert")


def _as_versions(
    rows: DataFrame, recorded_at: dt.datetime, *, has_open_version: Column
) -> DataFrame:
    """Silver rows as new current SCD2 versions (valid from `changed_on`), plus
    `_has_open_version`: whether a current version of the id must be closed first."""
    extra = {
        "valid_from": F.col("changed_on"),
        "valid_to": F.lit(None).cast(T.DateType()),
        "is_current": F.lit(True),
        "recorded_at": F.lit(recorded_at).cast(T.TimestampType()),
    }
    return rows.select(
        *[
            (extra[f.name] if f.name in extra else F.col(f.name)).cast(f.dataType).alias(f.name)
            for f in SILVER_HISTORY_SCHEMA.fields
        ],
        has_open_version.alias("_has_open_version"),
    )


def staged_history(versions: DataFrame) -> DataFrame:
    """The classic SCD2 MERGE source: a keyed copy closes the open version, a keyless copy
    (`_merge_key` null never matches) inserts the new one."""
    close = versions.where(F.col("_has_open_version")).withColumn("_merge_key", F.col("id"))
    insert = versions.withColumn("_merge_key", F.lit(None).cast(T.StringType()))
    return close.unionByName(insert).drop("_has_open_version")
