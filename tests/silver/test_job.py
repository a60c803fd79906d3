"""silver.job.run end to end on a temporary lake: idempotency, day-2 semantics, quarantine,
the threshold, crash recovery and rebuild. Real Spark, real Delta, real bronze batches."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from brewlake import delta
from brewlake.catalog import (
    SILVER_APPLIED_BATCHES,
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_LOCATIONS,
    SILVER_QUARANTINE,
)
from brewlake.errors import QualityBreach
from brewlake.lake import Lake
from silver import job, merge
from tests.conftest import held_rdds
from tests.silver.conftest import as_of, brewery, write_batch

DAY1, DAY2, DAY3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)
TABLES = job.SILVER_TABLES


def run(spark, settings, day, **args):
    return job.run(spark, settings, day, argparse.Namespace(**args))


def load(spark, settings, table):
    return spark.read.format("delta").load(Lake(settings).table_location(table))


def versions(spark, settings):
    return {t: delta.version(spark, Lake(settings).table_location(t)) for t in TABLES}


def files(spark, settings, table=SILVER_BREWERIES):
    return set(load(spark, settings, table).inputFiles())


def partition_files(paths, folder):
    return {p for p in paths if f"/{folder}/" in p}


US = {"country": "United States"}
DAY1_RECORDS = [
    brewery("a", **US, state_province="Oregon"),
    brewery("b", **US, state_province=" oregon"),
    brewery("c", **US, state_province="Oregon"),
    brewery("d", country="Belgium", state_province="Flanders", longitude=4.4, latitude=51.0),
    brewery("e", country="Belgium", state_province="Région flamande", longitude=4.4, latitude=51.0),
    brewery("f", **US, state_province="MIssouri", longitude=-90.2, latitude=38.6),
    brewery("g", **US, state_province="Missouri", longitude=-90.2, latitude=38.6),
    brewery("h", **US, state_province="Missouri", longitude=-90.2, latitude=38.6),
]


def test_idempotent_rerun_and_day2_semantics(spark, lake_settings):
    settings = lake_settings.replace(quarantine_max_share=0.2)
    page1, page2 = DAY1_RECORDS[:4], [*DAY1_RECORDS[4:], DAY1_RECORDS[0]]  # "a" twice, identical
    b1 = write_batch(settings, DAY1, page1, page2)

    # ---- day 1
    r1 = run(spark, settings, DAY1)
    assert (r1.rows_in, r1.rows_out, r1.quarantined, r1.duplicates) == (9, 8, 0, 1)
    assert r1.batch_ids == [b1]
    silver = {r.id: r for r in load(spark, settings, SILVER_BREWERIES).collect()}
    assert sorted(silver) == list("abcdefgh")
    assert {(r.country, r.state) for r in silver.values()} == {
        ("United States", "Oregon"),
        ("United States", "Missouri"),
        ("Belgium", "Vlaanderen"),
    }
    assert (silver["b"].state, silver["b"].state_raw) == ("Oregon", " oregon")
    day1_files = files(spark, settings)
    assert len(day1_files) == 3  # one file per touched partition
    assert load(spark, settings, SILVER_HISTORY).where("is_current").count() == 8
    assert [c.rule for c in r1.checks] == ["quarantine_share"] and r1.checks[0].passed

    # ---- the same batches again: nothing is written anywhere
    before = versions(spark, settings)
    r2 = run(spark, settings, DAY1)
    assert versions(spark, settings) == before
    assert files(spark, settings) == day1_files
    assert (r2.rows_in, r2.rows_out, r2.batch_ids) == (0, 0, [])
    assert load(spark, settings, SILVER_BREWERIES).count() == 8

    # ---- day 2: b changed, c vanished, h quarantined (kept as it was), i new
    day2 = [
        DAY1_RECORDS[0],
        brewery("b", **US, state_province="Oregon", name="B renamed"),
        *DAY1_RECORDS[3:7],
        brewery("h", **US, state_province="Missouri", longitude="not a number"),
        brewery("i", **US, state_province="Colorado", longitude=-105.0, latitude=39.7),
    ]
    b2 = write_batch(settings, DAY2, day2)
    held = held_rdds(spark)
    r3 = run(spark, settings, DAY2)
    assert held_rdds(spark) == held  # every cache and checkpoint of the batch released
    assert (r3.rows_in, r3.quarantined, r3.rows_out) == (8, 1, 3)
    assert r3.details["batches"][0]["actions"] == {"insert": 1, "update": 1, "deactivate": 1}
    silver = {r.id: r for r in load(spark, settings, SILVER_BREWERIES).collect()}
    assert len(silver) == 9
    assert (silver["b"].name, silver["b"].first_seen_date, silver["b"].last_seen_date) == (
        "B renamed",
        DAY1,
        DAY2,
    )
    c = silver["c"]
    assert (c.is_active, c.deactivated_on, c.last_seen_date, c.batch_id) == (False, DAY2, DAY1, b2)
    assert (silver["h"].is_active, silver["h"].batch_id, silver["h"].longitude) == (True, b1, -90.2)
    assert (silver["i"].first_seen_date, silver["i"].state) == (DAY2, "Colorado")
    day2_files = files(spark, settings)
    # Untouched partitions keep their files; touched ones get exactly one new file each, and
    # their old file is not rewritten: a deletion vector hides the replaced rows.
    assert partition_files(day2_files, "state=Missouri") == partition_files(
        day1_files, "state=Missouri"
    )
    assert partition_files(day2_files, "state=Vlaanderen") == partition_files(
        day1_files, "state=Vlaanderen"
    )
    oregon_before = partition_files(day1_files, "state=Oregon")
    oregon_after = partition_files(day2_files, "state=Oregon")
    assert oregon_before < oregon_after and len(oregon_after - oregon_before) == 1
    assert len(day2_files) == 5

    history = load(spark, settings, SILVER_HISTORY)
    assert history.count() == 11  # 8 + b's new version + c's deactivation + i
    on_day1 = {r.id: r for r in as_of(history, DAY1).collect()}
    on_day2 = {r.id: r for r in as_of(history, DAY2).collect()}
    assert len(on_day1) == 8 and on_day1["b"].name == "Brewery b" and on_day1["c"].is_active
    assert len(on_day2) == 9 and on_day2["b"].name == "B renamed" and not on_day2["c"].is_active
    closed = history.where("id = 'b' AND NOT is_current").first()
    assert (closed.valid_from, closed.valid_to) == (DAY1, DAY2)
    quarantine = load(spark, settings, SILVER_QUARANTINE).collect()
    assert [(q.id, q.failed_rules, q.batch_id) for q in quarantine] == [
        ("h", ["coordinates_unparseable"], b2)
    ]

    # ---- day 3: c returns unchanged, h is valid again with its day-1 content
    day3 = [*DAY1_RECORDS[:1], day2[1], *DAY1_RECORDS[2:], day2[-1]]
    write_batch(settings, DAY3, day3)
    r4 = run(spark, settings, DAY3)
    assert r4.details["batches"][0]["actions"] == {"reactivate": 1}
    c = load(spark, settings, SILVER_BREWERIES).where("id = 'c'").first()
    assert (c.is_active, c.deactivated_on, c.first_seen_date, c.last_seen_date) == (
        True,
        None,
        DAY1,
        DAY3,
    )
    assert load(spark, settings, SILVER_HISTORY).where("id = 'c'").count() == 3

    # ---- bronze ran again: a new batch with the very same data writes no data files
    before, day3_files = versions(spark, settings), files(spark, settings)
    write_batch(settings, DAY3, day3)
    r5 = run(spark, settings, DAY3)
    after = versions(spark, settings)
    assert (r5.rows_in, r5.rows_out) == (9, 0)
    assert files(spark, settings) == day3_files
    for table in (SILVER_BREWERIES, SILVER_HISTORY, SILVER_QUARANTINE, SILVER_LOCATIONS):
        assert after[table] == before[table], table
    assert load(spark, settings, SILVER_APPLIED_BATCHES).count() == 4  # b1, b2, b3, b3 again


def test_a_first_run_of_two_batches_compares_the_second_with_the_first(spark, lake_settings):
    """On an empty lake the first batch is a first load, known from the tables the run just
    created (no Delta read); the second batch of the same run is compared with it as any day."""
    b1 = write_batch(lake_settings, DAY1, DAY1_RECORDS[:4])
    renamed = brewery("b", **US, state_province="Oregon", name="B renamed")
    b2 = write_batch(lake_settings, DAY2, [DAY1_RECORDS[0], renamed, DAY1_RECORDS[3]])

    result = run(spark, lake_settings, DAY2)

    assert result.batch_ids == [b1, b2]
    assert [b["actions"] for b in result.details["batches"]] == [
        {"insert": 4},
        {"update": 1, "deactivate": 1},
    ]
    silver = load(spark, lake_settings, SILVER_BREWERIES).select("id", "name", "is_active")
    assert sorted(silver.collect()) == [
        ("a", "Brewery a", True),
        ("b", "B renamed", True),
        ("c", "Brewery c", False),
        ("d", "Brewery d", True),
    ]
    assert load(spark, lake_settings, SILVER_HISTORY).count() == 6  # 4 + b's and c's versions
    places = load(spark, lake_settings, SILVER_LOCATIONS).select("country_raw", "state_raw")
    # Each raw pair once: batch 2 brings none that batch 1 did not (Oregon, " oregon", Flanders).
    assert places.count() == places.distinct().count() == 3


def test_quarantine_reasons_and_threshold_stop_the_merge(spark, lake_settings):
    records = [brewery(f"ok{i}") for i in range(8)] + [
        brewery("bad", brewery_type="mega", latitude="north"),
        {"name": "no id", "brewery_type": "micro", "unexpected": True},
    ]
    batch = write_batch(lake_settings, DAY1, records)
    held = held_rdds(spark)
    with pytest.raises(QualityBreach, match=r"2 of 10 records quarantined \(20\.0%\)") as err:
        run(spark, lake_settings, DAY1)
    assert held_rdds(spark) == held  # the refused batch's frames released
    assert [(c.rule, c.passed, c.observed) for c in err.value.checks] == [
        ("quarantine_share", False, 0.2)
    ]
    assert load(spark, lake_settings, SILVER_BREWERIES).count() == 0  # nothing merged
    assert delta.version(spark, Lake(lake_settings).table_location(SILVER_BREWERIES)) == 0
    reasons = {
        r.id: (r.failed_rules, r.page, json.loads(r.raw_record))
        for r in load(spark, lake_settings, SILVER_QUARANTINE).collect()
    }
    assert reasons == {
        "bad": (
            ["brewery_type_unknown", "coordinates_unparseable"],
            "page-00001.json",
            records[8],
        ),
        None: (["id_missing"], "page-00001.json", records[9]),
    }

    # Raising the limit lets the same batch through; its quarantine rows are not duplicated.
    result = run(spark, lake_settings.replace(quarantine_max_share=0.25), DAY1)
    assert result.batch_ids == [batch] and result.quarantined == 2
    assert result.details["unknown_fields"] == ["unexpected"]
    assert load(spark, lake_settings, SILVER_BREWERIES).count() == 8
    assert load(spark, lake_settings, SILVER_QUARANTINE).count() == 2


class Crash(RuntimeError):
    """The process dying at a given point of a run."""


def run_dying_at(spark, settings, day, monkeypatch, owner, name: str, where: str) -> dict:
    """Run `day` with the process dying at `owner.name` (that call raises Crash instead: fault
    injection at that seam only, everything else runs as in production); the table versions
    the crashed run left."""

    def die(*args, **kwargs):
        raise Crash(where)

    with monkeypatch.context() as patch, pytest.raises(Crash):
        patch.setattr(owner, name, die)
        run(spark, settings, day)
    return versions(spark, settings)


def test_crash_after_data_commit_neither_double_applies_nor_skips(
    spark, lake_settings, monkeypatch
):
    write_batch(lake_settings, DAY1, DAY1_RECORDS)
    run(spark, lake_settings, DAY1)
    day2 = [brewery("a", name="A2"), *DAY1_RECORDS[1:]]
    b2 = write_batch(lake_settings, DAY2, day2)
    before = versions(spark, lake_settings)

    # The job dies for real right after the breweries commit: the history write that follows it
    # raises instead.
    crashed = run_dying_at(
        spark,
        lake_settings,
        DAY2,
        monkeypatch,
        merge,
        "record_history",
        "killed after the breweries commit, before history and the audit row",
    )
    assert crashed[SILVER_BREWERIES] == before[SILVER_BREWERIES] + 1  # the data commit landed
    assert crashed[SILVER_HISTORY] == before[SILVER_HISTORY]  # bookkeeping did not
    assert crashed[SILVER_APPLIED_BATCHES] == before[SILVER_APPLIED_BATCHES]

    held = held_rdds(spark)
    result = run(spark, lake_settings, DAY2)
    assert held_rdds(spark) == held  # the repair's checkpoint released
    after = versions(spark, lake_settings)
    assert result.batch_ids == []  # recognised as applied
    assert after[SILVER_BREWERIES] == crashed[SILVER_BREWERIES]  # not applied twice
    applied = load(spark, lake_settings, SILVER_APPLIED_BATCHES).orderBy("ingest_date").collect()
    assert [(a.ingest_date, a.updated) for a in applied] == [(DAY1, 0), (DAY2, 1)]
    assert applied[1].batch_id == b2
    history = load(spark, lake_settings, SILVER_HISTORY)
    assert history.count() == 9 and history.where("is_current").count() == 8
    assert as_of(history, DAY2).where("id = 'a'").first().name == "A2"
    assert as_of(history, DAY1).where("id = 'a'").first().name == "Brewery a"

    # --rebuild reprocesses every batch from bronze and reaches the same state.
    state = sorted(
        (r.id, r.content_hash, r.is_active, r.first_seen_date)
        for r in load(spark, lake_settings, SILVER_BREWERIES).collect()
    )
    rebuilt = run(spark, lake_settings, DAY2, rebuild=True)
    assert len(rebuilt.batch_ids) == 2
    assert state == sorted(
        (r.id, r.content_hash, r.is_active, r.first_seen_date)
        for r in load(spark, lake_settings, SILVER_BREWERIES).collect()
    )
    assert load(spark, lake_settings, SILVER_HISTORY).count() == 9
    assert load(spark, lake_settings, SILVER_APPLIED_BATCHES).count() == 2
    assert load(spark, lake_settings, SILVER_BREWERIES).where(F.col("is_active")).count() == 8


def _no_audit_read(*args, **kwargs):
    raise AssertionError("the audit table was read although silver.state was settled")


def test_a_run_after_a_settled_state_takes_its_position_without_reading_the_audit(
    spark, lake_settings, monkeypatch
):
    write_batch(lake_settings, DAY1, DAY1_RECORDS)
    run(spark, lake_settings, DAY1)
    b2 = write_batch(lake_settings, DAY2, [brewery("a", name="A2"), *DAY1_RECORDS[1:]])

    monkeypatch.setattr(merge, "applied_positions", _no_audit_read)
    result = run(spark, lake_settings, DAY2)
    assert result.batch_ids == [b2]
    assert run(spark, lake_settings, DAY2).batch_ids == []  # settled again: nothing pending
    applied = load(spark, lake_settings, SILVER_APPLIED_BATCHES).orderBy("ingest_date").collect()
    assert [(a.ingest_date, a.updated) for a in applied] == [(DAY1, 0), (DAY2, 1)]


def test_a_crash_between_audit_row_and_state_does_not_apply_the_batch_again(
    spark, lake_settings, monkeypatch
):
    """A batch that changes nothing (the same records on other pages) commits no breweries
    version, so only the audit table shows that it was applied."""
    write_batch(lake_settings, DAY1, DAY1_RECORDS)
    run(spark, lake_settings, DAY1)
    b2 = write_batch(lake_settings, DAY2, DAY1_RECORDS[:4], DAY1_RECORDS[4:])
    before = versions(spark, lake_settings)

    crashed = run_dying_at(
        spark,
        lake_settings,
        DAY2,
        monkeypatch,
        job,
        "record_state",
        "killed after the audit row, before silver.state",
    )
    assert crashed[SILVER_BREWERIES] == before[SILVER_BREWERIES]  # nothing changed
    assert crashed[SILVER_APPLIED_BATCHES] == before[SILVER_APPLIED_BATCHES] + 1

    assert run(spark, lake_settings, DAY2).batch_ids == []  # recognised as applied
    assert versions(spark, lake_settings) == crashed
    applied = load(spark, lake_settings, SILVER_APPLIED_BATCHES).orderBy("ingest_date").collect()
    assert [a.batch_id for a in applied][1:] == [b2]


def test_a_first_load_parses_its_pages_in_the_reading_pass_and_leaves_empty_pages_out(
    spark, lake_settings
):
    """A first load reads, verifies and parses its pages in one cached pass (`read_verified`):
    an empty page is verified by its placeholder row, which reaches neither silver nor
    quarantine."""
    from brewlake.batches import list_batches
    from brewlake.frames import holding
    from brewlake.storage import open_store

    write_batch(lake_settings, DAY1, [brewery("a"), brewery("b")], [], [brewery("c")])
    (batch,) = list_batches(open_store(lake_settings), Lake(lake_settings))
    held = held_rdds(spark)
    with holding() as hold:
        level = job.storage_level(batch)
        read = job.read_verified(spark, lake_settings, batch, level, hold, parse=True)
        assert read.storageLevel.useMemory  # computed once, by the manifest check
        rows = read.select("page", "position", "id").collect()
        assert sorted((r.page, r.position, r.id) for r in rows) == [
            ("page-00001.json", 0, "a"),
            ("page-00001.json", 1, "b"),
            ("page-00002.json", None, None),  # the empty page's placeholder
            ("page-00003.json", 0, "c"),
        ]
    assert held_rdds(spark) == held

    result = run(spark, lake_settings, DAY1)
    assert (result.rows_in, result.rows_out) == (3, 3)
    assert sorted(r.id for r in load(spark, lake_settings, SILVER_BREWERIES).collect()) == [
        "a",
        "b",
        "c",
    ]
    assert load(spark, lake_settings, SILVER_QUARANTINE).count() == 0
    assert held_rdds(spark) == held


def test_a_first_load_inserts_exactly_its_accepted_records_and_counts_them(spark, lake_settings):
    """A first load's change set is its accepted records (no silver row to compare with): the
    appends read them off the validated records, and the marker counts them from the batch's
    counts. A duplicate copy, a conflicting duplicate and a broken record stay out."""
    from brewlake.storage import open_store

    records = [
        brewery("a"),
        brewery("b"),
        brewery("b"),  # the same record twice: one copy dropped, counted as a duplicate
        brewery("c", name="First C"),  # loses to the later, different record: quarantined
        brewery("bad", brewery_type="mega"),
        brewery("c", name="Last C"),
    ]
    write_batch(lake_settings, DAY1, records)
    held = held_rdds(spark)
    result = run(spark, lake_settings.replace(quarantine_max_share=0.5), DAY1)
    assert held_rdds(spark) == held

    assert (result.rows_in, result.rows_out, result.quarantined) == (6, 3, 2)
    rows = load(spark, lake_settings, SILVER_BREWERIES).select("id", "name", "is_active")
    assert sorted(rows.collect()) == [
        ("a", "Brewery a", True),
        ("b", "Brewery b", True),
        ("c", "Last C", True),
    ]
    history = load(spark, lake_settings, SILVER_HISTORY).select("id", "is_current", "valid_to")
    assert sorted(history.collect()) == [("a", True, None), ("b", True, None), ("c", True, None)]
    quarantined = load(spark, lake_settings, SILVER_QUARANTINE).select("id", "failed_rules")
    assert sorted(quarantined.collect()) == [
        ("bad", ["brewery_type_unknown"]),
        ("c", ["duplicate_id_conflict"]),
    ]
    key = Lake(lake_settings).table_key(SILVER_BREWERIES)
    marker, _ = merge.last_marker(open_store(lake_settings), key)
    assert (marker.rows_in, marker.accepted, marker.inserted) == (6, 3, 3)
    assert (marker.duplicates, marker.quarantined, marker.updated) == (1, 2, 0)


def test_a_changed_or_unlisted_page_stops_the_batch_before_anything_is_written(
    spark, lake_settings
):
    from brewlake.batches import BatchError, list_batches
    from brewlake.storage import open_store

    write_batch(lake_settings, DAY1, [brewery("a")], [brewery("b")])
    (batch,) = list_batches(open_store(lake_settings), Lake(lake_settings))
    root = Path(lake_settings.spark_lake_root) / batch.key
    page2 = root / "page-00002.json"
    original = page2.read_bytes()

    page2.write_bytes(json.dumps([brewery("b", name="Tampered")]).encode())  # same count
    held = held_rdds(spark)
    with pytest.raises(BatchError, match=r"page page-00002\.json: found sha256=.* records=1"):
        run(spark, lake_settings, DAY1)
    assert held_rdds(spark) == held  # the pages read and refused are released

    page2.write_bytes(original)
    (root / "page-00003.json").write_bytes(json.dumps([brewery("smuggled")]).encode())
    with pytest.raises(BatchError, match=r"pages its manifest does not list: page-00003\.json"):
        run(spark, lake_settings, DAY1)
    assert load(spark, lake_settings, SILVER_BREWERIES).count() == 0
