"""silver.job.run on a temporary lake: canonical places chosen once and kept, versions only on a
real change, the run's settings and dates. Real Spark, real Delta, real bronze batches."""

from __future__ import annotations

import datetime as dt

import pytest

from brewlake.catalog import (
    SILVER_APPLIED_BATCHES,
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_LOCATIONS,
    SILVER_QUARANTINE,
)
from brewlake.devkit.synth import generate_records
from brewlake.errors import ConfigError
from brewlake.lake import Lake
from silver import job
from tests.conftest import operations
from tests.silver.conftest import brewery, write_batch
from tests.silver.test_job import load, run, versions

DAY1, DAY2 = dt.date(2025, 3, 1), dt.date(2025, 3, 2)


def places(spark, settings, *ids):
    rows = load(spark, settings, SILVER_BREWERIES).where("is_active").collect()
    return {r.id: (r.country, r.state) for r in rows if not ids or r.id in ids}


def test_the_demo_data_reads_missouri_not_the_frequent_typo(spark, lake_settings):
    # `make demo`'s own records: "MIssouri" is the most frequent spelling among them.
    records = generate_records(3000, seed=42)
    spellings = [r["state_province"].strip() for r in records if r["state_province"]]
    assert spellings.count("MIssouri") > spellings.count("Missouri")
    write_batch(lake_settings.replace(quarantine_max_share=1.0), DAY1, records)

    run(spark, lake_settings.replace(quarantine_max_share=1.0), DAY1)
    states = {s for _, s in places(spark, lake_settings).values()}
    assert "Missouri" in states
    assert not {s for s in states if s.casefold() == "missouri"} - {"Missouri"}
    mapped = load(spark, lake_settings, SILVER_LOCATIONS).where("state = 'Missouri'").collect()
    assert {r.state_raw for r in mapped} >= {"MIssouri", "missouri", "Missouri"}
    assert sum(r.rows for r in mapped) == sum(1 for s in spellings if s.casefold() == "missouri")


def test_a_flipped_majority_moves_no_row_and_opens_no_version(spark, lake_settings):
    us = {"country": "United States", "longitude": -90.2, "latitude": 38.6}
    day1 = [
        brewery("a", **us, state_province="missouri"),
        brewery("b", **us, state_province="missouri"),
        brewery("c", **us, state_province="MISSOURI"),
    ]
    b1 = write_batch(lake_settings, DAY1, day1)
    run(spark, lake_settings, DAY1)
    assert set(places(spark, lake_settings).values()) == {("United States", "missouri")}
    files_before = set(load(spark, lake_settings, SILVER_BREWERIES).inputFiles())
    history_before = versions(spark, lake_settings)[SILVER_HISTORY]

    # Day 2: a, b, c unchanged; four new breweries make "MISSOURI" the majority, and a third
    # spelling appears. On its own this batch would pick "MISSOURI" for the place.
    new = [brewery(i, **us, state_province="MISSOURI") for i in "defg"]
    b2 = write_batch(
        lake_settings, DAY2, [*day1, *new, brewery("h", **us, state_province="Missouri")]
    )
    result = run(spark, lake_settings, DAY2)

    assert result.details["batches"][0]["actions"] == {"insert": 5}
    assert set(places(spark, lake_settings).values()) == {("United States", "missouri")}
    unchanged = load(spark, lake_settings, SILVER_BREWERIES).where("id IN ('a', 'b', 'c')")
    assert set(unchanged.inputFiles()) <= files_before  # no row of a, b, c was rewritten
    assert {r.batch_id for r in unchanged.collect()} == {b1}
    history = load(spark, lake_settings, SILVER_HISTORY)
    assert history.where("id IN ('a', 'b', 'c')").count() == 3  # one version each, still
    assert versions(spark, lake_settings)[SILVER_HISTORY] == history_before + 1  # the inserts
    book = {
        r.state_raw: (r.state, r.rows, r.first_batch_id, r.batch_id)
        for r in load(spark, lake_settings, SILVER_LOCATIONS).collect()
    }
    assert book == {
        "missouri": ("missouri", 2, b1, b1),
        "MISSOURI": ("missouri", 5, b1, b2),
        "Missouri": ("missouri", 1, b2, b2),
    }

    # The spelling comes back only with a rebuild, which chooses again from the first batch on.
    run(spark, lake_settings, DAY2, rebuild=True)
    assert set(places(spark, lake_settings).values()) == {("United States", "missouri")}


def test_places_only_new_to_the_table_are_appended_and_a_changed_count_merges(spark, lake_settings):
    us = {"country": "United States"}
    ie = {"country": "Ireland", "longitude": -6.26, "latitude": 53.35}
    day1 = [
        brewery("a", **us, state_province="Oregon"),
        brewery("b", **us, state_province="Oregon"),
        brewery("c", **ie, state_province="Dublin"),
    ]
    day2 = [*day1, brewery("d", **ie, state_province="Cork")]
    day3 = [*day2, brewery("e", **us, state_province="Oregon")]
    batches = []
    for day, records in zip(
        (DAY1, DAY2, DAY2 + dt.timedelta(days=1)), (day1, day2, day3), strict=True
    ):
        batches.append(write_batch(lake_settings, day, records))
        run(spark, lake_settings, day)

    # Days 1 and 2 name only pairs the table lacks: appends, no join with the table. Day 3
    # changes a known pair's count: a MERGE.
    location = Lake(lake_settings).table_location(SILVER_LOCATIONS)
    assert operations(spark, location) == ["CREATE TABLE", "WRITE", "WRITE", "MERGE"]
    b1, b2, b3 = batches
    book = [
        (r.country_raw, r.state_raw, r.rows, r.first_batch_id, r.batch_id)
        for r in load(spark, lake_settings, SILVER_LOCATIONS).orderBy("state_raw").collect()
    ]
    assert book == [
        ("Ireland", "Cork", 1, b2, b2),
        ("Ireland", "Dublin", 1, b1, b1),
        ("United States", "Oregon", 3, b1, b3),
    ]


def test_coordinate_noise_beyond_seven_decimals_opens_no_version(spark, lake_settings):
    def at(lat, lon, **fields):
        return brewery("a", latitude=lat, longitude=lon, **fields)

    write_batch(lake_settings, DAY1, [at(47.867323017472, -122.331234567891)])
    run(spark, lake_settings, DAY1)
    before = versions(spark, lake_settings)

    write_batch(lake_settings, DAY2, [at(47.86732301747203, "-122.33123456789")])
    result = run(spark, lake_settings, DAY2)
    after = versions(spark, lake_settings)
    # Same content from other bytes: breweries records the new fingerprint (so the record is
    # skipped unparsed next time) and nothing else; no version opens.
    assert result.details["batches"][0]["actions"] == {"refresh": 1}
    for table in (SILVER_HISTORY, SILVER_LOCATIONS):
        assert after[table] == before[table], table
    assert after[SILVER_BREWERIES] == before[SILVER_BREWERIES] + 1
    row = load(spark, lake_settings, SILVER_BREWERIES).first()
    assert (row.latitude, row.longitude, row.changed_on) == (47.867323, -122.3312346, DAY1)

    # A move of 1e-7 degrees (about 1 cm) is a change.
    write_batch(lake_settings, DAY2, [at(47.8673231, -122.3312346)])
    run(spark, lake_settings, DAY2)
    assert load(spark, lake_settings, SILVER_HISTORY).count() == 2


def test_a_changed_alias_map_asks_for_a_rebuild(spark, lake_settings, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    settings = lake_settings.replace(conf_dir=str(conf))
    write_batch(settings, DAY1, [brewery("a", country="Belgium", state_province="Flandre")])
    run(spark, settings, DAY1)
    assert places(spark, settings) == {"a": ("Belgium", "Flandre")}

    (conf / "locations.local.toml").write_text(
        '[states."Belgium"]\n"Flandre" = "Vlaanderen"\n', encoding="utf-8"
    )
    before = versions(spark, settings)
    with pytest.raises(ConfigError, match=r"alias map differs.*brewlake silver --rebuild"):
        run(spark, settings, DAY2)
    assert versions(spark, settings) == before
    run(spark, settings, DAY2, rebuild=True)
    assert places(spark, settings) == {"a": ("Belgium", "Vlaanderen")}


def test_silver_leaves_the_session_as_it_found_it_and_dates_mean_one_thing(spark, lake_settings):
    keys = (*job.RUN_CONF, *job.MERGE_CONF)
    before = {k: spark.conf.get(k, None) for k in keys}
    settings = lake_settings.replace(quarantine_max_share=0.5)
    write_batch(settings, DAY1, [brewery("a"), brewery("bad", brewery_type="mega")])
    write_batch(settings, DAY1, [brewery("a", name="A2"), brewery("bad", brewery_type="mega")])

    run(spark, settings, DAY2)  # the run's logical date is a day after the batches' ingest date

    assert {k: spark.conf.get(k, None) for k in keys} == before
    quarantine = {
        (r.ingest_date, r.logical_date) for r in load(spark, settings, SILVER_QUARANTINE).collect()
    }
    applied = {
        (r.ingest_date, r.logical_date)
        for r in load(spark, settings, SILVER_APPLIED_BATCHES).collect()
    }
    assert quarantine == applied == {(DAY1, DAY2)}
