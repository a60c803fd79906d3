"""The catalog: tables registered by location, only when they exist; init SQL for spark-sql."""

from __future__ import annotations

import pytest

from brewlake.catalog import (
    GOLD_BREWERY_COUNTS,
    GOLD_COUNTS_BY_TYPE,
    SILVER_BREWERIES,
    catalog_init_sql,
    existing_tables,
    forget_name,
    quoted_name,
    register_catalog,
    table_version,
)
from brewlake.cli import spark_conf
from brewlake.lake import Lake, TableRef


def _write(spark, settings, table, n: int) -> None:
    location = Lake(settings).table_location(table)
    spark.range(n).write.format("delta").mode("overwrite").save(location)


def test_register_catalog_registers_existing_tables_by_location(spark, lake_settings):
    _write(spark, lake_settings, GOLD_BREWERY_COUNTS, 3)
    _write(spark, lake_settings, GOLD_BREWERY_COUNTS, 4)

    assert register_catalog(spark, lake_settings) == [GOLD_BREWERY_COUNTS]
    assert spark.sql("SELECT count(*) FROM gold.brewery_counts").first()[0] == 4
    assert table_version(spark, lake_settings, GOLD_BREWERY_COUNTS) == 1
    assert table_version(spark, lake_settings, SILVER_BREWERIES) is None
    detail = spark.sql("DESCRIBE DETAIL gold.brewery_counts").first()
    assert detail.location.rstrip("/").endswith("/gold/brewery_counts")
    assert {d.namespace for d in spark.sql("SHOW DATABASES").collect()} >= {
        "bronze",
        "silver",
        "gold",
        "ops",
    }
    # A view under a table's name (what `brewlake sql --as-of` leaves) is replaced cleanly.
    forget_name(spark, "gold.brewery_counts")
    spark.sql("CREATE VIEW gold.brewery_counts AS SELECT 1 AS id")
    assert register_catalog(spark, lake_settings) == [GOLD_BREWERY_COUNTS]
    assert spark.sql("SELECT count(*) FROM gold.brewery_counts").first()[0] == 4


def test_catalog_init_sql_lists_only_existing_tables_and_runs(spark, lake_settings):
    assert "CREATE TABLE" not in catalog_init_sql(lake_settings)
    _write(spark, lake_settings, GOLD_COUNTS_BY_TYPE, 2)
    text = catalog_init_sql(lake_settings)
    creates = [line for line in text.splitlines() if line.startswith("CREATE TABLE")]
    assert len(creates) == 1 and "`gold`.`brewery_counts_by_type`" in creates[0]

    # The init file is valid Spark SQL: run it statement by statement on a clean name.
    forget_name(spark, "gold.brewery_counts_by_type")
    for statement in filter(None, (s.strip() for s in text.split(";\n"))):
        spark.sql(statement.rstrip(";"))
    assert spark.sql("SELECT count(*) FROM gold.brewery_counts_by_type").first()[0] == 2


def test_init_sql_and_the_session_escape_names_and_locations_alike(lake_settings):
    settings = lake_settings.replace(lake_root=lake_settings.lake_root + "/it's a \\ lake")
    first = catalog_init_sql(settings).splitlines()[0]
    location = Lake(settings).database_location("bronze").replace("\\", "\\\\")
    assert first == (
        "CREATE DATABASE IF NOT EXISTS `bronze` LOCATION '" + location.replace("'", "\\'") + "';"
    )
    assert quoted_name(TableRef("we`ird", "x")) == "`we``ird`.`x`"


def test_spark_conf_cli_prints_init_sql(spark, lake_settings, monkeypatch, capsys):
    _write(spark, lake_settings, GOLD_BREWERY_COUNTS, 1)
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", lake_settings.lake_root)
    assert spark_conf.main(["--catalog-sql"]) == 0
    out = capsys.readouterr().out
    assert Lake(lake_settings).table_location(GOLD_BREWERY_COUNTS) in out
    assert out.count("CREATE TABLE") == 1


@pytest.mark.s3
def test_existing_tables_on_s3(spark, s3_settings):
    assert existing_tables(s3_settings) == []
    _write(spark, s3_settings, SILVER_BREWERIES, 2)
    assert existing_tables(s3_settings) == [SILVER_BREWERIES]
    assert register_catalog(spark, s3_settings) == [SILVER_BREWERIES]
    assert spark.sql("SELECT count(*) FROM silver.breweries").first()[0] == 2
