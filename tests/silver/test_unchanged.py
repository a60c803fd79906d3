"""A day whose API content equals the last applied batch's: decided from the manifests before a
Spark session starts; nothing is committed on silver or gold, and the next day's diff is taken
against the right batch. Real Spark and Delta for the days that need them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import replace

import pytest
from pyspark import StorageLevel
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from brewlake import delta
from brewlake.batches import list_batches
from brewlake.catalog import SILVER_BREWERIES, SILVER_HISTORY
from brewlake.lake import Lake
from brewlake.runtime.pipeline import run_pipeline
from brewlake.schemas import SILVER_BREWERIES_SCHEMA, SILVER_PARTITION_COLUMNS
from brewlake.storage import open_store
from silver import job
from silver import state as applied_state
from tests.silver.conftest import brewery, write_batch

DAY1, DAY2, DAY3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)
RECORDS = [brewery(i, country="United States", state_province="Oregon") for i in "abcdef"]
NO_REBUILD = argparse.Namespace(rebuild=False)


class NoSpark:
    """Stands in for the session: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"Spark was used ({name}) on a day that needs none")


def commits(settings, database: str) -> dict[str, int]:
    """Commits per table of `database` in the local lake, from the Delta logs."""
    root = Lake(settings).database_location(database)
    from pathlib import Path

    return {
        table.name: len(list(delta.log_commits(table)))
        for table in sorted(Path(root).iterdir())
        if (table / delta.LOG_DIR).is_dir()
    }


def test_unchanged_api_day_runs_without_spark_and_commits_nothing(spark, lake_settings):
    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records

    records = generate_records(300, seed=5)
    with serve_in_thread(records) as server:
        settings = lake_settings.replace(api_url=server.url)
        day1 = run_pipeline(settings, DAY1, spark=spark)
        assert [(o.layer, o.error) for o in day1] == [("bronze", ""), ("silver", ""), ("gold", "")]
        before = {db: commits(settings, db) for db in ("silver", "gold")}
        assert before["gold"] and before["silver"]["breweries"] >= 2

        day2 = run_pipeline(settings, DAY2, spark=NoSpark())
    assert [(o.layer, o.error) for o in day2] == [("bronze", ""), ("silver", ""), ("gold", "")]
    bronze, silver, gold = (o.result for o in day2)
    assert silver.details["spark"] is False and gold.details["spark"] is False
    assert silver.batch_ids == bronze.batch_ids
    assert silver.details["unchanged"] == [
        {"batch_id": bronze.batch_ids[0], "same_as": day1[0].result.batch_ids[0]}
    ]
    assert (silver.rows_in, silver.rows_out, gold.details["skipped"]) == (300, 0, True)
    assert {db: commits(settings, db) for db in ("silver", "gold")} == before


def test_after_an_unchanged_batch_the_next_diff_is_against_it(spark, lake_settings):
    settings, store, lake = lake_settings, open_store(lake_settings), Lake(lake_settings)
    b1 = write_batch(settings, DAY1, RECORDS[:3], RECORDS[3:])
    assert job.plan_without_spark(settings, DAY1, NO_REBUILD) is None  # nothing applied yet
    assert job.run(spark, settings, DAY1, NO_REBUILD).batch_ids == [b1]
    breweries = Lake(settings).table_location(SILVER_BREWERIES)
    version = delta.version(spark, breweries)

    # Day 2: the same pages. Recorded without Spark, no commit.
    b2 = write_batch(settings, DAY2, RECORDS[:3], RECORDS[3:])
    unchanged = job.plan_without_spark(settings, DAY2, NO_REBUILD)
    assert unchanged is not None
    r2 = unchanged(None, settings, DAY2, NO_REBUILD)
    assert r2.batch_ids == [b2] and r2.details["unchanged"] == [{"batch_id": b2, "same_as": b1}]
    assert delta.version(spark, breweries) == version
    assert applied_state.read(store, lake).position == (DAY2, b2)
    # Re-running day 2 finds nothing to do, still without Spark.
    again = job.plan_without_spark(settings, DAY2, NO_REBUILD)
    assert again(None, settings, DAY2, NO_REBUILD).batch_ids == []
    # A rebuild always goes through Spark.
    assert job.plan_without_spark(settings, DAY2, argparse.Namespace(rebuild=True)) is None
    # A state that no longer describes breweries (a crash before it was written, a manual
    # commit), or a stricter quarantine limit than the batch passed with: Spark decides.
    recorded = applied_state.read(store, lake)
    for stale in (
        replace(recorded, breweries_version=version - 1),
        replace(recorded, quarantine_share=settings.quarantine_max_share + 0.01),
    ):
        applied_state.write(store, lake, stale)
        assert job.plan_without_spark(settings, DAY2, NO_REBUILD) is None
    applied_state.write(store, lake, recorded)

    # Day 3: "c" vanished, "a" changed. Spark applies day 3 only, against day 2's snapshot.
    day3 = [brewery("a", country="United States", state_province="Oregon", name="A2"), RECORDS[1]]
    b3 = write_batch(settings, DAY3, day3, RECORDS[3:])
    assert job.plan_without_spark(settings, DAY3, NO_REBUILD) is None
    r3 = job.run(spark, settings, DAY3, NO_REBUILD)
    assert r3.batch_ids == [b3]
    assert r3.details["batches"][0]["actions"] == {"update": 1, "deactivate": 1}
    rows = {r.id: r for r in delta.read(spark, breweries).collect()}
    c = rows["c"]
    assert (c.is_active, c.last_seen_date, c.deactivated_on) == (False, DAY2, DAY3)
    history = delta.read(spark, Lake(settings).table_location(SILVER_HISTORY))
    assert history.where("id = 'a'").count() == 2  # one new version for day 3's change only
    assert applied_state.read(store, lake).position == (DAY3, b3)


# ---------------------------------------------------------------- records skipped by fingerprint
def oregon(i: int, **fields) -> dict:
    return brewery(f"id-{i:03d}", country="United States", state_province="Oregon", **fields)


def history_ids(spark, location) -> dict[str, int]:
    """SCD2 versions per id."""
    rows = delta.read(spark, location).groupBy("id").count().collect()
    return {r["id"]: r["count"] for r in rows}


def applied(result) -> dict:
    """The one batch a run applied, as its result records it (marker fields and actions)."""
    (batch,) = result.details["batches"]
    return batch


@pytest.mark.parametrize(
    ("memory_budget", "level"),
    [(job.MEMORY_CACHE_MAX_BYTES, StorageLevel.MEMORY_AND_DISK), (0, StorageLevel.DISK_ONLY)],
    ids=["in-memory", "disk-only"],
)
def test_a_day_parses_only_the_records_that_changed(
    spark, lake_settings, monkeypatch, memory_budget, level
):
    # A batch above the memory budget (10 M records: a 2 GB driver's heap) keeps its frames on
    # disk only; the outcome is the same.
    monkeypatch.setattr(job, "MEMORY_CACHE_MAX_BYTES", memory_budget)
    settings = lake_settings
    breweries = Lake(settings).table_location(SILVER_BREWERIES)
    history = Lake(settings).table_location(SILVER_HISTORY)
    page1, page2 = [oregon(i) for i in range(200)], [oregon(i) for i in range(200, 400)]
    write_batch(settings, DAY1, page1, page2)
    assert job.storage_level(list_batches(open_store(settings), Lake(settings))[0]) == level
    first = applied(job.run(spark, settings, DAY1, NO_REBUILD))
    assert (first["skipped_unchanged"], first["actions"]) == (0, {"insert": 400})

    # Day 2: one record of page 2 changed. Page 1 is byte-identical, page 2 is not: only the
    # changed record is parsed and reaches the MERGE; the counts still cover all 400.
    page2_day2 = [*page2[:50], oregon(250, name="Renamed"), *page2[51:]]
    write_batch(settings, DAY2, page1, page2_day2)
    r2 = job.run(spark, settings, DAY2, NO_REBUILD)
    day2 = applied(r2)
    assert (day2["rows_in"], day2["accepted"], day2["skipped_unchanged"]) == (400, 400, 399)
    assert (day2["actions"], day2["updated"], r2.details["skipped_unchanged"]) == (
        {"update": 1},
        1,
        399,
    )
    assert history_ids(spark, history) == {f"id-{i:03d}": 1 for i in range(400)} | {"id-250": 2}
    # No new id: breweries' MERGE had no insert clause (Delta then joins the change set to the
    # rows it updates by an inner join, not an outer join over every row of the files).
    params = delta.table(spark, breweries).history(1).first()["operationParameters"]
    assert (json.loads(params["matchedPredicates"]), params["notMatchedPredicates"]) == (
        [{"actionType": "update"}],
        "[]",
    )

    # Day 3: id-010 vanished; id-399 moved to page 1, its bytes unchanged. Every record left is
    # skipped, the vanished one is still deactivated, the moved one opens no version.
    page1_day3 = [*page1[:10], *page1[11:], page2_day2[-1]]
    write_batch(settings, DAY3, page1_day3, page2_day2[:-1])
    day3 = applied(job.run(spark, settings, DAY3, NO_REBUILD))
    assert (day3["rows_in"], day3["skipped_unchanged"], day3["actions"]) == (
        399,
        399,
        {"deactivate": 1},
    )
    rows = {r.id: r for r in delta.read(spark, breweries).collect()}
    gone = rows["id-010"]
    assert (gone.is_active, gone.last_seen_date, gone.deactivated_on) == (False, DAY2, DAY3)
    assert (rows["id-399"].is_active, rows["id-399"].changed_on) == (True, DAY1)
    counts = history_ids(spark, history)
    assert (counts["id-399"], counts["id-010"], sum(counts.values())) == (1, 2, 402)


def test_same_content_from_other_bytes_refreshes_the_fingerprint_only(spark, lake_settings):
    settings = lake_settings
    breweries = Lake(settings).table_location(SILVER_BREWERIES)
    history = Lake(settings).table_location(SILVER_HISTORY)
    # A table from before fingerprints: it gains the column (null in its old rows) in place.
    old_schema = T.StructType(SILVER_BREWERIES_SCHEMA.fields[:-1])
    delta.create(spark, breweries, old_schema, partitions=SILVER_PARTITION_COLUMNS)
    records = [oregon(i) for i in range(3)]
    write_batch(settings, DAY1, records)
    assert applied(job.run(spark, settings, DAY1, NO_REBUILD))["actions"] == {"insert": 3}
    assert delta.read(spark, breweries).schema == SILVER_BREWERIES_SCHEMA
    delta.table(spark, breweries).update(set={"source_fingerprint": F.lit(None)})
    before = delta.read(spark, breweries).drop("source_fingerprint").localCheckpoint()
    history_before = delta.read(spark, history).localCheckpoint()

    def after(day, pages) -> tuple[dict, dict]:
        write_batch(settings, day, *pages)
        batch = applied(job.run(spark, settings, day, NO_REBUILD))
        rows = delta.read(spark, breweries)
        # Nothing but the fingerprint moved: no content, date or lineage column, no history.
        assertDataFrameEqual(rows.drop("source_fingerprint"), before, checkRowOrder=False)
        assertDataFrameEqual(delta.read(spark, history), history_before, checkRowOrder=False)
        return batch, {r.id: r.source_fingerprint for r in rows.collect()}

    # Day 2: rows without a fingerprint (older than it) are parsed once and get theirs.
    day2, prints2 = after(DAY2, [records])
    assert (day2["skipped_unchanged"], day2["actions"], day2["refreshed"]) == (0, {"refresh": 3}, 3)
    assert (day2["updated"], day2["inserted"]) == (0, 0) and all(prints2.values())

    # Day 3: the API's coordinate wobbles at the 11th decimal: same content (7 decimals kept),
    # other bytes. Only that record is parsed; its fingerprint follows, no version opens.
    wobbly = [oregon(0, latitude=45.52000000001), *records[1:]]
    day3, prints3 = after(DAY3, [wobbly])
    assert (day3["skipped_unchanged"], day3["actions"]) == (2, {"refresh": 1})
    assert prints3["id-000"] != prints2["id-000"] and prints3["id-001"] == prints2["id-001"]

    # Day 4: the same bytes again: every record is skipped and breweries gets no commit.
    version = delta.version(spark, breweries)
    day4, prints4 = after(dt.date(2025, 3, 4), [wobbly])
    assert (day4["skipped_unchanged"], day4["actions"], prints4) == (3, {}, prints3)
    assert delta.version(spark, breweries) == version
