"""`make airflow`: a local Airflow 3 (`airflow standalone`) on this project's `dags/` folder.

    python -m brewlake.airflow.local [--home .airflow] [--port 8080] [--print-env]

AIRFLOW_HOME is `.airflow/` inside the project (git-ignored), the examples are off, the
`brewlake_spark` connection comes from `AIRFLOW_CONN_BREWLAKE_SPARK` (default: Spark `local[*]`),
and the lake defaults to `./lake` of the project. Once the API server answers, the UI URL and the
admin login are printed. Ctrl-C or SIGTERM stops all it started (`brewlake.processes`): every
component, running tasks included; the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from brewlake.airflow.hooks import LOCAL_SPARK_CONN
from brewlake.config import PROJECT_ROOT
from brewlake.processes import run_until_stopped

ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
STOP_GRACE_S = 30.0


def _java_home() -> str:
    candidates = sorted(Path("/usr/lib/jvm").glob("java-17-openjdk-*"))
    return str(candidates[0]) if candidates else ""


def airflow_env(home: Path, port: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment `airflow standalone` (and every task it runs) gets."""
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://localhost:{port}",
        # `airflow`, `spark-submit` and the job's Python all come from this environment.
        PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]),
    )
    env.setdefault("AIRFLOW_CONN_BREWLAKE_SPARK", LOCAL_SPARK_CONN)
    # A laptop, not a cluster: the UI on localhost only, and a handful of task slots (each
    # spark-submit is a JVM).
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    # Tasks run from Airflow's working directory: anchor the default lake to the project.
    env.setdefault("BREWLAKE_LAKE_ROOT", str(PROJECT_ROOT / "lake"))
    if not env.get("JAVA_HOME") and _java_home():
        env["JAVA_HOME"] = _java_home()
    return env


def admin_password(home: Path) -> str | None:
    """The admin password the simple auth manager generated (None until it exists)."""
    path = home / PASSWORDS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")).get(ADMIN_USER)
    except (OSError, ValueError):
        return None


def is_api_up(port: int) -> bool:
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).ok
    except requests.RequestException:
        return False


def login_banner(home: Path, port: int) -> str:
    password = admin_password(home)
    login = (
        f"user {ADMIN_USER!r}, password {password!r}"
        if password
        else f"user {ADMIN_USER!r}, password in {home / PASSWORDS_FILE}"
    )
    return "\n".join(
        [
            "",
            "=" * 72,
            f"brewlake: Airflow UI   http://localhost:{port}",
            f"brewlake: log in as    {login}",
            f"brewlake: passwords    {home / PASSWORDS_FILE}",
            "brewlake: DAG          brewlake_medallion (unpause it, or trigger a run)",
            "brewlake: stop with    Ctrl-C",
            "=" * 72,
            "",
        ]
    )


def _announce_when_ready(proc: subprocess.Popen, home: Path, port: int) -> None:
    while proc.poll() is None:
        if is_api_up(port):
            print(login_banner(home, port), flush=True)
            return
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brewlake.airflow.local", description=__doc__)
    parser.add_argument("--home", default=str(PROJECT_ROOT / ".airflow"), help="AIRFLOW_HOME")
    parser.add_argument("--port", type=int, default=8080, help="API server / UI port")
    parser.add_argument(
        "--print-env", action="store_true", help="print the Airflow settings and exit"
    )
    args = parser.parse_args(argv)
    home = Path(args.home).resolve()
    env = airflow_env(home, args.port)
    if args.print_env:
        for key in sorted(env):
            if key.startswith(("AIRFLOW", "BREWLAKE_")) or key in ("JAVA_HOME",):
                print(f"{key}={env[key]}")
        return 0

    home.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    print(f"brewlake: starting airflow standalone (AIRFLOW_HOME={home})", flush=True)

    def announce(proc: subprocess.Popen) -> None:
        watch = threading.Thread(target=_announce_when_ready, args=(proc, home, args.port))
        watch.daemon = True
        watch.start()

    # Ctrl-C to standalone alone: it then sends each component one SIGTERM. (A terminal's Ctrl-C
    # reaches the components too, and the scheduler, signalled twice, stops waiting for its
    # LocalExecutor workers and hangs in their join.) What is left after the grace period, a
    # running task's spark-submit included, gets SIGTERM, then SIGKILL.
    return run_until_stopped(
        [airflow, "standalone"],
        env=env,
        stop_signal=signal.SIGINT,
        leader_only=True,
        grace_s=STOP_GRACE_S,
        label="airflow",
        on_start=announce,
    )


if __name__ == "__main__":
    sys.exit(main())
