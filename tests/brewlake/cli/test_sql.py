"""`brewlake sql`: statement kinds, output formats, time travel, and separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from delta.tables import DeltaTable

from brewlake.catalog import GOLD_BREWERY_COUNTS, SILVER_BREWERIES, register_catalog
from brewlake.cli import sql as bsql
from brewlake.lake import Lake, TableRef
from tests.conftest import env_for

READS = [
    "SELECT 1",
    "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
    "FROM gold.brewery_counts SELECT *",
    "SELECT * FROM gold.brewery_counts VERSION AS OF 1",
    "SHOW TABLES IN gold",
    "DESCRIBE gold.brewery_counts",
    "DESCRIBE HISTORY gold.brewery_counts",
    "DESCRIBE DETAIL gold.brewery_counts",
    "EXPLAIN SELECT 1",
    "VALUES (1, 'a')",
]
WRITES = [
    "INSERT INTO gold.brewery_counts VALUES (1)",
    "WITH a AS (SELECT 1) INSERT INTO gold.brewery_counts SELECT * FROM a",
    "FROM gold.x INSERT INTO gold.y SELECT *",
    "INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT 1",
    "DELETE FROM gold.brewery_counts",
    "UPDATE gold.brewery_counts SET brewery_count = 0",
    "MERGE INTO gold.a USING gold.b ON a.x = b.x WHEN MATCHED THEN DELETE",
    "DROP TABLE gold.brewery_counts",
    "TRUNCATE TABLE gold.brewery_counts",
    "CREATE TABLE t AS SELECT 1",
    "ALTER TABLE gold.brewery_counts ADD COLUMNS (y INT)",
    "OPTIMIZE gold.brewery_counts",
    "VACUUM gold.brewery_counts",
    "RESTORE TABLE gold.brewery_counts TO VERSION AS OF 0",
    "CACHE TABLE gold.brewery_counts",
    "SET spark.sql.shuffle.partitions = 1",
]


def test_reads_are_allowed_and_writes_refused(spark):
    for query in READS:
        assert bsql.is_read_only(bsql.plan_nodes(spark, query)), query
    for query in WRITES:
        assert not bsql.is_read_only(bsql.plan_nodes(spark, query)), query


def test_format_rows_renders_nulls_unicode_and_commas():
    import datetime as dt

    columns = ["country", "state", "n", "at"]
    rows = [("Österreich", None, 2, dt.datetime(2025, 1, 2, 3, 4, 5)), ("A, B", "Hawke's", 1, None)]
    assert json.loads(bsql.format_rows(columns, rows, "json")) == [
        {"country": "Österreich", "state": None, "n": 2, "at": "2025-01-02T03:04:05"},
        {"country": "A, B", "state": "Hawke's", "n": 1, "at": None},
    ]
    assert bsql.format_rows(columns, rows, "csv").splitlines() == [
        "country,state,n,at",
        "Österreich,,2,2025-01-02T03:04:05",
        '"A, B",Hawke\'s,1,',
    ]
    table = bsql.format_rows(columns, rows, "table").splitlines()
    assert table[1].split("|")[1:-1] == [
        " country    ",
        " state   ",
        " n ",
        " at                  ",
    ]
    assert "NULL" in table[3] and table[-1] == "(2 rows)"


def _write_versions(spark, settings, table: TableRef, counts: list[int]) -> str:
    location = Lake(settings).table_location(table)
    for n in counts:
        frame = spark.range(n).selectExpr("'United States' AS country", "1 AS brewery_count")
        frame.write.format("delta").mode("overwrite").save(location)
    return location


def test_as_of_version_and_timestamp_return_the_older_answer(spark, lake_settings):
    location = _write_versions(spark, lake_settings, GOLD_BREWERY_COUNTS, [2, 5])
    register_catalog(spark, lake_settings)
    query = "SELECT sum(brewery_count) AS n FROM gold.brewery_counts"

    def answer(as_of):
        text = bsql.execute(spark, lake_settings, query, fmt="json", as_of=as_of)
        return json.loads(text)[0]["n"]

    assert answer(None) == 5
    assert answer(bsql.AsOf(version=0)) == 2
    first_commit = DeltaTable.forPath(spark, location).history().orderBy("version").first()
    assert answer(bsql.AsOf(timestamp=first_commit.timestamp)) == 2
    with pytest.raises(bsql.QueryError, match="version 9"):
        answer(bsql.AsOf(version=9))
    # Back at head: registration replaces the views again.
    register_catalog(spark, lake_settings)
    assert answer(None) == 5


def test_as_of_parses_versions_and_timestamps():
    assert bsql.AsOf.parse("3").clause == "VERSION AS OF 3"
    assert bsql.AsOf.parse("2025-01-02T03:04:05+01:00").clause == (
        "TIMESTAMP AS OF '2025-01-02 02:04:05'"
    )
    with pytest.raises(bsql.QueryError, match="--as-of"):
        bsql.AsOf.parse("last tuesday")


def _cli_env(monkeypatch, settings):
    for key, value in env_for(settings).items():
        if key.startswith("BREWLAKE_"):
            monkeypatch.setenv(key, value)


def test_cli_refuses_a_write_and_reports_errors_in_one_line(
    spark, lake_settings, monkeypatch, capfd
):
    _write_versions(spark, lake_settings, GOLD_BREWERY_COUNTS, [3])
    _cli_env(monkeypatch, lake_settings)

    assert bsql.main(["DELETE FROM gold.brewery_counts"]) == 2
    out, err = capfd.readouterr()
    assert out == ""
    assert err.strip().count("\n") == 0 and "refused" in err and "--allow-write" in err
    assert spark.sql("SELECT count(*) FROM gold.brewery_counts").first()[0] == 3

    assert bsql.main(["SELECT nope FROM gold.brewery_counts", "--format", "json"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and err.strip().count("\n") == 0 and "nope" in err

    assert bsql.main(["SELECT count(*) AS n FROM gold.brewery_counts", "--format", "csv"]) == 0
    out, _ = capfd.readouterr()
    assert out == "n\n3\n"

    allowed = ["DELETE FROM gold.brewery_counts", "--allow-write"]
    assert bsql.main(allowed) == 0
    assert spark.sql("SELECT count(*) FROM gold.brewery_counts").first()[0] == 0


def _run_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "brewlake.cli", "sql", *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_new_process_sees_tables_while_another_session_is_writing(spark, lake_settings):
    """Tables written here are visible to a new `brewlake sql` process while this session works."""
    _write_versions(spark, lake_settings, GOLD_BREWERY_COUNTS, [4])
    register_catalog(spark, lake_settings)
    busy_location = Lake(lake_settings).table_location(TableRef("silver", "busy"))
    stop = threading.Event()
    commits = []

    def keep_writing():
        # Stands in for a silver job holding its session and committing meanwhile.
        while not stop.is_set():
            spark.range(10).write.format("delta").mode("append").save(busy_location)
            commits.append(1)
            stop.wait(2.0)  # keep committing, without starving the CLI's JVM of CPU

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        out = _run_cli(
            lake_settings,
            "SELECT country, sum(brewery_count) AS n FROM gold.brewery_counts GROUP BY country",
            "--format",
            "json",
        )
    finally:
        stop.set()
        writer.join(timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"country": "United States", "n": 4}]
    assert commits, "the concurrent writer never committed"


@pytest.mark.slow
@pytest.mark.s3
def test_new_process_reads_tables_on_s3(spark, s3_settings):
    _write_versions(spark, s3_settings, GOLD_BREWERY_COUNTS, [2, 3])
    out = _run_cli(
        s3_settings,
        "SELECT sum(brewery_count) AS n FROM gold.brewery_counts",
        "--format",
        "json",
        "--as-of",
        "0",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": 2}]


@pytest.mark.slow
def test_fresh_shell_sees_silver_and_gold_by_name(spark, lake_settings):
    """`brewlake sql` in a new process: silver.breweries and gold.* by name, at head and as of."""
    _write_versions(spark, lake_settings, SILVER_BREWERIES, [3, 5])
    _write_versions(spark, lake_settings, GOLD_BREWERY_COUNTS, [4])
    query = (
        "SELECT (SELECT count(*) FROM silver.breweries) AS silver_rows, "
        "(SELECT sum(brewery_count) FROM gold.brewery_counts) AS gold_total"
    )
    head = _run_cli(lake_settings, query, "--format", "json")
    assert head.returncode == 0, head.stderr
    assert json.loads(head.stdout) == [{"silver_rows": 5, "gold_total": 4}]

    as_of = _run_cli(lake_settings, query, "--format", "json", "--as-of", "0")
    assert as_of.returncode == 0, as_of.stderr
    assert json.loads(as_of.stdout) == [{"silver_rows": 3, "gold_total": 4}]
