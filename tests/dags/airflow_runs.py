"""Helpers for running the real DAG in real Airflow: environments, runs, the metadata DB, REST.

Every Airflow process runs as a subprocess with its own AIRFLOW_HOME (SQLite), built by the same
`brewlake.airflow.local.airflow_env` that `make airflow` uses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

from brewlake.airflow.local import admin_password, airflow_env, is_api_up
from brewlake.config import PROJECT_ROOT, Settings
from brewlake.devkit.cluster import free_port
from tests.conftest import env_for, wait_for

DAG_ID = "brewlake_medallion"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
LOCAL_CONN = json.dumps({"conn_type": "spark", "host": "local[2]"})


def make_env(home: Path, settings: Settings, port: int | None = None, **extra: str) -> dict:
    """Airflow + brewlake environment for one AIRFLOW_HOME and one lake."""
    env = airflow_env(home, port or free_port(), base=env_for(settings))
    env.update(
        AIRFLOW_CONN_BREWLAKE_SPARK=LOCAL_CONN,
        # Several Airflows may share this machine: no fixed log-server ports.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
    )
    env.update(extra)
    return env


def migrate(env: dict) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def run(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group; on timeout the whole group goes (JVMs included)."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(
            f"timed out after {timeout}s: {' '.join(cmd)}\n{out[-5000:]}"
        ) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


# `dag.test()` (what `airflow dags test` calls) on the DAG as parsed from dags/, with the retry
# delay shortened to a second: the retry policy itself is asserted by the integrity test; here it
# is exercised without waiting minutes (and a broken layer fails a test in seconds, not in 7 min).
# A task may be given another application to submit (a job that fails in a given way).
DAG_TEST = r"""
import datetime as dt, json, sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
for task in dag.tasks:
    task.retries = 1
    task.retry_delay = dt.timedelta(seconds=1)
for task_id, application in json.loads(sys.argv[4]).items():
    dag.get_task(task_id).application = application
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[3]).replace(tzinfo=dt.UTC))
print("DAG_RUN_STATE", run.state)
"""


def dag_test(
    env: dict, date: str, timeout: float = 900, applications: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """One DAG run for logical date `date`, in-process in a fresh interpreter (real Airflow)."""
    apps = json.dumps(applications or {})
    cmd = [sys.executable, "-c", DAG_TEST, str(PROJECT_ROOT / "dags"), DAG_ID, date, apps]
    return run(cmd, env, timeout)


# ---- the metadata DB (SQLite in AIRFLOW_HOME), read directly


def query(home: Path, sql: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(Path(home) / "airflow.db") as db:
        return db.execute(sql, params).fetchall()


def run_of(home: Path, date: str) -> tuple[str, str]:
    """(run_id, state) of the DAG run for logical date `date`."""
    [(run_id, state)] = query(
        home,
        "SELECT run_id, state FROM dag_run WHERE dag_id = ? AND date(logical_date) = ?",
        DAG_ID,
        date,
    )
    return run_id, state


def task_states(home: Path, run_id: str) -> dict[str, tuple[str, int]]:
    rows = query(
        home,
        "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
        DAG_ID,
        run_id,
    )
    return {task: (state, tries) for task, state, tries in rows}


def task_seconds(home: Path, run_id: str, task_id: str) -> float:
    """How long the task's last try ran, start to end, as the metadata DB recorded it."""
    [(start, end)] = query(
        home,
        "SELECT start_date, end_date FROM task_instance "
        "WHERE dag_id = ? AND run_id = ? AND task_id = ?",
        DAG_ID,
        run_id,
        task_id,
    )
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def asset_events(home: Path) -> list[str]:
    rows = query(
        home,
        "SELECT a.name FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE e.source_dag_id = ? ORDER BY e.id",
        DAG_ID,
    )
    return [name for (name,) in rows]


# ---- a running Airflow (scheduler, dag-processor, API server) driven over the REST API


@dataclass
class Api:
    base: str
    token: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kwargs)


@contextmanager
def running_airflow(env: dict, log_path: Path, start_timeout: float = 240):
    """`python -m brewlake.airflow.local` (what `make airflow` runs) until the block exits."""
    home, port = Path(env["AIRFLOW_HOME"]), int(env["AIRFLOW__API__PORT"])
    port_arg = ("--port", str(port))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "brewlake.airflow.local", *("--home", str(home)), *port_arg],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + start_timeout
            while not (is_api_up(port) and admin_password(home)):
                assert proc.poll() is None, f"airflow exited: {log_path.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"no API: {log_path.read_text()[-3000:]}"
                time.sleep(1)
            base = f"http://127.0.0.1:{port}"
            answer = requests.post(
                f"{base}/auth/token",
                json={"username": "admin", "password": admin_password(home)},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            yield Api(base, answer.json()["access_token"]), proc
        finally:
            stop_airflow(proc)


def stop_airflow(proc: subprocess.Popen) -> None:
    """SIGTERM to airflow_local (it stops standalone); then kill whatever it left behind."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def trigger_run(api: Api, logical_date: str) -> str:
    """Wait for the DAG to be registered, unpause it, trigger a run for `logical_date`
    (YYYY-MM-DD); its run id."""
    wait_for(
        lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200,
        timeout=180,
        what="the dag-processor to register the DAG",
        interval=2,
    )
    answer = api.call("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    assert answer.status_code == 200, answer.text
    answer = api.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": f"{logical_date}T00:00:00Z", "conf": {}},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["dag_run_id"]
