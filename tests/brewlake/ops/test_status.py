"""`brewlake status` over ops rows written by real layer runs (brewlake's own job wrapper)."""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pytest

from brewlake.errors import SourceError
from brewlake.ops.status import collect_status, main, status_table
from brewlake.runtime.job import execute_layer
from brewlake.runtime.result import LayerResult, QualityCheck

DAY = dt.date(2025, 3, 1)
ARGS = argparse.Namespace()


def layer_fn(layer: str, rows_out: int, checks=()):
    def run(spark, settings, logical_date, args) -> LayerResult:
        return LayerResult(
            layer=layer, rows_in=rows_out + 5, rows_out=rows_out, quarantined=5, checks=list(checks)
        )

    return run


def api_down(spark, settings, logical_date, args):
    raise SourceError("API answered HTTP 503")


@pytest.fixture(scope="module")
def healthy_lake(spark, base_settings, tmp_path_factory):
    """bronze (no Spark: buffered), silver and gold (Spark: Delta) each succeeded once."""
    settings = base_settings.replace(lake_root=str(tmp_path_factory.mktemp("status") / "lake"))
    execute_layer("bronze", layer_fn("bronze", 500), settings, DAY, ARGS)
    execute_layer(
        "silver",
        layer_fn("silver", 480, [QualityCheck("quarantine_share", True, 0.01, 0.05)]),
        settings,
        DAY,
        ARGS,
        spark=spark,
    )
    execute_layer("bronze", layer_fn("bronze", 501), settings, DAY, ARGS)  # buffered, newer
    execute_layer("gold", layer_fn("gold", 42), settings, DAY, ARGS, spark=spark)
    return settings


def test_status_reports_fresh_layers_with_counts_and_checks(spark, healthy_lake):
    doc = collect_status(healthy_lake, spark)
    assert doc["healthy"] is True and doc["problems"] == []
    by_layer = {e["layer"]: e for e in doc["layers"]}
    assert [by_layer[x]["last_success"]["rows_out"] for x in ("bronze", "silver", "gold")] == [
        501,
        480,
        42,
    ]
    assert by_layer["silver"]["last_success"]["rows_in"] == 485
    assert all(0 <= by_layer[x]["age_hours"] < 1 for x in ("bronze", "silver", "gold"))
    assert by_layer["silver"]["checks"] == [
        {"rule": "quarantine_share", "passed": True, "observed": 0.01, "threshold": 0.05}
    ]
    assert "healthy" in status_table(doc) and "1/1 passed" in status_table(doc)


def test_gold_older_than_sla_is_unhealthy(spark, healthy_lake):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=27)
    doc = collect_status(healthy_lake, spark, now=later)
    assert doc["healthy"] is False
    assert doc["problems"] == ["gold: last success 27.0 h ago, over the 26 h SLA"]
    relaxed = healthy_lake.replace(gold_sla_hours=48.0)
    assert collect_status(relaxed, spark, now=later)["healthy"] is True


def test_cli_exit_code_follows_health(spark, healthy_lake, monkeypatch, capsys):
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", healthy_lake.lake_root)
    monkeypatch.setenv("BREWLAKE_SPARK_MASTER", healthy_lake.spark_master)
    assert main(["--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {e["layer"] for e in doc["layers"] if e["last_success"]} == {"bronze", "silver", "gold"}

    with pytest.raises(SourceError):
        execute_layer("silver", api_down, healthy_lake, DAY, ARGS, spark=spark)
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "UNHEALTHY" in out and "silver: last run" in out and "HTTP 503" in out


def test_empty_lake_is_unhealthy_without_starting_spark(lake_settings, monkeypatch, capsys):
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", lake_settings.lake_root)
    monkeypatch.setenv("BREWLAKE_JARS_DIR", "/nonexistent")  # Spark could not even start
    assert main(["--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["problems"] == ["gold: no successful run recorded"]
