"""The real layers under monitoring: `run_pipeline` over the replay API, alerts on moto SNS/SQS."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from brewlake.catalog import OPS_PIPELINE_RUNS, OPS_QUALITY_CHECKS
from brewlake.devkit.cluster import free_port
from brewlake.ops import tables
from brewlake.ops.status import collect_status
from brewlake.runtime.pipeline import run_pipeline
from tests.brewlake.ops.monitoring_fixtures import trail_fixture, webhook_fixture  # noqa: F401

DAY = dt.date(2025, 3, 1)
pytestmark = pytest.mark.slow


def rows(spark, settings, table):
    frame = tables.read_table(spark, settings, table)
    return [] if frame is None else [r.asDict(recursive=True) for r in frame.collect()]


def test_pipeline_writes_one_row_per_layer_and_status_is_fresh(
    spark, lake_settings, replay_records, trail
):
    from brewlake.devkit.replay import serve_in_thread

    records = replay_records[:200]
    with serve_in_thread(records) as server:
        settings = lake_settings.replace(api_url=server.url, alert_sns_topic_arn=trail.topic_arn)
        outcomes = run_pipeline(settings, DAY, spark=spark)
    assert [o.error for o in outcomes] == ["", "", ""]

    runs = {r["layer"]: r for r in rows(spark, settings, OPS_PIPELINE_RUNS)}
    assert sorted(runs) == ["bronze", "gold", "silver"]
    for outcome in outcomes:
        row, result = runs[outcome.layer], outcome.result
        assert row["status"] == "succeeded"
        assert (row["rows_in"], row["rows_out"], row["quarantined"], row["duplicates"]) == (
            result.rows_in,
            result.rows_out,
            result.quarantined,
            result.duplicates,
        )
        assert row["checks_total"] == len(result.checks)
    assert runs["bronze"]["rows_out"] == len(records)
    assert runs["bronze"]["batch_ids"] == outcomes[0].result.batch_ids
    checks = rows(spark, settings, OPS_QUALITY_CHECKS)
    assert len(checks) == sum(len(o.result.checks) for o in outcomes)

    doc = collect_status(settings, spark)
    assert doc["healthy"] is True, doc["problems"]
    fresh = {e["layer"]: e["last_success"]["run_id"] for e in doc["layers"]}
    assert fresh == {layer: row["run_id"] for layer, row in runs.items()}

    events = [json.loads(m["Message"]) for m in trail.receive(6)]
    assert sorted((e["layer"], e["event"]) for e in events) == sorted(
        (layer, kind) for layer in runs for kind in ("started", "succeeded")
    )


def test_api_down_fails_bronze_records_it_on_s3_and_alerts(spark, s3_settings, trail, webhook):
    settings = s3_settings.replace(
        api_url=f"http://127.0.0.1:{free_port()}",
        api_max_retries=1,
        api_backoff_factor_s=0.01,
        alert_sns_topic_arn=trail.topic_arn,
        alert_webhook_url=webhook.url,
    )
    outcomes = run_pipeline(settings, DAY, spark=spark)
    assert [o.layer for o in outcomes] == ["bronze"] and outcomes[0].result is None

    [run] = rows(spark, settings, OPS_PIPELINE_RUNS)
    assert (run["layer"], run["status"]) == ("bronze", "failed")
    assert run["error_class"] and run["error"]

    started, failed = (json.loads(m["Message"]) for m in trail.receive(2))
    assert (started["event"], failed["event"]) == ("started", "failed")
    assert failed["layer"] == "bronze" and failed["run_id"] == run["run_id"]
    assert failed["error"] == run["error"] and failed["error_class"] == run["error_class"]
    [body] = webhook.wait_for(1)
    assert body["event_data"]["run_id"] == run["run_id"] and run["error"] in body["text"]
    assert collect_status(settings, spark)["healthy"] is False


def test_real_silver_quarantine_breach_emits_event_and_check_rows(
    spark, lake_settings, replay_records, trail
):
    from brewlake.devkit.replay import serve_in_thread

    records = [dict(r) for r in replay_records[:200]]
    for record in records[:30]:  # 15 % nameless: silver quarantines them, over the 5 % limit
        record["name"] = None
    with serve_in_thread(records) as server:
        settings = lake_settings.replace(
            api_url=server.url, alert_sns_topic_arn=trail.topic_arn, quarantine_max_share=0.05
        )
        outcomes = run_pipeline(settings, DAY, spark=spark)
    assert [o.layer for o in outcomes] == ["bronze", "silver"] and outcomes[1].result is None

    runs = {r["layer"]: r for r in rows(spark, settings, OPS_PIPELINE_RUNS)}
    assert runs["silver"]["status"] == "quality_breached"
    assert runs["silver"]["error_class"] == "QualityBreach"
    [share] = [c for c in rows(spark, settings, OPS_QUALITY_CHECKS) if c["layer"] == "silver"]
    assert (share["rule"], share["passed"]) == ("quarantine_share", False)
    assert share["observed"] == pytest.approx(30 / 200) and share["threshold"] == 0.05

    events = [json.loads(m["Message"]) for m in trail.receive(4)]
    [breach] = [e for e in events if e["event"] == "quality_breached"]
    assert breach["layer"] == "silver" and breach["run_id"] == runs["silver"]["run_id"]
    assert [c["rule"] for c in breach["failed_checks"]] == ["quarantine_share"]
