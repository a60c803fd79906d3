"""`make airflow`'s launcher: the environment it gives Airflow, and that Ctrl-C stops all it
started (test_dag_run.py's REST test runs a DAG on the services)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from brewlake.airflow.local import airflow_env, is_api_up, login_banner
from brewlake.config import PROJECT_ROOT
from tests.brewlake.test_processes import accepting, family, left_of, listening
from tests.conftest import wait_for
from tests.dags.airflow_runs import make_env, running_airflow, trigger_run


def test_print_env_shows_a_project_local_airflow_on_this_dags_folder(tmp_path):
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("AIRFLOW", "BREWLAKE_"))
    }
    out = subprocess.run(
        [sys.executable, "-m", "brewlake.airflow.local", "--print-env", "--port", "8099"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr
    shown = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert shown["AIRFLOW_HOME"] == str(PROJECT_ROOT / ".airflow")
    assert shown["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert shown["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert shown["AIRFLOW__API__PORT"] == "8099"
    assert json.loads(shown["AIRFLOW_CONN_BREWLAKE_SPARK"]) == {
        "conn_type": "spark",
        "host": "local[*]",
    }
    assert shown["BREWLAKE_LAKE_ROOT"] == str(PROJECT_ROOT / "lake")
    assert not (tmp_path / ".airflow").exists()


def test_a_configured_connection_and_lake_are_kept(tmp_path):
    cluster = '{"conn_type":"spark","host":"spark://spark-master","port":7077}'
    base = {"AIRFLOW_CONN_BREWLAKE_SPARK": cluster, "BREWLAKE_LAKE_ROOT": "s3a://b/lake"}
    env = airflow_env(tmp_path / "home", 8080, base=base)
    assert env["AIRFLOW_CONN_BREWLAKE_SPARK"] == cluster
    assert env["BREWLAKE_LAKE_ROOT"] == "s3a://b/lake"
    assert env["PATH"].split(":")[0] == str(PROJECT_ROOT / ".venv" / "bin")
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")


def test_login_banner_gives_the_url_and_the_generated_password(tmp_path):
    (tmp_path / "simple_auth_manager_passwords.json.generated").write_text(
        json.dumps({"admin": "s3cr3t-pw"})
    )
    banner = login_banner(tmp_path, 8123)
    assert "http://localhost:8123" in banner
    assert "user 'admin', password 's3cr3t-pw'" in banner


@pytest.mark.slow
def test_ctrl_c_stops_airflow_leaving_no_process_and_no_open_port(tmp_path, lake_settings):
    env = make_env(tmp_path / "airflow", lake_settings)
    port = int(env["AIRFLOW__API__PORT"])
    with running_airflow(env, tmp_path / "airflow_local.log") as (_api, proc):
        tree = family(proc.pid)
        sockets = listening(tree)
        commands = [" ".join(p.cmdline()) for p in tree]
        for component in ("standalone", "scheduler", "dag-processor", "api_server", "triggerer"):
            assert any(component in c for c in commands), commands
        assert ("127.0.0.1", port) in sockets

        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does to `make airflow`
        assert proc.wait(timeout=120) == 130
        elapsed = time.monotonic() - started
        print(f"Ctrl-C to all stopped: {elapsed:.1f} s, {len(tree)} processes")
        assert left_of(tree) == [], (tmp_path / "airflow_local.log").read_text()[-3000:]
        assert accepting(sockets) == []
        assert not is_api_up(port)
    assert elapsed < 60  # the launcher's grace periods (30 s, then SIGTERM 10 s, SIGKILL 5 s)


@pytest.mark.slow
def test_ctrl_c_mid_run_stops_the_running_task_and_its_spark_submit_too(tmp_path, lake_settings):
    """Airflow runs each task in a process group of its own: it must go all the same."""
    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records

    # An API that answers in ten minutes: bronze's task is still running when Ctrl-C comes.
    with serve_in_thread(generate_records(20, seed=1), latency_ms=600_000) as slow_api:
        env = make_env(
            tmp_path / "airflow",
            lake_settings,
            BREWLAKE_API_URL=slow_api.url,
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        )
        log = tmp_path / "airflow_local.log"
        with running_airflow(env, log) as (api, proc):
            trigger_run(api, "2025-03-01")

            def submitting():
                tree = family(proc.pid)
                group = os.getpgid(tree[1].pid)  # standalone's
                outside = [p for p in tree if os.getpgid(p.pid) != group and p != tree[0]]
                java = [p for p in outside if p.name() == "java"]
                return (tree, outside) if java else None

            tree, outside = wait_for(
                submitting, timeout=300, what="bronze's spark-submit", interval=2
            )
            sockets = listening(tree)

            started = time.monotonic()
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=120) == 130
            elapsed = time.monotonic() - started
            print(f"Ctrl-C mid-run: {elapsed:.1f} s, {len(tree)} processes, {len(outside)} outside")
            assert left_of(tree) == [], log.read_text()[-3000:]
            assert accepting(sockets) == []
    assert elapsed < 75  # grace 30 s (the task does not end by itself), SIGTERM 10 s, SIGKILL 5 s
