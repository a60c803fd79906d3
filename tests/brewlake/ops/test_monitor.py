"""track() through brewlake's own job wrapper: events reach SNS→SQS and the webhook, ops rows land.

The layer is a small `run_fn` handed to `brewlake.runtime.job.execute_layer`, the wrapper every
layer job uses; Spark, Delta, the moto server and the webhook server are real.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging

import pytest

from brewlake.catalog import OPS_PIPELINE_RUNS, OPS_QUALITY_CHECKS, register_catalog
from brewlake.devkit.cluster import free_port
from brewlake.errors import QualityBreach, SourceError
from brewlake.ops import tables
from brewlake.runtime.job import execute_layer
from brewlake.runtime.result import LayerResult, QualityCheck
from tests.brewlake.ops.monitoring_fixtures import trail_fixture, webhook_fixture  # noqa: F401

DAY = dt.date(2025, 3, 1)
ARGS = argparse.Namespace()


def silver_result(spark, settings, logical_date, args) -> LayerResult:
    return LayerResult(
        layer="silver",
        rows_in=120,
        rows_out=113,
        quarantined=4,
        duplicates=3,
        batch_ids=["20250301T000000000000Z-aaaa0001"],
        table_versions={"silver.breweries": (None, 0)},
        checks=[
            QualityCheck("quarantine_share", True, observed=4 / 120, threshold=0.05),
            QualityCheck("ids_unique", True, observed=0, threshold=0),
        ],
    )


def api_down(spark, settings, logical_date, args) -> LayerResult:
    raise SourceError("GET http://127.0.0.1:9/v1/breweries?page=1: connection refused")


def breach(spark, settings, logical_date, args) -> LayerResult:
    raise QualityBreach(
        "quarantine share 0.300 is over the limit 0.05; nothing was committed",
        checks=[
            QualityCheck("quarantine_share", False, observed=0.3, threshold=0.05),
            QualityCheck("ids_unique", True, observed=0, threshold=0),
        ],
    )


def rows(spark, settings, table):
    frame = tables.read_table(spark, settings, table)
    return [] if frame is None else [r.asDict(recursive=True) for r in frame.collect()]


def messages(trail, want):
    return [json.loads(m["Message"]) for m in trail.receive(want)]


def test_success_writes_one_run_row_and_check_rows_queryable_by_sql(spark, lake_settings, trail):
    settings = lake_settings.replace(alert_sns_topic_arn=trail.topic_arn)
    result = execute_layer("silver", silver_result, settings, DAY, ARGS, spark=spark)

    register_catalog(spark, settings)
    [run] = [r.asDict() for r in spark.sql("SELECT * FROM ops.pipeline_runs").collect()]
    assert (run["layer"], run["status"], run["logical_date"]) == ("silver", "succeeded", DAY)
    assert (run["rows_in"], run["rows_out"], run["quarantined"], run["duplicates"]) == (
        120,
        113,
        4,
        3,
    )
    assert run["batch_ids"] == result.batch_ids
    assert run["checks_total"] == 2 and run["checks_failed"] == 0
    assert run["table_versions"][0].asDict() == {
        "table": "silver.breweries",
        "version_before": None,
        "version_after": 0,
    }
    assert run["duration_s"] >= 0 and run["finished_at"] >= run["started_at"]
    checks = spark.sql("SELECT rule, passed, observed FROM ops.quality_checks ORDER BY rule")
    assert [tuple(r) for r in checks.collect()] == [
        ("ids_unique", True, 0.0),
        ("quarantine_share", True, pytest.approx(4 / 120)),
    ]

    started, succeeded = messages(trail, 2)
    assert (started["event"], succeeded["event"]) == ("started", "succeeded")
    assert started["run_id"] == succeeded["run_id"] == run["run_id"]
    assert succeeded["event_id"] == run["event_id"]
    assert succeeded["rows_out"] == 113 and succeeded["table_versions"] == {
        "silver.breweries": [None, 0]
    }


def test_api_down_records_failure_and_alerts_sns_and_webhook(spark, lake_settings, trail, webhook):
    settings = lake_settings.replace(
        alert_sns_topic_arn=trail.topic_arn, alert_webhook_url=webhook.url
    )
    with pytest.raises(SourceError, match="connection refused"):
        execute_layer("bronze", api_down, settings, DAY, ARGS, spark=spark)

    [run] = rows(spark, settings, OPS_PIPELINE_RUNS)
    assert (run["layer"], run["status"], run["error_class"]) == ("bronze", "failed", "SourceError")
    assert "connection refused" in run["error"]

    started, failed = messages(trail, 2)
    assert failed["event"] == "failed" and failed["layer"] == "bronze"
    assert failed["run_id"] == run["run_id"] == started["run_id"]
    assert failed["error_class"] == "SourceError" and "connection refused" in failed["error"]

    [body] = webhook.wait_for(1)
    assert body["event_data"]["event_id"] == failed["event_id"]
    assert run["run_id"] in body["text"] and "connection refused" in body["text"]


def test_quality_breach_emits_event_and_check_rows(spark, lake_settings, trail, webhook):
    settings = lake_settings.replace(
        alert_sns_topic_arn=trail.topic_arn, alert_webhook_url=webhook.url
    )
    with pytest.raises(QualityBreach):
        execute_layer("silver", breach, settings, DAY, ARGS, spark=spark)

    [run] = rows(spark, settings, OPS_PIPELINE_RUNS)
    assert run["status"] == "quality_breached" and run["checks_failed"] == 1
    checks = {r["rule"]: r for r in rows(spark, settings, OPS_QUALITY_CHECKS)}
    assert set(checks) == {"quarantine_share", "ids_unique"}
    assert checks["quarantine_share"]["passed"] is False
    assert checks["quarantine_share"]["observed"] == pytest.approx(0.3)
    assert checks["quarantine_share"]["threshold"] == pytest.approx(0.05)
    assert {r["run_id"] for r in checks.values()} == {run["run_id"]}

    _, breached = messages(trail, 2)
    assert breached["event"] == "quality_breached"
    assert breached["failed_checks"] == [
        {"rule": "quarantine_share", "observed": 0.3, "threshold": 0.05, "detail": ""}
    ]
    [body] = webhook.wait_for(1)
    assert "quarantine_share" in body["text"]


def test_run_without_spark_is_buffered_then_ingested_once(spark, lake_settings):
    result = execute_layer("bronze", silver_result, lake_settings, DAY, ARGS, spark=None)
    assert result.rows_out == 113
    [(key, buffered)] = tables.pending(lake_settings)
    assert key.startswith("_monitoring/pending/") and buffered["run"]["layer"] == "bronze"
    assert tables.read_table(spark, lake_settings, OPS_PIPELINE_RUNS) is None

    # The next run with Spark ingests the buffer along with its own row.
    execute_layer("silver", silver_result, lake_settings, DAY, ARGS, spark=spark)
    runs = rows(spark, lake_settings, OPS_PIPELINE_RUNS)
    assert sorted(r["layer"] for r in runs) == ["bronze", "silver"]
    assert tables.pending(lake_settings) == []
    assert len(rows(spark, lake_settings, OPS_QUALITY_CHECKS)) == 4

    # A buffer file that survived its ingestion (crash before delete) is not stored twice.
    tables.buffer_rows(lake_settings, buffered["run"], buffered["checks"])
    assert tables.flush_pending(spark, lake_settings) == 1
    assert len(rows(spark, lake_settings, OPS_PIPELINE_RUNS)) == 2
    assert len(rows(spark, lake_settings, OPS_QUALITY_CHECKS)) == 4


def test_broken_sinks_and_ops_store_change_no_outcome(tmp_path, lake_settings, monkeypatch, caplog):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", dead)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake should be")
    settings = lake_settings.replace(
        lake_root=str(blocker / "lake"),
        alert_sns_topic_arn="arn:aws:sns:us-east-1:123456789012:nowhere",
        alert_webhook_url=dead + "/hook",
        alert_timeout_s=1.0,
    )
    with caplog.at_level(logging.ERROR):
        result = execute_layer("bronze", silver_result, settings, DAY, ARGS, spark=None)
        assert result.rows_out == 113
        with pytest.raises(SourceError, match="connection refused"):
            execute_layer("bronze", api_down, settings, DAY, ARGS, spark=None)
    names = [r.getMessage() for r in caplog.records]
    assert names.count("ops.write_failed") == 2
    sinks = [r.sink for r in caplog.records if r.getMessage() == "alert.sink_failed"]
    # started+succeeded+started+failed to SNS; only the failure to the webhook.
    assert sorted(sinks) == ["sns"] * 4 + ["webhook"]


def test_under_airflow_a_failed_attempt_goes_to_sns_not_to_the_webhook(
    lake_settings, trail, webhook, monkeypatch
):
    # What Airflow's task runner exports to the task process (and so to spark-submit).
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "brewlake_medallion")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "bronze")
    monkeypatch.setenv("AIRFLOW_CTX_TRY_NUMBER", "1")
    settings = lake_settings.replace(
        alert_sns_topic_arn=trail.topic_arn, alert_webhook_url=webhook.url
    )
    with pytest.raises(SourceError):
        execute_layer("bronze", api_down, settings, DAY, ARGS, spark=None)
    _, failed = messages(trail, 2)
    assert (failed["event"], failed["dag_id"], failed["task_id"], failed["try_number"]) == (
        "failed",
        "brewlake_medallion",
        "bronze",
        "1",
    )
    # The DAG's on_failure_callback pages once retries are exhausted; the attempt does not.
    assert webhook.wait_for(1, timeout=0.5) == []
    [(_, buffered)] = tables.pending(settings)
    assert buffered["run"]["context"]["task_id"] == "bronze"
