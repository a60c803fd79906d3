"""gold.job.run on a temporary lake: contents, lineage, idempotency, the reconciliation gate."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil

import pytest
from delta.tables import DeltaTable

from brewlake import delta
from brewlake.catalog import GOLD_BREWERY_COUNTS, SILVER_BREWERIES, table_version
from brewlake.errors import QualityBreach
from brewlake.lake import Lake
from brewlake.runtime.result import LayerResult
from gold import job
from gold import transforms as gt
from tests.gold.conftest import SILVER_ROWS, write_silver

DAY = dt.date(2025, 1, 2)
ACTIVE = sum(1 for r in SILVER_ROWS if r[6])


def _run(spark, settings, force=False) -> LayerResult:
    return job.run(spark, settings, DAY, argparse.Namespace(force=force))


def _counts(spark) -> set[tuple]:
    rows = spark.sql(
        "SELECT country, state, brewery_type, brewery_count, silver_version "
        "FROM gold.brewery_counts"
    ).collect()
    return {tuple(r) for r in rows}


def test_run_writes_every_table_reconciled_and_registered(spark, lake_settings):
    write_silver(spark, lake_settings)
    result = _run(spark, lake_settings)

    assert result.rows_in == len(SILVER_ROWS)
    assert result.details["active_rows"] == ACTIVE
    assert result.checks and all(c.passed for c in result.checks)
    assert set(result.table_versions) == {str(g.table) for g in job.GOLD_TABLES}
    assert all(v == (None, 0) for v in result.table_versions.values())
    # The public contract: names and columns of gold.brewery_counts, queryable by name.
    frame = spark.table("gold.brewery_counts")
    assert frame.columns == [
        "country",
        "state",
        "brewery_type",
        "brewery_count",
        "silver_version",
        "computed_at",
    ]
    counts = _counts(spark)
    assert ("United States", "Texas", "micro", 2, 0) in counts
    assert (None, None, "micro", 1, 0) in counts
    assert sum(r[3] for r in counts) == ACTIVE
    for gold in job.GOLD_TABLES:
        total = spark.sql(f"SELECT sum(brewery_count) FROM {gold.table}").first()[0]
        assert total == ACTIVE, gold.table

    # Unchanged silver: nothing is written, no number (not even computed_at) changes.
    computed_at = spark.sql("SELECT max(computed_at) FROM gold.brewery_counts").first()[0]
    second = _run(spark, lake_settings)
    assert second.details["skipped"] is True
    assert all(v == (0, 0) for v in second.table_versions.values())
    assert _counts(spark) == counts
    assert spark.sql("SELECT max(computed_at) FROM gold.brewery_counts").first()[0] == computed_at
    # Forced recomputation: a new commit with the very same numbers.
    forced = _run(spark, lake_settings, force=True)
    assert forced.table_versions[str(GOLD_BREWERY_COUNTS)] == (0, 1)
    assert _counts(spark) == counts


def test_new_silver_version_is_recomputed_and_recorded(spark, lake_settings, monkeypatch, capsys):
    write_silver(spark, lake_settings)
    _run(spark, lake_settings)
    # Silver v1: one more active micro brewery in Texas, one Texan soft-deleted.
    changed = [r for r in SILVER_ROWS if r[0] != "2"]
    changed += [
        ("2", "Beta", "micro", "Dallas", "Texas", "United States", False, None, None),
        ("12", "Mu", "micro", "El Paso", "Texas", "United States", True, None, None),
    ]
    write_silver(spark, lake_settings, changed)
    assert table_version(spark, lake_settings, SILVER_BREWERIES) == 1

    result = _run(spark, lake_settings)
    assert result.details["silver_version"] == 1
    assert result.table_versions[str(GOLD_BREWERY_COUNTS)] == (0, 1)
    assert ("United States", "Texas", "micro", 2, 1) in _counts(spark)
    history = DeltaTable.forPath(
        spark, Lake(lake_settings).table_location(GOLD_BREWERY_COUNTS)
    ).history()
    # One commit per run per table: an overwrite, so readers never see a half-written table.
    assert [r.operation for r in history.orderBy("version").collect()] == ["WRITE", "WRITE"]

    # Silver deleted and rebuilt: version 0 again, but a new commit, so gold recomputes.
    shutil.rmtree(Lake(lake_settings).table_location(SILVER_BREWERIES))
    write_silver(spark, lake_settings, SILVER_ROWS[:3])
    # Through `main`, as spark-submit and `brewlake gold` call it.
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", lake_settings.lake_root)
    assert job.main(["--date", "2025-01-02"]) == 0
    summary = capsys.readouterr().out
    assert "gold: rows_in=3 " in summary and "gold.brewery_counts=v1->v2" in summary
    assert sum(r[3] for r in _counts(spark)) == 3


def test_reconciliation_gate_fails_with_both_numbers_and_writes_nothing(
    spark, lake_settings, monkeypatch
):
    write_silver(spark, lake_settings)
    tables = job.GOLD_TABLES
    # A realistic bug, injected into the real run: an aggregation that loses the rows without a
    # country.
    lossy = job.GoldTable(
        GOLD_BREWERY_COUNTS,
        lambda df: gt.count_by_location_type(df.where("country IS NOT NULL")),
        tables[0].columns,
    )
    monkeypatch.setattr(job, "GOLD_TABLES", (lossy, *tables[1:]))
    with pytest.raises(QualityBreach) as info:
        _run(spark, lake_settings)
    message = str(info.value)
    assert f"= {ACTIVE - 1};" in message and f"= {ACTIVE}" in message
    # Every rule evaluated travels with the breach (ops.quality_checks records them all).
    assert [c.passed for c in info.value.checks] == [False, True, True, True]
    for gold in tables:
        assert table_version(spark, lake_settings, gold.table) is None, gold.table


def test_missing_silver_names_the_fix(spark, lake_settings):
    with pytest.raises(job.SilverMissing, match="brewlake silver"):
        _run(spark, lake_settings)


def test_each_commit_records_its_lineage_in_user_metadata(spark, lake_settings):
    """The keys the README promises under `DESCRIBE HISTORY gold.brewery_counts`."""
    location = write_silver(spark, lake_settings)
    silver_commit = DeltaTable.forPath(spark, location).history(1).first()
    [silver_txn] = [
        a["commitInfo"]["txnId"]
        for version, actions in delta.log_commits(location)
        for a in actions
        if version == 0 and "commitInfo" in a
    ]
    assert silver_txn  # Delta writes a unique txnId into every commitInfo
    _run(spark, lake_settings)

    for gold in job.GOLD_TABLES:
        [row] = spark.sql(f"DESCRIBE HISTORY {gold.table}").select("userMetadata").collect()
        assert json.loads(row.userMetadata) == {
            "silver_version": 0,
            "silver_committed_at": silver_commit.timestamp.isoformat(),
            "silver_commit_id": silver_txn,
            "gold_logic_version": job.GOLD_LOGIC_VERSION,
            "logical_date": DAY.isoformat(),
        }, gold.table
