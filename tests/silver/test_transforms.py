"""Every silver transform and rule on inline rows, nulls and awkward values included."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from brewlake.schemas import API_FIELDS, SILVER_BREWERIES_SCHEMA, SILVER_QUARANTINE_SCHEMA
from silver import transforms as tr
from silver.rules import RULE_NAMES, RULES
from tests.silver.conftest import brewery

DAY1, DAY2 = dt.date(2025, 1, 1), dt.date(2025, 1, 2)
AT = dt.datetime(2025, 1, 2, 3, 4, 5)
BOUNDS = {"United States": (17.5, 71.5, -180.0, -64.5)}


def columns(schema: T.StructType) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def pages_df(spark, *pages):
    rows = [
        (f"s3a://b/lake/bronze/breweries/x/page-{i:05d}.json", bytearray(body.encode("utf-8")))
        for i, body in enumerate(pages, start=1)
    ]
    return spark.createDataFrame(rows, "path string, content binary")


def records_df(spark, *records, page="page-00001.json"):
    """Parsed records as the job builds them, from raw JSON values."""
    body = "[" + ",".join(json.dumps(r, ensure_ascii=False) for r in records) + "]"
    df = tr.parse_pages(pages_df(spark, body))
    return df.withColumn("page", F.lit(page)).transform(tr.with_parsed_record)


def cleansed(spark, *records):
    return records_df(spark, *records).transform(tr.cleanse)


def test_parse_pages_keeps_raw_text_page_and_position(spark):
    df = tr.parse_pages(
        pages_df(spark, '[{"id":"a","x":{"y":1}}, 5, "s"]', "[]", '[{"id":"b"}]', "not json")
    )
    rows = sorted((r.page, r.position, r.raw_record) for r in df.collect())
    assert rows == [
        ("page-00001.json", 0, '{"id":"a","x":{"y":1}}'),
        ("page-00001.json", 1, "5"),
        ("page-00001.json", 2, "s"),
        ("page-00003.json", 0, '{"id":"b"}'),
    ]


def test_explode_pages_keeps_empty_and_malformed_pages_and_hashes_each_page_once(spark):
    bodies = ['[{"id":"a"}, {"id":"b"}]', "[]", "not json"]
    exploded = tr.explode_pages(pages_df(spark, *bodies))
    rows = sorted(
        ((r.page, r.position, r._page_sha256 is not None) for r in exploded.collect()),
        key=str,
    )
    assert rows == [
        ("page-00001.json", 0, True),
        ("page-00001.json", 1, False),
        ("page-00002.json", None, True),
        ("page-00003.json", None, True),
    ]
    summary = {r.page: (r.sha256, r.records) for r in exploded.transform(tr.page_summary).collect()}
    assert summary == {
        f"page-{i:05d}.json": (hashlib.sha256(body.encode()).hexdigest(), n)
        for i, (body, n) in enumerate(zip(bodies, (2, 0, 0), strict=True), start=1)
    }


def test_parsed_record_reads_numbers_and_strings_and_reports_unknown_fields(spark):
    df = records_df(
        spark,
        brewery("a", longitude=-122.5, latitude="45.25"),
        {**brewery("b"), "brand_new": 1, "also_new": None},
        7,
    )
    got = {r["_src_id"]: (r["_src_longitude"], r["_src_latitude"]) for r in df.collect()}
    assert got["a"] == ("-122.5", "45.25")
    assert got[None] == (None, None)
    profile = df.transform(tr.cleanse).transform(tr.raw_location_profile).collect()
    got = {(r.country_raw, r.state_raw): (r["count"], r.unknown_fields) for r in profile}
    assert got == {
        (None, None): (1, []),
        ("United States", "Oregon"): (2, ["also_new", "brand_new"]),
    }
    assert set(API_FIELDS) == {f.name for f in tr.BREWERY_RECORD_SCHEMA.fields}


def test_cleanse_trims_nulls_empties_and_fixes_artefacts(spark):
    df = cleansed(
        spark,
        brewery(
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
        brewery("a2", postal_code="55044-", phone="(503) 555-0100", longitude=None, latitude=None),
        brewery("a3", postal_code="01234", phone="503.0", longitude="abc", latitude="NaN"),
        brewery("a4", longitude="Infinity", latitude="1e1", name=None, brewery_type=None),
    )
    got = {r.id: r.asDict() for r in df.collect()}
    a1 = got["a1"]
    assert a1["name"] == "The Big Brewery"
    assert a1["brewery_type"] == "micro"
    assert a1["address_1"] == "9 Side St"
    assert a1["city"] == "Lübbenau/Spreewald"
    assert (a1["state_raw"], a1["country_raw"]) == (" Oregon ", " United States")
    assert (a1["postal_code"], a1["phone"]) == ("55044", "5551234567")
    assert a1["website_url"] is None
    assert (a1["longitude"], a1["latitude"]) == (12.5, -45.0)
    assert (got["a2"]["postal_code"], got["a2"]["phone"]) == ("55044-", "(503) 555-0100")
    assert (got["a2"]["longitude"], got["a2"]["_longitude_text"]) == (None, None)
    assert (got["a3"]["postal_code"], got["a3"]["phone"]) == ("01234", "503")
    assert (got["a3"]["longitude"], got["a3"]["_longitude_text"]) == (None, "abc")
    assert (got["a3"]["latitude"], got["a3"]["_latitude_text"]) == (None, "NaN")
    assert (got["a4"]["longitude"], got["a4"]["latitude"]) == (None, 10.0)
    assert (got["a4"]["name"], got["a4"]["brewery_type"]) == (None, None)


def test_coordinates_are_kept_to_seven_decimals(spark):
    schema = "id string, text string"
    raw = spark.createDataFrame(
        [
            ("noise-a", "47.867323017472"),
            ("noise-b", "47.86732301747203"),  # the same place, next snapshot
            ("half-up", "-122.12345675"),
            ("short", "12.5"),
            ("moved", "47.8673231"),  # 1 cm away: a real change
            ("text", "abc"),
            ("null", None),
        ],
        schema,
    )
    got = raw.select("id", tr.to_coordinate(F.col("text")).alias("coordinate"))
    expected = spark.createDataFrame(
        [
            ("noise-a", 47.867323),
            ("noise-b", 47.867323),
            ("half-up", -122.1234568),
            ("short", 12.5),
            ("moved", 47.8673231),
            ("text", None),
            ("null", None),
        ],
        "id string, coordinate double",
    )
    assertDataFrameEqual(got, expected, checkRowOrder=False, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("country", "lon", "lat", "suspect"),
    [
        ("United States", -122.6, 45.5, False),
        ("United States", 45.5, -122.6, True),  # swapped: outside the country (and range)
        ("United States", None, None, False),
        ("United States", -122.6, None, True),  # half a pair
        ("Belgium", 0.0, 0.0, True),
        ("Belgium", 4.4, 50.8, False),  # no bounds for Belgium here: range check only
        ("Belgium", 181.0, 50.8, True),
        (None, 10.0, 10.0, False),
    ],
)
def test_location_suspect(spark, country, lon, lat, suspect):
    schema = "country string, longitude double, latitude double"
    df = spark.createDataFrame([(country, lon, lat)], schema)
    assert df.transform(tr.with_location_suspect, BOUNDS).first().is_location_suspect is suspect


def test_canonical_location_joins_raw_pairs_null_safely(spark):
    records = spark.createDataFrame(
        [("1", " US", "NSW"), ("2", None, None), ("3", "Belgium", None), ("4", "x", "y")],
        "id string, country_raw string, state_raw string",
    )
    mapping = spark.createDataFrame(
        [
            (" US", "NSW", "United States", "New South Wales"),
            (None, None, None, None),
            ("Belgium", None, "Belgium", None),
        ],
        "country_raw string, state_raw string, country string, state string",
    )
    expected = spark.createDataFrame(
        [
            ("1", " US", "NSW", "United States", "New South Wales"),
            ("2", None, None, None, None),
            ("3", "Belgium", None, "Belgium", None),
            ("4", "x", "y", None, None),
        ],
        "id string, country_raw string, state_raw string, country string, state string",
    )
    assertDataFrameEqual(records.transform(tr.with_canonical_location, mapping), expected)


def _validated(spark, *records, pages=None):
    df = cleansed(spark, *records)
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


def test_content_hash_changes_with_content_only(spark):
    df = _validated(
        spark,
        brewery("a", name="X"),
        brewery("b", name="X"),
        brewery("c", name="Other"),
        brewery("d", name="X", address_2=" "),
        brewery("e", name="X", address_2="x"),
    )
    h = {r.id: r.content_hash for r in df.collect()}
    assert h["a"] == h["b"] == h["d"]  # id is not content; blank == null
    assert len({h["a"], h["c"], h["e"]}) == 3


def test_rules_name_every_failure_exactly(spark):
    df = _validated(
        spark,
        brewery("ok"),
        brewery(None, name="  "),
        brewery("t", brewery_type="megabrewery"),
        brewery("c", longitude="12,5", latitude="x"),
        brewery("n", brewery_type=None, name=None, latitude="abc"),
        5,
    )
    got = {(r.id, r.raw_record[:1]): r.failed_rules for r in df.collect()}
    assert got == {
        ("ok", "{"): [],
        (None, "{"): ["id_missing", "name_missing"],
        ("t", "{"): ["brewery_type_unknown"],
        ("c", "{"): ["coordinates_unparseable"],
        ("n", "{"): ["name_missing", "brewery_type_unknown", "coordinates_unparseable"],
        (None, "5"): ["record_not_object", "id_missing", "name_missing", "brewery_type_unknown"],
    }
    assert set(RULE_NAMES) == {r.name for r in RULES}


def test_duplicates_resolve_deterministically(spark):
    df = _validated(
        spark,
        brewery("same"),
        brewery("same"),
        brewery("conf", name="Old name"),
        brewery("conf", name="New name"),
        brewery("bad", brewery_type="nope"),
        brewery("bad"),
        pages=[
            "page-00001.json",
            "page-00002.json",
            "page-00001.json",
            "page-00002.json",
            "page-00001.json",
            "page-00002.json",
        ],
    )
    rows = [(r.id, r.name, r.failed_rules, r._is_duplicate_copy) for r in df.collect()]
    assert sorted(rows) == [
        ("bad", "Brewery bad", [], False),
        ("bad", "Brewery bad", ["brewery_type_unknown"], False),
        ("conf", "New name", [], False),
        ("conf", "Old name", ["duplicate_id_conflict"], False),
        ("same", "Brewery same", [], False),
        ("same", "Brewery same", [], True),
    ]
    accepted = sorted((r.id, r.name) for r in tr.select_accepted(df).collect())
    assert accepted == [("bad", "Brewery bad"), ("conf", "New name"), ("same", "Brewery same")]
    q = tr.to_quarantine_rows(df, "b1", ingest_date=DAY1, logical_date=DAY2, quarantined_at=AT)
    assert columns(q.schema) == columns(SILVER_QUARANTINE_SCHEMA)
    rows = sorted(
        (r.id, r.page, r.failed_rules, r.ingest_date, r.logical_date) for r in q.collect()
    )
    assert rows == [
        ("bad", "page-00001.json", ["brewery_type_unknown"], DAY1, DAY2),
        ("conf", "page-00001.json", ["duplicate_id_conflict"], DAY1, DAY2),
    ]


def _silver(spark, *records, batch_id="b1", day=DAY1):
    return tr.to_silver_rows(tr.select_accepted(_validated(spark, *records)), batch_id, day, AT)


def test_to_silver_rows_has_the_table_schema(spark):
    df = _silver(spark, brewery("a"))
    assert columns(df.schema) == columns(SILVER_BREWERIES_SCHEMA)
    row = df.first()
    assert (row.is_active, row.first_seen_date, row.last_seen_date, row.batch_id) == (
        True,
        DAY1,
        DAY1,
        "b1",
    )


def test_changed_rows_classifies_insert_update_deactivate_reactivate(spark):
    current = _silver(
        spark,
        brewery("same"),
        brewery("changed"),
        brewery("gone"),
        brewery("back"),
        brewery("kept_bad"),
    )
    current = current.withColumn("is_active", F.col("id") != "back").withColumn(
        "deactivated_on", F.when(F.col("id") == "back", F.lit(DAY1))
    )
    incoming = _silver(
        spark,
        brewery("same"),
        brewery("changed", name="Renamed"),
        brewery("back"),
        brewery("new"),
        day=DAY2,
        batch_id="b2",
    )
    present = spark.createDataFrame(
        [("same",), ("changed",), ("back",), ("new",), ("kept_bad",)], "id string"
    )
    changes = tr.changed_rows(
        incoming,
        current,
        present,
        batch_id="b2",
        snapshot_date=DAY2,
        previous_snapshot_date=DAY1,
        updated_at=AT,
    )
    got = {r.id: r for r in changes.collect()}
    # "same" is unchanged and "kept_bad" was in the batch (quarantined): neither appears.
    assert {k: v._action for k, v in got.items()} == {
        "changed": "update",
        "back": "reactivate",
        "new": "insert",
        "gone": "deactivate",
    }
    assert got["changed"].first_seen_date == DAY1 and got["changed"].last_seen_date == DAY2
    assert got["new"].first_seen_date == DAY2
    assert got["back"].is_active and got["back"].deactivated_on is None
    row = got["gone"]
    assert (row.is_active, row.deactivated_on, row.last_seen_date, row.batch_id) == (
        False,
        DAY2,
        DAY1,
        "b2",
    )
    before = current.where("id = 'gone'").first()
    assert (row.name, row.content_hash, row.first_seen_date) == (
        before.name,
        before.content_hash,
        before.first_seen_date,
    )

    # History from the change set equals comparing breweries (after the MERGE) with history.
    history = tr.history_versions(current, current.limit(0), AT).drop("_has_open_version")
    columns = [f.name for f in SILVER_BREWERIES_SCHEMA.fields]
    merged = current.join(changes.select("id"), "id", "left_anti").select(*columns)
    merged = merged.unionByName(changes.select(*columns))

    def versions(df):
        keep = ("id", "name", "is_active", "valid_from", "valid_to", "_has_open_version")
        return sorted(tuple(r[k] for k in keep) for r in df.collect())

    from_changes = versions(tr.history_from_changes(changes, AT))
    assert from_changes == versions(tr.history_versions(merged, history, AT))
    assert [(v[0], v[-1]) for v in from_changes] == [
        ("back", True),
        ("changed", True),
        ("gone", True),
        ("new", False),
    ]


def test_history_versions_and_as_of(spark):
    breweries = _silver(spark, brewery("a", name="A2"), brewery("b"), brewery("c"), day=DAY2)
    first = tr.history_versions(_silver(spark, brewery("a"), brewery("b")), breweries.limit(0), AT)
    assert sorted((r.id, r._has_open_version) for r in first.collect()) == [
        ("a", False),
        ("b", False),
    ]
    history = first.drop("_has_open_version").withColumn("valid_from", F.lit(DAY1))
    versions = tr.history_versions(breweries, history, AT)
    assert sorted(
        (r.id, r.name, r.valid_from, r._has_open_version) for r in versions.collect()
    ) == [("a", "A2", DAY2, True), ("c", "Brewery c", DAY2, False)]
    staged = tr.staged_history(versions)
    assert sorted(((r.id, r._merge_key) for r in staged.collect()), key=str) == [
        ("a", "a"),
        ("a", None),
        ("c", None),
    ]
    timeline = spark.createDataFrame(
        [("a", DAY1, DAY2), ("a", DAY2, None), ("z", DAY2, DAY2), ("z", DAY2, None)],
        "id string, valid_from date, valid_to date",
    )
    assert sorted(tuple(r) for r in tr.as_of(timeline, DAY1).collect()) == [("a", DAY1, DAY2)]
    assert sorted(tuple(r) for r in tr.as_of(timeline, DAY2).collect()) == [
        ("a", DAY2, None),
        ("z", DAY2, None),
    ]
    assert tr.as_of(timeline, dt.date(2024, 12, 31)).count() == 0


def test_quarantine_rows_keep_the_raw_record(spark):
    raw = {"id": "q", "name": "Q", "brewery_type": "nope", "new_field": "x"}
    q = tr.to_quarantine_rows(
        _validated(spark, raw), "b9", ingest_date=DAY2, logical_date=DAY2, quarantined_at=AT
    ).first()
    assert json.loads(q.raw_record) == raw
    assert (q.batch_id, q.id, q.failed_rules, q.quarantined_at) == (
        "b9",
        "q",
        ["brewery_type_unknown"],
        AT,
    )


def test_schema_types_are_explicit():
    assert isinstance(SILVER_BREWERIES_SCHEMA["longitude"].dataType, T.DoubleType)
    assert isinstance(SILVER_BREWERIES_SCHEMA["updated_at"].dataType, T.TimestampType)
