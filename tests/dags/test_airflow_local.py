"""`make airflow`'s launcher: the environment it gives Airflow (the services themselves are started
by test_dag_run.py's REST test)."""

from __future__ import annotations

import json
import subprocess
import sys

from brewlake.airflow_local import airflow_env, login_banner
from brewlake.config import PROJECT_ROOT


def test_print_env_shows_a_project_local_airflow_on_this_dags_folder(tmp_path):
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("AIRFLOW", "BREWLAKE_"))
    }
    out = subprocess.run(
        [sys.executable, "-m", "brewlake.airflow_local", "--print-env", "--port", "8099"],
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
