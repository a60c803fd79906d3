"""The pipeline on a real Spark standalone cluster (master + two 1-core workers on 127.0.0.1)
with the lake on the moto S3 server over s3a://: `brewlake run` in client mode, each layer by
spark-submit with only what `brewlake spark-conf` prints, and the Airflow DAG. Each run's silver
and gold equal a local[2] run's on the same input, and its applications ran on both workers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from brewlake.devkit.cluster import StandaloneCluster, get_json
from tests.cluster.conftest import (
    BIN,
    RUN_DATE,
    cluster_env,
    new_s3_lake,
    results,
    run_logged,
    run_probe,
    silver_rows,
)
from tests.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.s3]


def completed_apps(cluster: StandaloneCluster) -> dict[str, dict]:
    return {app["id"]: app for app in cluster.state()["completedapps"]}


def ran_on(cluster: StandaloneCluster, app_id: str) -> list[str]:
    """The names of the live workers that ran an executor of `app_id`."""
    names = []
    for daemon in cluster.worker_daemons:
        if daemon.is_running():
            state = cluster.worker_state(daemon)
            executors = state["executors"] + state["finishedexecutors"]
            if any(e["appid"] == app_id for e in executors):
                names.append(daemon.name)
    return names


def tasks_on(cluster: StandaloneCluster, app_id: str) -> dict[str, int]:
    """Tasks each live worker's executors of `app_id` started (their logs, kept by the worker)."""
    return {
        daemon.name: sum(
            log.read_text(errors="replace").count("Executor: Running task ")
            for log in cluster.executor_logs(daemon, app_id)
        )
        for daemon in cluster.worker_daemons
        if daemon.is_running()
    }


def worker_states(cluster: StandaloneCluster) -> list[dict]:
    return [cluster.worker_state(d) for d in cluster.worker_daemons if d.is_running()]


def new_apps(cluster: StandaloneCluster, before: set[str]) -> list[dict]:
    apps = completed_apps(cluster)
    return sorted((a for i, a in apps.items() if i not in before), key=lambda a: a["starttime"])


def assert_ran_on_both_workers(
    cluster: StandaloneCluster, before: set[str], names: list[str], *, served_jars: bool = False
):
    """The applications finished since `before` are `names`, each granted cores, each with an
    executor on both workers, which copied the jars into the application's folder if and only if
    the driver `served_jars` (`spark.jars`); prints the master's record of them."""
    # The master files an application as completed a moment after its driver exits.
    apps = wait_for(
        lambda: (found := new_apps(cluster, before)) and len(found) >= len(names) and found,
        60,
        f"{names} among the master's completed applications",
        0.5,
    )
    assert [a["name"] for a in apps] == names
    for app in apps:
        assert app["state"] == "FINISHED", app
        assert app["cores"] >= 1, app  # what the master granted it
        assert ran_on(cluster, app["id"]) == ["worker-1", "worker-2"], (app, worker_states(cluster))
        # Through `spark.jars` every executor copies every jar (686 MB with the s3a jars); on
        # its class path (the jars at the same path on every node) it reads them where they are.
        copies = list(cluster.work_dir.glob(f"worker-*/{app['id']}/*/*.jar"))
        assert bool(copies) == served_jars, (app, copies[:3])
        tasks = tasks_on(cluster, app["id"])
        assert sorted(tasks) == ["worker-1", "worker-2"] and min(tasks.values()) > 0, tasks
        print(f"{app['name']}: tasks per worker {tasks}")
    print(json.dumps(apps, indent=1))


def test_cluster_is_two_alive_one_core_workers(cluster):
    state = cluster.state()
    alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert [(w["host"], w["cores"], w["memory"]) for w in alive] == [("127.0.0.1", 1, 2048)] * 2
    assert state["url"] == cluster.master_url.replace("spark://", "spark://")


SESSION_SHAPE = """
import json
from brewlake.config import load_settings
from brewlake.spark import build_session, executor_count
spark = build_session(load_settings(), register_tables=False)
shape = {
    "executors": executor_count(spark),
    "parallelism": spark.sparkContext.defaultParallelism,
    "shuffle": int(spark.conf.get("spark.sql.shuffle.partitions")),
    "snapshot": int(spark.conf.get("spark.databricks.delta.snapshotPartitions")),
}
print(json.dumps(shape))
spark.stop()
"""


def test_a_cluster_session_gets_one_shuffle_partition_per_executor_core(
    cluster, base_settings, source
):
    # Auto partitions (0), unlike the other tests here: 64 made every stage 64 tiny tasks.
    settings = new_s3_lake(base_settings, source.url)
    env = cluster_env(settings, cluster.master_url, BREWLAKE_SPARK_SHUFFLE_PARTITIONS="0")
    shape = run_probe(SESSION_SHAPE, env)
    assert shape["executors"] >= 1, shape  # waited for
    # Two 1-core workers: Spark's default parallelism is 2 (their cores, and never under 2).
    assert shape == {**shape, "parallelism": 2, "shuffle": 2, "snapshot": 2}


EXECUTOR_ARCHIVE = """
import json
from pathlib import Path
from brewlake.config import load_settings
from brewlake.devkit.cluster import executor_pids
from brewlake.spark import build_session, executor_class_archive
settings = load_settings()
spark = build_session(settings, register_tables=False)
spark.range(1000).selectExpr("sum(id)").collect()  # work for both executors
app = spark.sparkContext.applicationId
archive = executor_class_archive(settings)
maps = [Path(f"/proc/{pid}/maps").read_text() for pid in executor_pids(app)]
mapped = [str(archive.resolve()) in text for text in maps]
options = spark.conf.get("spark.executor.extraJavaOptions")
print(json.dumps({"archive": str(archive), "options": options, "mapped": mapped}))
spark.stop()
"""


def test_the_executors_of_a_cluster_session_map_their_class_archive(cluster, base_settings, source):
    """Each executor is a cold JVM of its own: with the jars (and so the archive `make setup`
    records) at the same paths on every node, it maps the executors' archive, which holds the
    classes an S3 lake's run loads; mapped, not only named (the JVM silently refuses an archive
    whose class path is not the start of its own)."""
    from brewlake.spark import EXECUTOR_CLASS_ARCHIVE

    if not (Path(base_settings.jars_dir) / EXECUTOR_CLASS_ARCHIVE).is_file():
        pytest.skip("no executors' class archive: `make setup` (make cds) records it")
    settings = new_s3_lake(base_settings, source.url)
    env = cluster_env(settings, cluster.master_url)
    seen = run_probe(EXECUTOR_ARCHIVE, env)
    assert seen["archive"].endswith(EXECUTOR_CLASS_ARCHIVE)
    assert f"-XX:SharedArchiveFile={seen['archive']}" in seen["options"].split()
    assert seen["mapped"] == [True, True], seen  # both executors, one per worker


def test_brewlake_run_on_the_cluster_equals_local(
    cluster, reference, base_settings, source, spark, tmp_path
):
    settings = new_s3_lake(base_settings, source.url)
    before = set(completed_apps(cluster))
    env = cluster_env(settings, cluster.master_url)
    ran = run_logged([str(BIN / "brewlake"), "run", "--date", RUN_DATE], env, tmp_path / "run.log")
    assert ran.code == 0, ran.log[-3000:]
    print(f"brewlake run: cluster {ran.seconds:.1f}s, local[2] {reference.seconds:.1f}s")
    assert_ran_on_both_workers(cluster, before, ["brewlake-run"])
    assert results(spark, settings) == reference.tables


def spark_conf_file(env: dict, path: Path) -> Path:
    """What `brewlake spark-conf` prints, as a properties file: all spark-submit is given."""
    out = subprocess.run(
        [str(BIN / "brewlake"), "spark-conf"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    path.write_text(out.stdout)
    return path


def submit(cluster, env: dict, conf: Path, layer: str, log: Path, *extra: str):
    cmd = [str(BIN / "spark-submit"), "--master", cluster.master_url, "--properties-file"]
    return run_logged([*cmd, str(conf), *extra, f"{layer}/job.py", "--date", RUN_DATE], env, log)


def test_each_layer_by_spark_submit_equals_local(
    cluster, reference, base_settings, source, spark, tmp_path
):
    settings = new_s3_lake(base_settings, source.url)
    env = cluster_env(settings, cluster.master_url)
    conf = spark_conf_file(env, tmp_path / "spark-defaults.conf")
    text = conf.read_text()
    assert "spark.driver.extraClassPath " in text and "spark.executor.extraClassPath " in text
    assert "spark.jars " not in text and "secret" not in text
    assert "spark.driver.extraJavaOptions " in text and "spark.executor.extraJavaOptions " in text
    before = set(completed_apps(cluster))
    for layer in ("bronze", "silver", "gold"):
        ran = submit(cluster, env, conf, layer, tmp_path / f"{layer}.log")
        assert ran.code == 0, ran.log[-3000:]
        print(f"spark-submit {layer}: {ran.seconds:.1f}s")
    # bronze needs no Spark: it fetches pages with HTTP and lands them with boto3.
    assert_ran_on_both_workers(cluster, before, ["brewlake-silver", "brewlake-gold"])
    assert results(spark, settings) == reference.tables


def test_airflow_dag_on_the_cluster_equals_local(
    cluster, reference, base_settings, source, spark, tmp_path
):
    from tests.dags.airflow_runs import dag_test, make_env, migrate, run_of, task_states

    settings = new_s3_lake(base_settings, source.url)
    host, port = cluster.master_url.rsplit(":", 1)
    connection = json.dumps({"conn_type": "spark", "host": host, "port": int(port)})
    extra = cluster_env(settings, cluster.master_url)
    env = make_env(
        tmp_path / "airflow",
        settings,
        AIRFLOW_CONN_BREWLAKE_SPARK=connection,
        BREWLAKE_API_URL=source.url,
        **{k: extra[k] for k in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON", "PATH")},
    )
    migrate(env)
    before = set(completed_apps(cluster))
    out = dag_test(env, RUN_DATE)
    assert "DAG_RUN_STATE success" in out.stdout, out.stdout[-6000:]
    run_id, _ = run_of(tmp_path / "airflow", RUN_DATE)
    assert {t: s for t, (s, _) in task_states(tmp_path / "airflow", run_id).items()} == {
        "bronze": "success",
        "silver": "success",
        "gold": "success",
    }
    submits = [line for line in out.stdout.splitlines() if "Spark-Submit cmd:" in line]
    assert len(submits) == 3 and all(f"--master {cluster.master_url}" in s for s in submits)
    # The default: nothing says every node has the jars, so the driver serves them (`--jars`).
    assert all("--jars " in s for s in submits)
    names = ["brewlake-silver", "brewlake-gold"]
    assert_ran_on_both_workers(cluster, before, names, served_jars=True)
    assert results(spark, settings) == reference.tables


def commits(spark, settings, table) -> int:
    from brewlake.lake import Lake

    location = Lake(settings).table_location(table)
    return spark.sql(f"DESCRIBE HISTORY delta.`{location}`").count()


def test_two_silver_runs_at_once_one_commits_the_other_names_the_holder(
    cluster, reference, base_settings, source, spark, tmp_path
):
    from brewlake.catalog import SILVER_BREWERIES
    from brewlake.storage import open_store

    settings = new_s3_lake(base_settings, source.url)
    env = cluster_env(settings, cluster.master_url)
    bronze = [str(BIN / "brewlake"), "bronze", "--date", RUN_DATE]
    ran = run_logged(bronze, env, tmp_path / "bronze.log")
    assert ran.code == 0, ran.log[-3000:]

    silver = [str(BIN / "brewlake"), "silver", "--date", RUN_DATE]
    procs = [
        subprocess.Popen(silver, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    [(_, loser_err)] = [o for p, o in zip(procs, outs, strict=True) if p.returncode != 0]
    print(f"the loser said: {loser_err.strip()}")
    [line] = loser_err.strip().splitlines()  # one line, no traceback
    assert line.startswith("brewlake: error: the lake is being written by silver (host ")
    assert "pid " in line and "since " in line and "/lake/_locks/writer.json" in line
    # One silver run's commits, exactly as many as the reference's single run made.
    assert commits(spark, settings, SILVER_BREWERIES) == commits(
        spark, reference.settings, SILVER_BREWERIES
    )
    assert silver_rows(spark, settings) == reference.tables["silver.breweries"]
    assert not open_store(settings).exists("_locks/writer.json")  # released


def test_a_worker_killed_in_the_middle_of_silver_costs_nothing(
    cluster, reference, base_settings, source, spark, tmp_path
):
    """Runs last: the extra worker it adds is killed, the session's two stay."""
    from brewlake.devkit.cluster import free_port

    settings = new_s3_lake(base_settings, source.url)
    env = cluster_env(settings, cluster.master_url, BREWLAKE_SPARK_UI_ENABLED="true")
    ran = run_logged([str(BIN / "brewlake"), "bronze", "--date", RUN_DATE], env, tmp_path / "b.log")
    assert ran.code == 0, ran.log[-3000:]
    extra = cluster.add_worker()
    conf = spark_conf_file(env, tmp_path / "spark-defaults.conf")
    ui = free_port()
    log_path = tmp_path / "silver.log"
    cmd = [str(BIN / "spark-submit"), "--master", cluster.master_url, "--properties-file"]
    cmd += [str(conf), "--conf", f"spark.ui.port={ui}", "silver/job.py", "--date", RUN_DATE]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def extra_executor():
            state = cluster.worker_state(extra)
            mine = [e for e in state["executors"] if e["appdesc"]["name"] == "brewlake-silver"]
            return mine and (mine[0]["appid"], str(mine[0]["id"]))

        app_id, executor = wait_for(extra_executor, 240, "an executor on the extra worker", 0.5)

        def busy():
            url = f"http://127.0.0.1:{ui}/api/v1/applications/{app_id}/executors"
            try:
                found = [e for e in get_json(url) if e["id"] == executor]
            except (OSError, ValueError):  # not listening yet, or "Spark is starting up"
                return None
            return found and found[0]["totalTasks"] > 0 and found[0]

        before_kill = wait_for(busy, 240, "tasks on the extra worker's executor", 0.2)
        cluster.kill_worker(extra)
        print(f"killed {extra.name} with executor {executor}: {before_kill}")
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log_path.read_text()
    assert code == 0, text[-3000:]
    assert f"Lost executor {executor}" in text, text[-3000:]
    dead = [
        w for w in cluster.state()["workers"] if w["webuiaddress"].endswith(f":{extra.ui_port}")
    ]
    assert [w["state"] for w in dead] == ["DEAD"]
    assert silver_rows(spark, settings) == reference.tables["silver.breweries"]
    assert len(cluster.alive_workers()) == 2
