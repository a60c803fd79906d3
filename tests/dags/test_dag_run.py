"""The DAG run by real Airflow against the replay API and a temporary lake.

Three Airflow runs in all, because each spark-submit costs a JVM:
1. `dag.test()` (what `airflow dags test` runs) for RUN_DATE: three spark-submits, gold
   queryable (module fixture);
2. `dag.test()` for another date with the API down: fails at bronze after one retry, silver and
   gold untouched, the failure reaches a real webhook;
3. scheduler + dag-processor + API server (`python -m brewlake.airflow.local`), triggered through
   the REST API for RUN_DATE again: succeeds, and the tables are exactly as after run 1.
Run events of every run go to a real SNS topic (moto) with a subscribed SQS queue.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from brewlake.catalog import GOLD_BREWERY_COUNTS, SILVER_BREWERIES, TABLES, table_version
from brewlake.config import Settings
from brewlake.devkit.cluster import free_port
from brewlake.lake import Lake
from tests.brewlake.ops.monitoring_fixtures import Trail, aws_client, webhook_fixture  # noqa: F401
from tests.conftest import wait_for
from tests.dags.airflow_runs import (
    DAG_ID,
    asset_events,
    dag_test,
    make_env,
    migrate,
    run_of,
    running_airflow,
    task_states,
    trigger_run,
)

pytestmark = pytest.mark.slow

RUN_DATE = "2025-03-01"
OUTAGE_DATE = "2025-03-02"
RECORDS = 300


@pytest.fixture(scope="module")
def lake(base_settings: Settings, tmp_path_factory) -> Settings:
    return base_settings.replace(lake_root=str(tmp_path_factory.mktemp("dag-lake") / "lake"))


@pytest.fixture(scope="module")
def source():
    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records

    with serve_in_thread(generate_records(RECORDS, seed=6)) as api:
        yield api


@pytest.fixture(scope="module")
def trail(moto_endpoint: str) -> Trail:
    """An SNS topic for the run events, and an SQS queue subscribed to it."""
    name = f"brewlake-dag-{uuid.uuid4().hex[:10]}"
    sns, sqs = aws_client("sns", moto_endpoint), aws_client("sqs", moto_endpoint)
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    return Trail(topic_arn, queue_url, sqs)


def airflow_env(home: Path, lake: Settings, api_url: str, trail: Trail, moto: str, **extra):
    return make_env(
        home,
        lake,
        BREWLAKE_API_URL=api_url,
        BREWLAKE_ALERT_SNS_TOPIC_ARN=trail.topic_arn,
        AWS_ENDPOINT_URL_SNS=moto,
        **extra,
    )


def callback_events(trail: Trail, run_id: str, timeout: float = 20.0) -> list[dict]:
    """Events the DAG's callbacks published for Airflow run `run_id` (the jobs' own events carry
    brewlake run ids, with the Airflow one as `airflow_run_id`)."""
    deadline = time.monotonic() + timeout
    mine: list[dict] = []
    while not mine and time.monotonic() < deadline:
        events = [json.loads(m["Message"]) for m in trail.receive(50, timeout=2)]
        mine += [e for e in events if e.get("run_id") == run_id]
    return mine


# The data tables. silver.applied_batches and ops.* are bookkeeping: a re-run must add to them.
DATA_TABLES = [t for t in TABLES if t.database == "gold" or t.name.startswith("breweries")]
# Columns that say which run wrote a row, not what the row says: a re-run may restamp them.
RUN_STAMPS = frozenset(
    {"batch_id", "updated_at", "recorded_at", "quarantined_at", "computed_at", "silver_version"}
)


def snapshot(spark, settings: Settings) -> dict[str, dict]:
    """Every data table: Delta version, all rows, and the rows without run stamps (sorted)."""
    lake = Lake(settings)
    out = {}
    for table in DATA_TABLES:
        version = table_version(spark, settings, table)
        rows, content = [], []
        if version is not None:
            df = spark.read.format("delta").load(lake.table_location(table))
            rows = sorted((tuple(r) for r in df.collect()), key=repr)
            kept = [c for c in df.columns if c not in RUN_STAMPS]
            content = sorted((tuple(r) for r in df.select(*kept).collect()), key=repr)
        out[table.qualified] = {"version": version, "rows": rows, "content": content}
    return out


def contents(tables: dict[str, dict]) -> dict[str, list]:
    return {name: t["content"] for name, t in tables.items()}


@dataclass
class FirstRun:
    home: Path
    output: str
    tables: dict


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, lake, source, trail, moto_endpoint, spark) -> FirstRun:
    home = tmp_path_factory.mktemp("airflow-dags-test")
    # The gold task writes the HTML report here (off elsewhere in the suite: it costs seconds).
    env = airflow_env(home, lake, source.url, trail, moto_endpoint, BREWLAKE_REPORT_ENABLED="true")
    migrate(env)
    out = dag_test(env, RUN_DATE)
    return FirstRun(home, out.stdout, snapshot(spark, lake))


def test_dag_run_submits_three_layers_and_gold_is_queryable(first_run, spark, lake, trail):
    assert "DAG_RUN_STATE success" in first_run.output, first_run.output[-6000:]
    run_id, state = run_of(first_run.home, RUN_DATE)
    assert state == "success"
    assert task_states(first_run.home, run_id) == {
        "bronze": ("success", 1),
        "silver": ("success", 1),
        "gold": ("success", 1),
    }
    submits = [line for line in first_run.output.splitlines() if "Spark-Submit cmd:" in line]
    assert len(submits) == 3
    assert all("--master local[2]" in s and "delta-spark_" in s for s in submits)
    assert asset_events(first_run.home) == [
        "bronze.breweries",
        "silver.breweries",
        "gold.brewery_counts",
    ]

    # Gold is queryable with Spark SQL, and accounts for every brewery the API served.
    location = Lake(lake).table_location(GOLD_BREWERY_COUNTS)
    total = spark.sql(f"SELECT SUM(brewery_count) AS n FROM delta.`{location}`").first()["n"]
    silver = spark.read.format("delta").load(Lake(lake).table_location(SILVER_BREWERIES))
    assert silver.count() == RECORDS
    assert total == silver.where("is_active").count() > 0

    [event] = callback_events(trail, run_id)
    assert event["event"] == "succeeded"
    assert (event["layer"], event["run_id"]) == ("gold", run_id)
    assert event["logical_date"] == RUN_DATE
    # The gold task wrote the run's HTML report beside the lake.
    report = Path(lake.lake_root) / "reports" / RUN_DATE / "index.html"
    assert "silver.breweries <b>v" in report.read_text(encoding="utf-8")


def test_api_down_fails_at_bronze_leaves_silver_and_gold_and_alerts(
    tmp_path_factory, lake, trail, moto_endpoint, webhook, spark
):
    # After test 1 when the module runs whole, so silver and gold then hold data.
    before = snapshot(spark, lake)
    home = tmp_path_factory.mktemp("airflow-outage")
    dead_api = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = airflow_env(
        home,
        lake,
        dead_api,
        trail,
        moto_endpoint,
        BREWLAKE_API_MAX_RETRIES="0",
        BREWLAKE_ALERT_WEBHOOK_URL=webhook.url,
    )
    migrate(env)
    out = dag_test(env, OUTAGE_DATE)
    assert "DAG_RUN_STATE failed" in out.stdout, out.stdout[-6000:]

    run_id, state = run_of(home, OUTAGE_DATE)
    assert state == "failed"
    states = task_states(home, run_id)
    assert states["bronze"] == ("failed", 2)  # tried, retried, failed for good
    assert states["silver"][0] == states["gold"][0] == "upstream_failed"
    assert snapshot(spark, lake) == before  # same versions, same rows

    # One alert, after the last try, saying what the job said.
    [body] = webhook.wait_for(1, timeout=10)
    sent = body["event_data"]
    assert (sent["event"], sent["layer"], sent["try_number"]) == ("failed", "bronze", 2)
    assert (sent["run_id"], sent["logical_date"]) == (run_id, OUTAGE_DATE)
    assert dead_api in sent["error"]
    assert sent["log_url"].endswith("/tasks/bronze?try_number=2")
    [event] = callback_events(trail, run_id)
    assert event["event_id"] == sent["event_id"]


def test_rest_triggered_run_by_the_scheduler_succeeds_and_changes_no_table(
    first_run, tmp_path_factory, lake, source, trail, moto_endpoint, spark
):
    """`make airflow`'s services, a run triggered over REST for RUN_DATE again: same tables."""
    home = tmp_path_factory.mktemp("airflow-services")
    env = airflow_env(
        home,
        lake,
        source.url,
        trail,
        moto_endpoint,
        # Only the triggered run: no scheduled run for "today" when the DAG is unpaused.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
    )
    with running_airflow(env, home / "standalone.log") as (api, _proc):
        run_id = trigger_run(api, RUN_DATE)

        def finished():
            state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        state = wait_for(finished, timeout=420, interval=3, what=f"run {run_id}")
        tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
        summary = {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}
        assert state == "success", (summary, (home / "standalone.log").read_text()[-6000:])
    assert summary == {"bronze": "success", "silver": "success", "gold": "success"}
    # The second run of the same date changed nothing: same Delta version, same rows, per table.
    again = snapshot(spark, lake)
    versions = {n: (first_run.tables[n]["version"], again[n]["version"]) for n in again}
    print(f"Delta versions first run -> REST run: {versions}")
    assert contents(again) == contents(first_run.tables)  # the readable diff, if any
    assert again == first_run.tables
    assert again["silver.breweries"]["rows"] and again["gold.brewery_counts"]["rows"]
