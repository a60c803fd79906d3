"""Every silver transform and rule on inline rows, nulls and awkward values included.

Each test compares a transform's actual output frame with an expected frame written out here
(explicit schema); the table schemas from `brewlake.schemas` are used where a row must be a row of
that table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from brewlake.schemas import (
    API_FIELDS,
    SILVER_BREWERIES_SCHEMA,
    SILVER_HISTORY_SCHEMA,
    SILVER_QUARANTINE_SCHEMA,
)
from silver import transforms as tr
from silver.rules import RULE_NAMES
from tests.conftest import API_RECORD_FIELDS
from tests.silver.conftest import as_of, brewery

D0, DAY1, DAY2 = dt.date(2024, 12, 1), dt.date(2025, 1, 1), dt.date(2025, 1, 2)
AT = dt.datetime(2025, 1, 2, 3, 4, 5)
AT2 = dt.datetime(2025, 1, 3, 6, 7, 8)
BOUNDS = {"United States": (17.5, 71.5, -180.0, -64.5)}
PAGE1, PAGE2 = "page-00001.json", "page-00002.json"
S = T.StringType()

CHANGES_SCHEMA = T.StructType([*SILVER_BREWERIES_SCHEMA.fields, T.StructField("_action", S)])
VERSIONS_SCHEMA = T.StructType(
    [*SILVER_HISTORY_SCHEMA.fields, T.StructField("_has_open_version", T.BooleanType())]
)
STAGED_SCHEMA = T.StructType([*SILVER_HISTORY_SCHEMA.fields, T.StructField("_merge_key", S)])


# ---------------------------------------------------------------- inline rows
def frame(spark, schema: T.StructType, rows: list[dict[str, Any]]):
    """Rows given as dicts (missing keys are null, unknown keys an error) with `schema`."""
    names = schema.fieldNames()
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"not columns of the schema: {sorted(unknown)}")
    return spark.createDataFrame([tuple(row.get(n) for n in names) for row in rows], schema)


def silver(id_: str | None, **columns: Any) -> dict[str, Any]:
    """One silver.breweries row (as a dict): a plain active brewery first seen on DAY1."""
    return {
        "id": id_,
        "name": f"Brewery {id_}",
        "brewery_type": "micro",
        "address_1": "1 Main St",
        "address_2": None,
        "address_3": None,
        "city": "Portland",
        "state": "Oregon",
        "state_raw": "Oregon",
        "country": "United States",
        "country_raw": "United States",
        "postal_code": "97201",
        "phone": "5035550100",
        "website_url": None,
        "longitude": -122.67,
        "latitude": 45.52,
        "is_location_suspect": False,
        "is_active": True,
        "deactivated_on": None,
        "first_seen_date": DAY1,
        "last_seen_date": DAY1,
        "changed_on": DAY1,
        "batch_id": "b1",
        "content_hash": f"h-{id_}",
        "updated_at": AT,
        **columns,
    }


def history_of(row: dict[str, Any], **columns: Any) -> dict[str, Any]:
    """The current SCD2 version of a silver row: valid from its `changed_on`, still open."""
    shared = {k: v for k, v in row.items() if k in SILVER_HISTORY_SCHEMA.fieldNames()}
    return {
        **shared,
        "valid_from": row["changed_on"],
        "valid_to": None,
        "is_current": True,
        "recorded_at": AT,
        **columns,
    }


def raw(record) -> str:
    """A page element's text as bronze holds it (compact JSON, UTF-8)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def pages_df(spark, *pages):
    rows = [
        (f"s3a://b/lake/bronze/breweries/x/page-{i:05d}.json", bytearray(body.encode("utf-8")))
        for i, body in enumerate(pages, start=1)
    ]
    return spark.createDataFrame(rows, "path string, content binary")


def parse_pages(pages):
    """Page files -> the record rows (page, position, raw_record), as the job keeps them."""
    return tr.explode_pages(pages).where(tr.is_record()).select("page", "position", "raw_record")


def records_df(spark, *records, page=PAGE1):
    """Parsed records as the job builds them, from raw JSON values."""
    body = "[" + ",".join(raw(r) for r in records) + "]"
    df = parse_pages(pages_df(spark, body))
    return df.withColumn("page", F.lit(page)).transform(tr.with_parsed_record)


def _validated(spark, *records, pages=None):
    df = records_df(spark, *records).transform(tr.cleanse)
    if pages:
        df = df.withColumn(
            "page", F.element_at(F.array(*[F.lit(p) for p in pages]), F.col("position") + 1)
        )
    return (
        df.withColumn("country", F.col("country_raw"))
        .withColumn("state", F.col("state_raw"))
        .transform(tr.with_location_suspect, BOUNDS)
        .transform(tr.with_content_hash)
        .transform(tr.validate)
    )


# ---------------------------------------------------------------- parsing
def test_parse_pages_keeps_raw_text_page_and_position(spark):
    df = parse_pages(
        pages_df(
            spark,
            '[{"id":"a","x":{"y":1}}, 5, "s", null, {"name":"Bräu \\"Löwe\\""}]',
            "[]",
            '[{"id":"b"}]',
            "not json",
        )
    )
    expected = spark.createDataFrame(
        [
            (PAGE1, 0, '{"id":"a","x":{"y":1}}'),
            (PAGE1, 1, "5"),
            (PAGE1, 2, "s"),
            (PAGE1, 3, None),
            (PAGE1, 4, '{"name":"Bräu \\"Löwe\\""}'),
            ("page-00003.json", 0, '{"id":"b"}'),
        ],
        "page string, position int, raw_record string",
    )
    assertDataFrameEqual(df, expected, checkRowOrder=False)


def test_a_page_s_malformed_utf8_is_read_as_replacement_characters(spark):
    body = '[{"id":"a","name":"Br\u00e4u"},{"id":"b","name":"X"}]'.encode()
    broken = body.replace("ä".encode(), b"\xc3\x28").replace(b'"X"', b'"\xff"')
    pages = spark.createDataFrame(
        [("s3a://b/x/page-00001.json", bytearray(broken))], "path string, content binary"
    )
    texts = [r.raw_record for r in parse_pages(pages).orderBy("position").collect()]
    # As Python (and Java) decode it: each malformed byte is U+FFFD, the rest is kept.
    decoded = json.loads(broken.decode("utf-8", errors="replace"))
    assert texts == [raw(record) for record in decoded]
    assert texts[1] == '{"id":"b","name":"\ufffd"}'


def test_explode_pages_keeps_empty_and_malformed_pages_and_hashes_each_page_once(spark):
    bodies = ['[{"id":"a"}, {"id":"b"}]', "[]", "not json", '[{"name":"Bräu"}]']
    sha = [hashlib.sha256(body.encode("utf-8")).hexdigest() for body in bodies]
    exploded = tr.explode_pages(pages_df(spark, *bodies))
    expected = spark.createDataFrame(
        [
            (PAGE1, sha[0], 2, 0, '{"id":"a"}'),
            (PAGE1, None, None, 1, '{"id":"b"}'),  # the page's hash and count: first row only
            (PAGE2, sha[1], 0, None, None),
            ("page-00003.json", sha[2], 0, None, None),
            ("page-00004.json", sha[3], 1, 0, '{"name":"Bräu"}'),
        ],
        "page string, _page_sha256 string, _page_records int, position int, raw_record string",
    )
    assertDataFrameEqual(exploded, expected, checkRowOrder=False)

    expected_summary = spark.createDataFrame(
        [
            (PAGE1, sha[0], 2),
            (PAGE2, sha[1], 0),
            ("page-00003.json", sha[2], 0),
            ("page-00004.json", sha[3], 1),
        ],
        "page string, sha256 string, records long",
    )
    assertDataFrameEqual(exploded.transform(tr.page_summary), expected_summary, checkRowOrder=False)


def test_parsed_record_reads_every_api_field_as_text_and_lists_the_record_keys(spark):
    records = [
        '{"id":"a","name":"Bräu \\"Löwe\\"","longitude":-122.5,"latitude":"45.25",'
        '"phone":5035550100,"street":"1 Main St"}',
        '{"id":"b","name":null,"brand_new":1,"also_new":null}',
        "7",
        None,  # a JSON null element
        '{"id":"c","city":" Portland ","website_url":""}',
    ]
    df = spark.createDataFrame(
        [(PAGE1, i, r) for i, r in enumerate(records)],
        "page string, position int, raw_record string",
    )

    def src(**values):
        return tuple(values.get(name) for name in API_RECORD_FIELDS)

    expected = spark.createDataFrame(
        [
            (
                PAGE1,
                0,
                records[0],
                ["id", "name", "longitude", "latitude", "phone", "street"],
                # Numbers and strings alike arrive as their text.
                *src(
                    id="a",
                    name='Bräu "Löwe"',
                    longitude="-122.5",
                    latitude="45.25",
                    phone="5035550100",
                    street="1 Main St",
                ),
            ),
            (PAGE1, 1, records[1], ["id", "name", "brand_new", "also_new"], *src(id="b")),
            (PAGE1, 2, "7", None, *src()),
            (PAGE1, 3, None, None, *src()),
            (
                PAGE1,
                4,
                records[4],
                ["id", "city", "website_url"],
                *src(id="c", city=" Portland ", website_url=""),  # untouched: cleanse trims
            ),
        ],
        "page string, position int, raw_record string, _record_keys array<string>, "
        + ", ".join(f"_src_{name} string" for name in API_RECORD_FIELDS),
    )
    assertDataFrameEqual(df.transform(tr.with_parsed_record), expected, checkRowOrder=False)


def test_raw_location_profile_counts_raw_pairs_and_lists_unknown_fields(spark):
    records = spark.createDataFrame(
        [
            ("United States", "Oregon", list(API_RECORD_FIELDS)),
            ("United States", "Oregon", ["id", "brand_new", "also_new"]),
            ("United States", "Oregon", ["id", "brand_new"]),
            (None, None, None),  # not an object: no keys
            (" US", "Kärnten", ["id", "ünknown"]),
            ("United States", None, []),
        ],
        "country_raw string, state_raw string, _record_keys array<string>",
    )
    expected = spark.createDataFrame(
        [
            ("United States", "Oregon", 3, ["also_new", "brand_new"]),
            (None, None, 1, []),
            (" US", "Kärnten", 1, ["ünknown"]),
            ("United States", None, 1, []),
        ],
        "country_raw string, state_raw string, count long, unknown_fields array<string>",
    )
    assertDataFrameEqual(records.transform(tr.raw_location_profile), expected, checkRowOrder=False)


# ---------------------------------------------------------------- unchanged records
def test_the_key_read_off_the_text_is_the_id_the_parse_reads(spark):
    # Ids read off the start of the text, and ids that need the JSON parse: not first, escaped,
    # a number, null, empty, padded, missing, and a record with spaces the split does not keep.
    page = (
        '[{"id":"plain-1","name":"A"}, {"id":"Ünïcode ß","x":1}, {"name":"B","id":"second"},'
        ' {"id":"q\\"uote"}, {"id":"back\\\\slash"}, {"id":42}, {"id":null}, {"id":""},'
        ' {"id":"  padded  "}, {"name":"no id"}, {"id" : "spaced"}, {"id":"\\u0041"}]'
    )
    records = tr.explode_pages(pages_df(spark, page)).transform(tr.with_fingerprint, "s")
    parsed = records.transform(tr.with_parsed_record).transform(tr.cleanse)
    keys = [(r.position, r._key, r.id) for r in parsed.orderBy("position").collect()]
    assert [(p, k) for p, k, _ in keys] == [(p, i) for p, _, i in keys]
    assert [k for _, k, _ in keys] == [
        "plain-1",
        "Ünïcode ß",
        "second",
        'q"uote',
        "back\\slash",
        "42",
        None,
        None,
        "padded",
        None,
        "spaced",
        "A",
    ]


def test_a_record_is_unchanged_only_with_a_unique_key_and_its_active_rows_bytes(spark):
    def sha(text):
        return hashlib.sha256(f"s:{text}".encode()).hexdigest()

    kept, moved = raw(brewery(" a ")), raw(brewery("b"))
    body1 = [kept, raw(brewery("twice")), raw(brewery("twice")), raw(brewery("gone"))]
    body2 = [moved, raw(brewery("new")), raw(brewery(None)), raw(brewery("other", name="X"))]
    pages = pages_df(spark, *["[" + ",".join(body) + "]" for body in (body1, body2)])
    records = tr.explode_pages(pages).transform(tr.with_fingerprint, "s").where(tr.is_record())
    # The key is the id cleaned as `cleanse` cleans it; the fingerprint covers the salt.
    assert records.where("position = 0 AND page = 'page-00001.json'").first()._key == "a"
    assert records.first()._fingerprint == sha(kept)

    current = frame(
        spark,
        SILVER_BREWERIES_SCHEMA,
        [
            silver("a", source_fingerprint=sha(kept)),
            silver("b", source_fingerprint=sha(moved)),  # on another page than before: no matter
            silver("twice", source_fingerprint=sha(raw(brewery("twice")))),  # repeated: parsed
            silver("gone", is_active=False, source_fingerprint=sha(raw(brewery("gone")))),
            silver("other", source_fingerprint=sha(raw(brewery("other")))),  # other bytes
            silver("new"),  # a row without a fingerprint (older than them)
        ],
    )
    compared = tr.compared_with_silver(records, current)
    unchanged = compared.where("_unchanged").select(
        "page", "position", "id", "country_raw", "state_raw"
    )
    expected = spark.createDataFrame(
        [(PAGE1, 0, "a", "United States", "Oregon"), (PAGE2, 0, "b", "United States", "Oregon")],
        "page string, position int, id string, country_raw string, state_raw string",
    )
    assertDataFrameEqual(unchanged, expected, checkRowOrder=False)

    for broadcast in (True, False):
        left = tr.records_to_parse(records, compared, broadcast=broadcast)
        assertDataFrameEqual(
            left.select("page", "position"),
            records.where("NOT (position = 0)").select("page", "position"),
            checkRowOrder=False,
        )
    # Every silver row no unchanged record vouches for may change today: the repeated key,
    # the inactive row, other bytes, the row without a fingerprint.
    assertDataFrameEqual(
        tr.touched_ids(compared),
        spark.createDataFrame([("twice",), ("gone",), ("other",), ("new",)], "id string"),
        checkRowOrder=False,
    )
    # Counted in one pass, per raw place silver holds: the unchanged records (the place their
    # bytes were built from), the records to parse and the rows that may change. The record
    # without an id names no silver row, so no place; both copies of the repeated key count.
    assertDataFrameEqual(
        tr.comparison_counts(compared),
        spark.createDataFrame(
            [("United States", "Oregon", 2, 5, 5), (None, None, 0, 1, 0)],
            "country_raw string, state_raw string, count long, parsed long, touched long",
        ),
        checkRowOrder=False,
    )


# ---------------------------------------------------------------- cleansing
SOURCE_SCHEMA = T.StructType(
    [T.StructField("page", S), *[T.StructField(f"_src_{name}", S) for name in API_FIELDS]]
)

CLEANSED_SCHEMA = T.StructType(
    [
        T.StructField(name, T.DoubleType() if name in {"longitude", "latitude"} else S)
        for name in (
            "page",
            "id",
            "name",
            "brewery_type",
            "address_1",
            "address_2",
            "address_3",
            "city",
            "state_raw",
            "country_raw",
            "postal_code",
            "phone",
            "website_url",
            "_longitude_text",
            "_latitude_text",
            "longitude",
            "latitude",
        )
    ]
)


def cleansed(id_: str | None, **columns: Any) -> dict[str, Any]:
    """`cleanse`'s output for `source(id_)`'s defaults; keyword arguments override."""
    return {
        "page": PAGE1,
        "id": id_,
        "name": f"Brewery {id_}",
        "brewery_type": "micro",
        "address_1": "1 Main St",
        "city": "Portland",
        "state_raw": "Oregon",
        "country_raw": "United States",
        "postal_code": "97201",
        "phone": "5035550100",
        "_longitude_text": "-122.67",
        "_latitude_text": "45.52",
        "longitude": -122.67,
        "latitude": 45.52,
        **columns,
    }


def source(id_: str | None, **fields) -> tuple:
    """`cleanse`'s input row: one API record's fields as the text `with_parsed_record` reads."""
    record = brewery(id_, **fields)
    return (PAGE1, *[None if record[n] is None else str(record[n]) for n in API_FIELDS])


def test_clean_string_trims_what_a_unicode_regex_trims_for_every_bmp_character(spark):
    """`clean_string` trims a set of characters; the definition is Java's `(?U)\\s` at either
    end. Every character of the Basic Multilingual Plane, alone and around text, gives the same
    result both ways."""
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    texts = [text for c in chars for text in (c, f"{c}{c}x{c}", f"x{c}y")]
    df = spark.createDataFrame([(t,) for t in texts], "text string")
    by_regex = F.regexp_replace("text", r"(?U)^\s+|\s+$", "")
    expected = df.select("text", F.when(by_regex != "", by_regex).alias("clean"))
    assertDataFrameEqual(df.select("text", tr.clean_string(F.col("text")).alias("clean")), expected)


def test_cleanse_trims_nulls_empties_and_fixes_artefacts(spark):
    records = spark.createDataFrame(
        [
            source(
                " a1 ",
                name="  The\u00a0 Big   Brewery\t",
                brewery_type=" MICRO ",
                address_1="",
                street=" 9 Side St ",
                city=" Lübbenau/Spreewald ",
                state_province=None,
                state=" Oregon ",
                country=" United States",
                postal_code="55044.0",
                phone="5.551234567E9",
                website_url="   ",
                longitude=" 12.5 ",
                latitude=-45,
            ),
            source(
                "a2", postal_code="55044-", phone="(503) 555-0100", longitude=None, latitude=None
            ),
            source("a3", postal_code="01234", phone="503.0", longitude="abc", latitude="NaN"),
            source("a4", longitude="Infinity", latitude="1e1", name=None, brewery_type=None),
            # Unicode spaces only: the id is blank; an em space inside the city collapses.
            source(
                "\u3000",
                city="São\u2003 Paulo",
                state_province=None,
                state=None,
                country=None,
                postal_code=None,
                phone=None,
                longitude="",
                latitude=" ",
            ),
        ],
        SOURCE_SCHEMA,
    )
    no_coordinates = {
        "_longitude_text": None,
        "_latitude_text": None,
        "longitude": None,
        "latitude": None,
    }
    expected = frame(
        spark,
        CLEANSED_SCHEMA,
        [
            cleansed(
                "a1",
                name="The Big Brewery",
                brewery_type="micro",
                address_1="9 Side St",  # empty address_1: street instead
                city="Lübbenau/Spreewald",
                # Raw location exactly as received: the canonical columns come from these.
                state_raw=" Oregon ",
                country_raw=" United States",
                postal_code="55044",
                phone="5551234567",
                website_url=None,
                _longitude_text="12.5",
                _latitude_text="-45",
                longitude=12.5,
                latitude=-45.0,
            ),
            cleansed("a2", postal_code="55044-", phone="(503) 555-0100", **no_coordinates),
            cleansed(
                "a3",
                postal_code="01234",
                phone="503",
                **no_coordinates | {"_longitude_text": "abc", "_latitude_text": "NaN"},
            ),
            cleansed(
                "a4",
                name=None,
                brewery_type=None,
                _longitude_text="Infinity",
                _latitude_text="1e1",
                longitude=None,
                latitude=10.0,
            ),
            cleansed(
                None,
                name="Brewery",
                city="São Paulo",
                state_raw=None,
                country_raw=None,
                postal_code=None,
                phone=None,
                **no_coordinates,
            ),
        ],
    )
    assertDataFrameEqual(
        records.transform(tr.cleanse), expected, checkRowOrder=False, rtol=0, atol=0
    )


def test_coordinates_are_kept_to_seven_decimals(spark):
    raw_text = spark.createDataFrame(
        [
            ("noise-a", "47.867323017472"),
            ("noise-b", "47.86732301747203"),  # the same place, next snapshot
            ("half-up", "-122.12345675"),
            ("short", "12.5"),
            ("exponent", "1e1"),
            ("moved", "47.8673231"),  # 1 cm away: a real change
            ("text", "abc"),
            ("nan", "NaN"),
            ("infinite", "-Infinity"),
            ("null", None),
        ],
        "id string, text string",
    )
    got = raw_text.select("id", tr.to_coordinate(F.col("text")).alias("coordinate"))
    expected = spark.createDataFrame(
        [
            ("noise-a", 47.867323),
            ("noise-b", 47.867323),
            ("half-up", -122.1234568),
            ("short", 12.5),
            ("exponent", 10.0),
            ("moved", 47.8673231),
            ("text", None),
            ("nan", None),
            ("infinite", None),
            ("null", None),
        ],
        "id string, coordinate double",
    )
    assertDataFrameEqual(got, expected, checkRowOrder=False, rtol=0, atol=0)


# ---------------------------------------------------------------- location
def test_location_suspect_flags_doubtful_but_usable_coordinates(spark):
    cases = [
        ("ok", "United States", -122.6, 45.5, False),
        ("swapped", "United States", 45.5, -122.6, True),  # outside the country (and range)
        ("both-null", "United States", None, None, False),
        ("half-a-pair", "United States", -122.6, None, True),
        ("bounds-inclusive", "United States", -64.5, 71.5, False),
        ("bounds-inclusive-low", "United States", -180.0, 17.5, False),
        ("zero-zero", "Belgium", 0.0, 0.0, True),
        ("no-bounds", "Belgium", 4.4, 50.8, False),  # no bounds for Belgium here: range only
        ("lon-range", "Belgium", 181.0, 50.8, True),
        ("lat-range", "Belgium", 4.4, -90.5, True),
        ("no-country", None, 10.0, 10.0, False),
        ("diacritics", "Österreich", 14.3, 47.1, False),
    ]
    schema = "case string, country string, longitude double, latitude double"
    records = spark.createDataFrame([c[:4] for c in cases], schema)
    expected = spark.createDataFrame(cases, schema + ", is_location_suspect boolean")
    assertDataFrameEqual(
        records.transform(tr.with_location_suspect, BOUNDS), expected, checkRowOrder=False
    )


def test_canonical_location_joins_raw_pairs_null_safely(spark):
    records = spark.createDataFrame(
        [
            ("1", " US", "NSW"),
            ("2", None, None),
            ("3", "Belgium", None),
            ("4", "x", "y"),
            ("5", "Österreich", "Kärnten"),
        ],
        "id string, country_raw string, state_raw string",
    )
    mapping = spark.createDataFrame(
        [
            (" US", "NSW", "United States", "New South Wales"),
            (None, None, None, None),
            ("Belgium", None, "Belgium", None),
            ("Österreich", "Kärnten", "Austria", "Kärnten"),
        ],
        "country_raw string, state_raw string, country string, state string",
    )
    expected = spark.createDataFrame(
        [
            ("1", " US", "NSW", "United States", "New South Wales"),
            ("2", None, None, None, None),
            ("3", "Belgium", None, "Belgium", None),
            ("4", "x", "y", None, None),  # unmapped: no canonical place
            ("5", "Österreich", "Kärnten", "Austria", "Kärnten"),
        ],
        "id string, country_raw string, state_raw string, country string, state string",
    )
    assertDataFrameEqual(
        records.transform(tr.with_canonical_location, mapping), expected, checkRowOrder=False
    )


# ---------------------------------------------------------------- validation
def test_content_hash_changes_with_content_only(spark):
    df = _validated(
        spark,
        brewery("a", name="X"),
        brewery("b", name="X"),  # id is not content
        brewery("c", name="Other"),
        brewery("d", name="X", address_2=" "),  # blank == null
        brewery("e", name="X", address_2="x"),
        brewery("f", name=" X\u00a0"),  # hashed after cleansing
        brewery("g", name="X", address_2="null"),  # the text "null" is not a null
    )
    groups = df.groupBy("content_hash").agg(
        F.array_sort(F.collect_list("id")).alias("ids"),
        F.first(F.col("content_hash").rlike("^[0-9a-f]{64}$")).alias("is_sha256"),
    )
    expected = spark.createDataFrame(
        [(["a", "b", "d", "f"], True), (["c"], True), (["e"], True), (["g"], True)],
        "ids array<string>, is_sha256 boolean",
    )
    assertDataFrameEqual(groups.drop("content_hash"), expected, checkRowOrder=False)


def test_rules_name_every_failure_exactly(spark):
    df = _validated(
        spark,
        brewery("ok"),
        brewery(None, name="  "),
        brewery("t", brewery_type="megabrewery"),
        brewery("c", longitude="12,5", latitude="x"),
        brewery("n", brewery_type=None, name=None, latitude="abc"),
        5,
        brewery("u", brewery_type=" BrewPub "),  # known once trimmed and lower-cased
        brewery("dup", name="One"),
        brewery("dup", name="Two"),  # the later one wins; the first conflicts
    )
    expected = spark.createDataFrame(
        [
            (0, "ok", []),
            (1, None, ["id_missing", "name_missing"]),
            (2, "t", ["brewery_type_unknown"]),
            (3, "c", ["coordinates_unparseable"]),
            (4, "n", ["name_missing", "brewery_type_unknown", "coordinates_unparseable"]),
            (5, None, ["record_not_object", "id_missing", "name_missing", "brewery_type_unknown"]),
            (6, "u", []),
            (7, "dup", ["duplicate_id_conflict"]),
            (8, "dup", []),
        ],
        "position int, id string, failed_rules array<string>",
    )
    assertDataFrameEqual(df.select("position", "id", "failed_rules"), expected, checkRowOrder=False)
    # These rows break every declared rule at least once, and nothing else.
    fired = df.select(F.explode("failed_rules").alias("rule")).distinct()
    every_rule = spark.createDataFrame([(name,) for name in RULE_NAMES], "rule string")
    assertDataFrameEqual(fired, every_rule, checkRowOrder=False)


def test_duplicates_resolve_deterministically(spark):
    records = [
        brewery("same"),
        brewery("same"),
        brewery("conf", name="Old name"),
        brewery("conf", name="New name"),
        brewery("bad", brewery_type="nope"),
        brewery("bad"),
        brewery("late", name="On page 2"),
        brewery("late", name="On page 1"),  # a later position on an earlier page loses
        brewery(None),
        brewery(None),
    ]
    pages = [PAGE1, PAGE2, PAGE1, PAGE2, PAGE1, PAGE2, PAGE2, PAGE1, PAGE1, PAGE2]
    df = _validated(spark, *records, pages=pages)
    flags = "id string, page string, name string, failed_rules array<string>, "
    flags += "_is_duplicate_copy boolean, _is_conflicting_duplicate boolean"
    expected = spark.createDataFrame(
        [
            ("same", PAGE1, "Brewery same", [], True, False),
            ("same", PAGE2, "Brewery same", [], False, False),
            ("conf", PAGE1, "Old name", ["duplicate_id_conflict"], False, True),
            ("conf", PAGE2, "New name", [], False, False),
            # An invalid record is no duplicate of a valid one.
            ("bad", PAGE1, "Brewery bad", ["brewery_type_unknown"], False, False),
            ("bad", PAGE2, "Brewery bad", [], False, False),
            ("late", PAGE2, "On page 2", [], False, False),
            ("late", PAGE1, "On page 1", ["duplicate_id_conflict"], False, True),
            # Records without an id are not duplicates of each other.
            (None, PAGE1, "Brewery None", ["id_missing"], False, False),
            (None, PAGE2, "Brewery None", ["id_missing"], False, False),
        ],
        flags,
    )
    assertDataFrameEqual(
        df.select(
            "id",
            "page",
            "name",
            "failed_rules",
            "_is_duplicate_copy",
            "_is_conflicting_duplicate",
        ),
        expected,
        checkRowOrder=False,
    )

    expected_accepted = spark.createDataFrame(
        [
            ("same", PAGE2, "Brewery same"),
            ("conf", PAGE2, "New name"),
            ("bad", PAGE2, "Brewery bad"),
            ("late", PAGE2, "On page 2"),
        ],
        "id string, page string, name string",
    )
    assertDataFrameEqual(
        tr.select_accepted(df).select("id", "page", "name"),
        expected_accepted,
        checkRowOrder=False,
    )

    q = tr.to_quarantine_rows(df, "b1", ingest_date=DAY1, logical_date=DAY2, quarantined_at=AT)
    expected_quarantine = spark.createDataFrame(
        [
            ("b1", pages[i], raw(records[i]), records[i]["id"], rules, DAY2, AT, DAY1)
            for i, rules in [
                (2, ["duplicate_id_conflict"]),
                (4, ["brewery_type_unknown"]),
                (7, ["duplicate_id_conflict"]),
                (8, ["id_missing"]),
                (9, ["id_missing"]),
            ]
        ],
        SILVER_QUARANTINE_SCHEMA,
    )
    assertDataFrameEqual(q, expected_quarantine, checkRowOrder=False)


def test_quarantine_rows_keep_the_raw_record(spark):
    rejected = {"id": "q", "name": "Q", "brewery_type": "nope", "new_field": {"ünï": ["x", None]}}
    q = tr.to_quarantine_rows(
        _validated(spark, rejected, 5, brewery("ok")),
        "b9",
        ingest_date=DAY1,
        logical_date=DAY2,
        quarantined_at=AT,
    )
    not_object = ["record_not_object", "id_missing", "name_missing", "brewery_type_unknown"]
    expected = spark.createDataFrame(
        [
            ("b9", PAGE1, raw(rejected), "q", ["brewery_type_unknown"], DAY2, AT, DAY1),
            ("b9", PAGE1, "5", None, not_object, DAY2, AT, DAY1),
        ],
        SILVER_QUARANTINE_SCHEMA,
    )
    assertDataFrameEqual(q, expected, checkRowOrder=False)


# ---------------------------------------------------------------- silver rows
def test_to_silver_rows_shapes_accepted_records_as_table_rows(spark):
    # Accepted records as `validate` leaves them: helper columns, columns in another order.
    stamped = {
        "is_active",
        "deactivated_on",
        "first_seen_date",
        "last_seen_date",
        "changed_on",
        "batch_id",
        "updated_at",
    }
    # The fingerprint rides along as `_fingerprint` from the cheap pass over the raw record.
    made = {*stamped, "source_fingerprint"}
    carried = [f for f in SILVER_BREWERIES_SCHEMA.fields if f.name not in made]
    accepted_schema = T.StructType(
        [
            T.StructField("page", S),
            *reversed(carried),
            T.StructField("failed_rules", T.ArrayType(S)),
            T.StructField("_is_duplicate_copy", T.BooleanType()),
            T.StructField("_fingerprint", S),
        ]
    )
    a = silver("a")
    b = silver("Ö'1", name="O'Brien's Bräu", state=None, longitude=None, latitude=None)
    helpers = {"page": PAGE1, "failed_rules": [], "_is_duplicate_copy": False}
    accepted = frame(
        spark,
        accepted_schema,
        [
            {k: v for k, v in r.items() if k not in stamped} | helpers | {"_fingerprint": f"f-{i}"}
            for i, r in enumerate((a, b))
        ],
    )
    actual = tr.to_silver_rows(accepted, "b7", DAY2, AT2)
    seen = {
        "is_active": True,
        "deactivated_on": None,
        "first_seen_date": DAY2,
        "last_seen_date": DAY2,
        "changed_on": DAY2,
        "batch_id": "b7",
        "updated_at": AT2,
    }
    expected = frame(
        spark,
        SILVER_BREWERIES_SCHEMA,
        [a | seen | {"source_fingerprint": "f-0"}, b | seen | {"source_fingerprint": "f-1"}],
    )
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)


# ---------------------------------------------------------------- MERGE source
def test_changed_rows_classifies_insert_update_deactivate_reactivate(spark):
    # Unchanged rows are not rewritten, so an active row's last_seen_date may be stale (D0).
    old = {"first_seen_date": D0, "last_seen_date": D0}
    current_rows = [
        silver("same", **old),
        silver("changed", **old, content_hash="h-changed-1"),
        silver("gone", **old, name="Gone's Bräu", state=None),
        silver("back", **old, is_active=False, deactivated_on=DAY1),
        silver("kept_bad", **old),  # quarantined today: present, so not deactivated
        silver("dead", **old, is_active=False, deactivated_on=D0),  # already inactive
        silver("wobbly", **old, source_fingerprint="p1"),
    ]
    new = {
        "first_seen_date": DAY2,
        "last_seen_date": DAY2,
        "changed_on": DAY2,
        "batch_id": "b2",
        "updated_at": AT2,
    }
    incoming_rows = [
        silver("same", **new),
        silver("changed", **new, name="Renamed", content_hash="h-changed-2"),
        silver("back", **new),
        silver("new", **new),
        # Same content from other raw bytes: only the fingerprint is new.
        silver("wobbly", **new, source_fingerprint="p2"),
    ]
    current = frame(spark, SILVER_BREWERIES_SCHEMA, current_rows)
    incoming = frame(spark, SILVER_BREWERIES_SCHEMA, incoming_rows)
    present = spark.createDataFrame(
        [("same",), ("changed",), ("back",), ("new",), ("kept_bad",), ("kept_bad",), ("wobbly",)],
        "id string",
    )

    def changes_with(previous):
        return tr.changed_rows(
            incoming,
            current,
            present,
            batch_id="b2",
            snapshot_date=DAY2,
            previous_snapshot_date=previous,
            updated_at=AT2,
        )

    changes = changes_with(DAY1)
    expected_rows = [
        silver("changed", **new, name="Renamed", content_hash="h-changed-2")
        | {"first_seen_date": D0, "_action": "update"},
        silver("back", **new) | {"first_seen_date": D0, "_action": "reactivate"},
        silver("new", **new) | {"_action": "insert"},
        # The row as it was, closed: last seen in the previous snapshot.
        silver("gone", **old, name="Gone's Bräu", state=None)
        | {
            "is_active": False,
            "deactivated_on": DAY2,
            "last_seen_date": DAY1,
            "changed_on": DAY2,
            "batch_id": "b2",
            "updated_at": AT2,
            "_action": "deactivate",
        },
        # Silver's row as it was (dates and lineage too), with the new fingerprint.
        silver("wobbly", **old, source_fingerprint="p2") | {"_action": "refresh"},
    ]
    expected = frame(spark, CHANGES_SCHEMA, expected_rows)
    assertDataFrameEqual(changes, expected, checkRowOrder=False, rtol=0, atol=0)

    # Without a previous snapshot the row keeps the last_seen_date it had.
    assertDataFrameEqual(
        changes_with(None).where("_action = 'deactivate'").select("id", "last_seen_date"),
        spark.createDataFrame([("gone", D0)], "id string, last_seen_date date"),
    )

    # History from the change set equals comparing breweries (after the MERGE) with history.
    history = frame(spark, SILVER_HISTORY_SCHEMA, [history_of(r) for r in current_rows])
    columns = SILVER_BREWERIES_SCHEMA.fieldNames()
    merged = current.join(changes.select("id"), "id", "left_anti").select(*columns)
    merged = merged.unionByName(changes.select(*columns))
    from_changes = tr.history_from_changes(changes, AT2)
    assertDataFrameEqual(
        from_changes, tr.history_versions(merged, history, AT2), checkRowOrder=False
    )
    expected_versions = frame(
        spark,
        VERSIONS_SCHEMA,
        [
            history_of(
                {k: v for k, v in r.items() if k != "_action"},
                recorded_at=AT2,
                _has_open_version=r["_action"] != "insert",
            )
            for r in expected_rows
            if r["_action"] != "refresh"  # no version: the content did not change
        ],
    )
    assertDataFrameEqual(from_changes, expected_versions, checkRowOrder=False, rtol=0, atol=0)


def test_first_load_rows_are_all_inserts(spark):
    rows = [silver("a"), silver("Ö'1", name=None, longitude=None, latitude=None)]
    actual = tr.first_load_rows(frame(spark, SILVER_BREWERIES_SCHEMA, rows))
    expected = frame(spark, CHANGES_SCHEMA, [r | {"_action": "insert"} for r in rows])
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)


# ---------------------------------------------------------------- history (SCD2)
def test_history_versions_open_a_version_on_content_or_activity_change(spark):
    at_day2 = {"changed_on": DAY2, "last_seen_date": DAY2}
    breweries_rows = [
        silver("a", **at_day2, name="A2", content_hash="h-a2"),
        silver("b"),  # unchanged
        silver("c", **at_day2, name="Ç'est Bon", state=None),  # new
        silver("d", **at_day2, is_active=False, deactivated_on=DAY2),  # same content, closed
    ]
    breweries = frame(spark, SILVER_BREWERIES_SCHEMA, breweries_rows)
    history = frame(
        spark,
        SILVER_HISTORY_SCHEMA,
        [
            history_of(silver("a", content_hash="h-a1")),
            history_of(silver("b")),
            history_of(silver("d")),
        ],
    )
    a, _, c, d = breweries_rows
    expected = frame(
        spark,
        VERSIONS_SCHEMA,
        [
            history_of(a, recorded_at=AT2, _has_open_version=True),
            history_of(c, recorded_at=AT2, _has_open_version=False),
            history_of(d, recorded_at=AT2, _has_open_version=True),
        ],
    )
    actual = tr.history_versions(breweries, history, AT2)
    assertDataFrameEqual(actual, expected, checkRowOrder=False, rtol=0, atol=0)

    # First load: every row is a first version, nothing to close.
    first = tr.history_versions(breweries, history.limit(0), AT2)
    expected_first = frame(
        spark,
        VERSIONS_SCHEMA,
        [history_of(r, recorded_at=AT2, _has_open_version=False) for r in breweries_rows],
    )
    assertDataFrameEqual(first, expected_first, checkRowOrder=False, rtol=0, atol=0)


def test_staged_history_keys_a_closing_copy_of_each_open_version(spark):
    a = history_of(silver("a", changed_on=DAY2), recorded_at=AT2)
    c = history_of(silver("Ç", changed_on=DAY2, name=None), recorded_at=AT2)
    versions = frame(
        spark, VERSIONS_SCHEMA, [a | {"_has_open_version": True}, c | {"_has_open_version": False}]
    )
    expected = frame(
        spark,
        STAGED_SCHEMA,
        [a | {"_merge_key": "a"}, a | {"_merge_key": None}, c | {"_merge_key": None}],
    )
    assertDataFrameEqual(tr.staged_history(versions), expected, checkRowOrder=False)


def test_the_documented_as_of_query_is_half_open(spark):
    schema = "id string, valid_from date, valid_to date"
    timeline = spark.createDataFrame(
        [
            ("a", DAY1, DAY2),
            ("a", DAY2, None),
            ("z", DAY2, DAY2),  # empty interval: never visible
            ("z", DAY2, None),
            ("ø", None, None),  # no start: never visible
        ],
        schema,
    )
    cases = {
        DAY1: [("a", DAY1, DAY2)],
        DAY2: [("a", DAY2, None), ("z", DAY2, None)],
        dt.date(2024, 12, 31): [],
    }
    for day, rows in cases.items():
        expected = spark.createDataFrame(rows, schema)
        assertDataFrameEqual(as_of(timeline, day), expected, checkRowOrder=False)
