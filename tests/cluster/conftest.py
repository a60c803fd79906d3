"""One standalone Spark cluster (master + two 1-core workers) for every test in tests/cluster,
a replay API over a small generated dataset, and the same pipeline run on `local[2]` as the
reference every cluster result must equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from brewlake.config import PROJECT_ROOT, Settings
from brewlake.devkit.cluster import StandaloneCluster
from brewlake.lake import Lake
from tests.conftest import env_for

RUN_DATE = "2025-04-01"
RECORDS = 300
BIN = Path(sys.executable).parent
# Columns that say which run wrote a row, not what it says.
RUN_STAMPS = frozenset({"batch_id", "updated_at", "computed_at", "silver_version"})


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> StandaloneCluster:
    started = StandaloneCluster(tmp_path_factory.mktemp("cluster"), workers=2, cores=1)
    started.start()
    yield started
    pids = [p.pid for d in [started.master, *started.worker_daemons] for p in d.tree.members()]
    assert started.stop() == []
    import psutil

    assert [p for p in pids if psutil.pid_exists(p)] == []


@pytest.fixture(scope="session")
def source():
    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records

    with serve_in_thread(generate_records(RECORDS, seed=15)) as api:
        yield api


def new_s3_lake(base_settings: Settings, api_url: str) -> Settings:
    """Settings for a fresh bucket on the moto server, the lake at s3a://<bucket>/lake."""
    from brewlake.storage import aws_client

    bucket = f"brewlake-cl-{uuid.uuid4().hex[:10]}"
    aws_client(base_settings).create_bucket(Bucket=bucket)
    return base_settings.replace(lake_root=f"s3a://{bucket}/lake", api_url=api_url)


def cluster_env(settings: Settings, master: str, **extra: str) -> dict[str, str]:
    """A subprocess environment for these settings on `master` (venv first on PATH)."""
    env = env_for(
        settings,
        BREWLAKE_SPARK_MASTER=master,
        BREWLAKE_API_RATE_LIMIT_PER_MINUTE="60000",
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        # Every worker runs on this machine, so the jars are where the driver has them.
        BREWLAKE_JARS_ON_EVERY_NODE="true",
        **extra,
    )
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_probe(script: str, env: dict[str, str], timeout: float = 180) -> dict:
    """Run a Python `script` in a process of its own (its own driver JVM) and return the JSON
    object its last line prints."""
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@dataclass
class Ran:
    code: int
    seconds: float
    log: str


def run_logged(cmd: list[str], env: dict, log_path: Path, timeout: float = 600) -> Ran:
    """Run `cmd` with its output in `log_path` (Spark's noise stays out of pytest's)."""
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.run(
            cmd, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
        ).returncode
    return Ran(code, time.monotonic() - t0, log_path.read_text())


def silver_rows(spark, settings: Settings) -> list[tuple]:
    """silver.breweries as sorted (id, content_hash, is_active)."""
    from brewlake.catalog import SILVER_BREWERIES

    silver = spark.read.format("delta").load(Lake(settings).table_location(SILVER_BREWERIES))
    return sorted(tuple(r) for r in silver.select("id", "content_hash", "is_active").collect())


def results(spark, settings: Settings) -> dict[str, list[tuple]]:
    """silver.breweries as (id, content_hash, is_active), and every gold table's rows without
    run stamps, each sorted."""
    from brewlake.catalog import TABLES

    lake = Lake(settings)
    out = {"silver.breweries": silver_rows(spark, settings)}
    for table in (t for t in TABLES if t.database == "gold"):
        df = spark.read.format("delta").load(lake.table_location(table))
        kept = sorted(c for c in df.columns if c not in RUN_STAMPS)
        out[table.qualified] = sorted((tuple(r) for r in df.select(*kept).collect()), key=repr)
    return out


@dataclass
class Reference:
    settings: Settings
    seconds: float
    tables: dict[str, list[tuple]]


@pytest.fixture(scope="session")
def reference(base_settings, source, spark, tmp_path_factory) -> Reference:
    """`brewlake run` on local[2], same input and date: what every cluster run must produce."""
    settings = new_s3_lake(base_settings, source.url)
    log = tmp_path_factory.mktemp("reference") / "run.log"
    env = cluster_env(settings, "local[2]")
    ran = run_logged([str(BIN / "brewlake"), "run", "--date", RUN_DATE], env, log)
    assert ran.code == 0, ran.log[-3000:]
    return Reference(settings, ran.seconds, results(spark, settings))
