"""`brewlake maintain` on a temporary lake: deletion vectors are purged before VACUUM."""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import types as T

from brewlake import delta
from brewlake.catalog import GOLD_BREWERY_COUNTS, SILVER_HISTORY
from brewlake.lake import Lake
from brewlake.ops.maintain import main, maintain, maintain_table, vacuum_listing_conf
from tests.conftest import operations

SCHEMA = T.StructType(
    [
        T.StructField("id", T.StringType(), False),
        T.StructField("name", T.StringType(), True),
        T.StructField("state", T.StringType(), True),
    ]
)


def live_deletion_vectors(location: str) -> int:
    """Live data files that carry a deletion vector, read from the Delta log itself."""
    return sum(1 for dv in delta.live_files(location).values() if dv)


def _rows(spark, location: str) -> set[tuple]:
    return {tuple(r) for r in spark.read.format("delta").load(location).collect()}


def _table_with_deletion_vectors(spark, location: str) -> None:
    """Two partitions: 'Kärnten' as one file, null as two; a row deleted from a file of each."""
    spark.sql(
        f"CREATE TABLE delta.`{location}` (id STRING NOT NULL, name STRING, state STRING) "
        "USING delta PARTITIONED BY (state) TBLPROPERTIES ('delta.enableDeletionVectors' = true)"
    )
    alps = [(str(i), f"Bräu {i}", "Kärnten") for i in range(200)]
    nowhere = [("x1", None, None), ("x2", "O'Brien's", None)]
    for rows in (alps, nowhere, [("x3", "Zoë", None)]):
        frame = spark.createDataFrame(rows, SCHEMA).coalesce(1)
        frame.write.format("delta").mode("append").save(location)
    spark.sql(f"DELETE FROM delta.`{location}` WHERE id IN ('7', 'x1')")


def test_maintain_purges_deletion_vectors_before_vacuum(spark, lake_settings):
    lake = Lake(lake_settings)
    history = lake.table_location(SILVER_HISTORY)
    _table_with_deletion_vectors(spark, history)
    # A table without the feature: compacted, never REORGed.
    gold = lake.table_location(GOLD_BREWERY_COUNTS)
    for n in (1, 2):
        spark.range(n).write.format("delta").mode("append").save(gold)
    assert live_deletion_vectors(history) == 2
    rows = _rows(spark, history)
    assert len(rows) == 201 and ("x2", "O'Brien's", None) in rows

    by_table = {r.table: r for r in maintain(spark, lake_settings)}

    assert set(by_table) == {"silver.breweries_history", "gold.brewery_counts"}
    assert live_deletion_vectors(history) == 0
    assert by_table["silver.breweries_history"].deletion_vectors_purged == 2
    assert _rows(spark, history) == rows
    # OPTIMIZE compacted the null partition's two files (and dropped its deletion vector); the
    # single 'Kärnten' file was no compaction candidate, so only REORG could purge its vector.
    history_operations = operations(spark, history)
    assert history_operations[-4:] == ["OPTIMIZE", "REORG", "VACUUM START", "VACUUM END"]
    reorg = DeltaTable.forPath(spark, history).history().where("operation = 'REORG'").first()
    assert reorg.operationParameters["applyPurge"] == "true"
    assert int(reorg.operationMetrics["numDeletionVectorsRemoved"]) == 1
    assert by_table["gold.brewery_counts"].deletion_vectors_purged == 0
    assert "REORG" not in operations(spark, gold)

    # Idempotent: a second run finds nothing to purge and commits no second REORG.
    again = {r.table: r for r in maintain(spark, lake_settings, tables=(SILVER_HISTORY,))}
    assert again["silver.breweries_history"].deletion_vectors_purged == 0
    assert operations(spark, history).count("REORG") == 1


def test_cli_reports_the_purge(spark, lake_settings, monkeypatch, capsys):
    history = Lake(lake_settings).table_location(SILVER_HISTORY)
    _table_with_deletion_vectors(spark, history)
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", lake_settings.lake_root)
    assert main(["--table", "silver.breweries_history", "--no-vacuum"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("silver.breweries_history: files 3 -> ")
    assert "deletion vectors purged 2, vacuumed 0" in out
    assert live_deletion_vectors(history) == 0
    assert "VACUUM START" not in operations(spark, history)


def test_vacuum_lists_the_table_in_a_few_tasks_per_core(spark, lake_settings):
    location = Lake(lake_settings).table_location(GOLD_BREWERY_COUNTS)
    for n in (1, 2):
        spark.range(n).write.format("delta").mode("append").save(location)
    sc = spark.sparkContext
    sc.setJobGroup("maintain-under-test", "maintain_table")
    try:
        maintain_table(spark, location, "gold.brewery_counts")
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    tracker = sc.statusTracker()
    stages = [
        tracker.getStageInfo(stage)
        for job in tracker.getJobIdsForGroup("maintain-under-test")
        for stage in tracker.getJobInfo(job).stageIds
    ]
    limit = int(next(iter(vacuum_listing_conf(spark).values())))
    # Spark's partition-discovery default would have made VACUUM's listing 10,000 tasks.
    assert stages and max(s.numTasks for s in stages if s) <= limit
    # The setting is scoped to the VACUUM: the session keeps its own.
    assert spark.conf.get("spark.sql.sources.parallelPartitionDiscovery.parallelism") == "10000"
