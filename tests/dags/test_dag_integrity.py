"""DAG integrity: the DagBag loads, the wiring is what the README promises, parsing is cheap.

No database and no Spark: the DAG file is parsed by Airflow's own DagBag and its templates are
rendered the way a worker renders them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brewlake.airflow.hooks import (
    LOCAL_SPARK_CONN,
    RETRY_POLICY,
    SPARK_CONN_ID,
    MissingSparkConnection,
    on_pipeline_success,
    on_task_failure,
)
from brewlake.config import PROJECT_ROOT
from brewlake.errors import ConfigError, SetupError

DAGS = PROJECT_ROOT / "dags"
DAG_ID = "brewlake_medallion"
LAYERS = ["bronze", "silver", "gold"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags[DAG_ID]


def test_dagbag_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == [DAG_ID]


def test_tasks_are_bronze_then_silver_then_gold(dag):
    assert sorted(dag.task_ids) == sorted(LAYERS)
    bronze, silver, gold = (dag.get_task(t) for t in LAYERS)
    assert bronze.upstream_task_ids == set()
    assert bronze.downstream_task_ids == {"silver"}
    assert silver.downstream_task_ids == {"gold"}
    assert gold.downstream_task_ids == set()


def test_schedule_and_run_policy(dag):
    assert dag.schedule == "@daily"
    assert dag.timetable.expression == "0 0 * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.tags) == {"brewlake", "medallion", "spark"}
    assert "bronze" in dag.doc_md and "brewlake_spark" in dag.doc_md
    assert dag.dagrun_timeout == dt.timedelta(hours=2)
    assert dag.start_date == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("layer", LAYERS)
def test_each_task_retries_with_real_exponential_backoff(dag, layer):
    task = dag.get_task(layer)
    assert task.retries == 2
    assert task.retry_delay == dt.timedelta(minutes=2)
    # Airflow 3: a multiplier; 1.0 (what `True` becomes) would mean a constant delay.
    assert task.retry_exponential_backoff == 2.0
    assert task.max_retry_delay == dt.timedelta(minutes=30)
    assert task.execution_timeout <= dt.timedelta(minutes=30)
    assert on_task_failure in task.on_failure_callback
    # ...except configuration errors, which fail at once (test_config_failures.py runs them).
    assert task.retry_policy is RETRY_POLICY


def test_the_retry_policy_serializes_as_a_flag_the_worker_resolves(dag):
    """What the dag-processor stores: a `has_retry_policy` flag, never the object (whose repr would
    change on every parse and make a new DAG version each time)."""
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dag)
    assert type(RETRY_POLICY).__name__ not in json.dumps(data)
    stored = DagSerialization.from_dict(data)
    assert all(stored.get_task(t).has_retry_policy for t in LAYERS)


def test_only_the_last_task_reports_success(dag):
    assert on_pipeline_success in dag.get_task("gold").on_success_callback
    assert not dag.get_task("bronze").on_success_callback
    assert not dag.get_task("silver").on_success_callback


@pytest.mark.parametrize("layer", LAYERS)
def test_each_task_spark_submits_its_layer_job_for_the_logical_date(dag, layer):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    task = dag.get_task(layer)
    assert isinstance(task, SparkSubmitOperator)
    assert task._conn_id == SPARK_CONN_ID
    assert Path(task.application) == PROJECT_ROOT / layer / "job.py"
    assert Path(task.application).is_file()
    assert task.application_args == ["--date", "{{ ds }}"]


def test_outlets_declare_the_layer_assets(dag):
    outlets = {t: [(a.name, a.uri) for a in dag.get_task(t).outlets] for t in LAYERS}
    assert outlets == {
        "bronze": [("bronze.breweries", "x-brewlake://bronze/breweries")],
        "silver": [("silver.breweries", "x-brewlake://silver/breweries")],
        "gold": [("gold.brewery_counts", "x-brewlake://gold/brewery_counts")],
    }


def test_templates_render_the_jars_conf_and_master_at_run_time(dag, monkeypatch, tmp_path):
    """What a worker renders: a dict of --conf (no secrets), the jars, the connection's master."""
    cluster = "spark://spark-master:7077"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BREWLAKE_SPARK",
        json.dumps({"conn_type": "spark", "host": "spark://spark-master", "port": 7077}),
    )
    monkeypatch.setenv("BREWLAKE_SPARK_MASTER", "local[3]")  # the connection must win
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", str(tmp_path / "lake"))
    task = copy.deepcopy(dag.get_task("silver"))
    task.render_template_fields({"ds": "2025-03-01"})

    assert task.application_args == ["--date", "2025-03-01"]
    assert task.env_vars == {"BREWLAKE_SPARK_MASTER": cluster}
    jars = task.jars.split(",")
    assert all(Path(j).is_file() and j.endswith(".jar") for j in jars)
    assert any(Path(j).name.startswith("delta-spark_") for j in jars)
    assert isinstance(task.conf, dict)
    assert task.conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert task.conf["spark.sql.warehouse.dir"] == f"{tmp_path / 'lake'}/_warehouse"
    assert task.conf["spark.pyspark.driver.python"] == sys.executable
    assert "spark.master" not in task.conf and "spark.jars" not in task.conf
    # Credentials reach the job through its environment, never the spark-submit command line.
    secret = __import__("os").environ["AWS_SECRET_ACCESS_KEY"]
    assert not [k for k in task.conf if "secret" in k or "access.key" in k]
    assert secret not in json.dumps(task.conf)


def test_a_local_master_gets_the_jars_on_its_class_path_not_through_jars(dag, monkeypatch):
    """Under a local master the driver is the only JVM: `--jars` would copy every jar into a
    scratch folder at each submit, so the jars go on the class path, as a local session does."""
    monkeypatch.setenv("AIRFLOW_CONN_BREWLAKE_SPARK", LOCAL_SPARK_CONN)
    monkeypatch.delenv("BREWLAKE_JARS_ON_EVERY_NODE", raising=False)
    task = copy.deepcopy(dag.get_task("silver"))
    task.render_template_fields({"ds": "2025-03-01"})

    assert task.env_vars["BREWLAKE_SPARK_MASTER"] == "local[*]"
    assert task.jars == ""
    # With a class archive the driver's s3a jars follow Spark's own (test_spark_submit.py).
    dist = task.env_vars.get("SPARK_DIST_CLASSPATH")
    for side, extra in (("driver", dist), ("executor", None)):
        jars = task.conf[f"spark.{side}.extraClassPath"].split(os.pathsep)
        jars += extra.split(os.pathsep) if extra else []
        assert all(Path(j).is_file() and j.endswith(".jar") for j in jars)
        for jar in ("delta-spark_", "hadoop-aws-"):
            assert any(Path(j).name.startswith(jar) for j in jars), (side, jar)


def test_rendering_without_the_spark_connection_names_the_variable(dag, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_BREWLAKE_SPARK", raising=False)
    task = copy.deepcopy(dag.get_task("bronze"))
    with pytest.raises(MissingSparkConnection, match="set AIRFLOW_CONN_BREWLAKE_SPARK"):
        task.render_template_fields({"ds": "2025-03-01"})


def test_rendering_without_the_jars_names_the_setup_and_the_variable(dag, tmp_path, monkeypatch):
    monkeypatch.setenv("BREWLAKE_JARS_DIR", str(tmp_path / "missing"))
    task = copy.deepcopy(dag.get_task("bronze"))
    with pytest.raises(SetupError) as info:
        task.render_template_fields({"ds": "2025-03-01"})
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "missing") in message
    assert "make setup" in message and "BREWLAKE_JARS_DIR" in message


def test_rendering_with_a_malformed_setting_names_it(dag, monkeypatch):
    monkeypatch.setenv("BREWLAKE_SPARK_SHUFFLE_PARTITIONS", "-1")
    task = copy.deepcopy(dag.get_task("bronze"))
    with pytest.raises(
        ConfigError,
        match=r"^BREWLAKE_SPARK_SHUFFLE_PARTITIONS='-1': .*greater than or equal to 0 .*0: one per",
    ):
        task.render_template_fields({"ds": "2025-03-01"})


PARSE_PROBE = r"""
import json, sys, time
root = sys.argv[1]
touched = []
watched = (f"{root}/conf", f"{root}/.jars", f"{root}/lake")

def audit(event, args):
    if event == "socket.connect":
        touched.append(f"socket.connect {args[1]!r}")
    elif event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], str):
        if args[0].startswith(watched):
            touched.append(f"{event} {args[0]}")

from airflow.dag_processing.dagbag import DagBag
sys.addaudithook(audit)
t0 = time.perf_counter()
bag = DagBag(dag_folder=f"{root}/dags")
first = time.perf_counter() - t0
t0 = time.perf_counter()
DagBag(dag_folder=f"{root}/dags")
again = time.perf_counter() - t0
heavy = ("pyspark", "py4j", "delta", "bronze", "silver", "gold", "boto3", "requests")
leaked = sorted(m for m in sys.modules if m.split(".")[0] in heavy[:6])
print(json.dumps({
    "errors": bag.import_errors, "dags": list(bag.dags), "first_s": first, "again_s": again,
    "stat_s": [s.duration.total_seconds() for s in bag.dagbag_stats],
    "leaked": leaked, "touched": touched,
}))
"""


@pytest.mark.parametrize("backend", ["spark-submit", "ecs"])
def test_parsing_is_fast_and_does_no_io_nor_spark_or_layer_imports(tmp_path, backend):
    """In a fresh interpreter (as the dag-processor parses), with either deployment switch:
    modules, I/O and time of a parse."""
    env = {
        **__import__("os").environ,
        "AIRFLOW_HOME": str(tmp_path),
        "BREWLAKE_SPARK_BACKEND": backend,
    }
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"DAG parse ({backend}): first {probe['first_s']:.3f}s, again {probe['again_s']:.3f}s")
    assert probe["errors"] == {} and probe["dags"] == [DAG_ID]
    assert probe["leaked"] == []
    assert probe["touched"] == []
    # The first parse imports the Spark provider; a re-parse is what the dag-processor repeats.
    assert probe["again_s"] < 1.0
    assert probe["first_s"] < 10.0
