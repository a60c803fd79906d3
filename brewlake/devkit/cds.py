"""Build the class-data archives (AppCDS) that `brewlake.spark.build_session` maps.

    python -m brewlake.devkit.cds              # `make setup`: .jars/driver-classes.jsa
    python -m brewlake.devkit.cds --executors  # `make setup`: .jars/executor-classes.jsa

A cold JVM spends much of a small run loading, parsing and verifying Spark's and Delta's classes
(the driver's CPU time for a session start plus a first Delta create/write/read fell from
28-31 s to 21-24 s with the archive on this machine). The archive is recorded from a real
pipeline run: two days of generated breweries through bronze, silver (a first load, then a MERGE
of changes and a deactivation), gold and its report, on a throwaway lake, with the JVM dumping
every class it loaded when it exits (`-XX:ArchiveClassesAtExit`). The JVM checks the archive
against its own build and class path at start and ignores it when they differ, so a stale
archive costs nothing but the speed-up. `make setup` records it again when the jars, the
packages or `brewlake/spark.py` (which builds the class path) change; after changing the JDK, or
what a run does, record it with `make -B cds`.

A cluster's executors are JVMs of their own, started cold for every application: on a
standalone cluster whose nodes hold the jars at the driver's paths (`jars_on_every_node`) they
map the executors' archive, recorded from the executor of a one-worker standalone cluster on
this machine running the same two days, with the lake on a moto S3 server, as a cluster with S3
runs (the s3a jars are on the executors' class path, and the archive holds the classes s3a
loads). The executor dumps its classes while it still runs (`jcmd <pid> VM.cds dynamic_dump`,
the JDK's `-XX:+RecordDynamicDumpInfo`), before the application ends: dumped at exit, the
archive raced the worker, which kills an executor 10 s after its application ends, and lost
whenever the executor's shutdown took longer. The
benchmark's cluster case went from 31.4 s to 28.2 s (medians of 3; 1.44× to 1.28× the
`local[*]` run) with it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.errors import SetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DAY = dt.date(2026, 1, 1)
RECORDS = 600


def changed_day(records: list[dict]) -> list[dict]:
    """The next day's snapshot: every 20th brewery renamed, the last one gone."""
    renamed = [
        {**r, "name": f"{r['name']} Taproom"} if i % 20 == 0 else r for i, r in enumerate(records)
    ]
    return renamed[:-1]


def record_pipeline(
    settings: Settings,
    java_options: str | None,
    executor_java_options: str | None = None,
    before_stop: Callable[[SparkSession], None] | None = None,
) -> None:
    """Two pipeline days on one session started with `java_options` (its executors with
    `executor_java_options`); `before_stop` is called with the session before it stops. Returns
    once its JVM has exited (the driver's archive is written on the way out)."""
    from pyspark import SparkContext

    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records
    from brewlake.runtime.pipeline import run_pipeline
    from brewlake.spark import build_session

    spark = build_session(
        settings,
        "brewlake-cds",
        java_options=java_options,
        executor_java_options=executor_java_options,
    )
    gateway = SparkContext._gateway
    records = generate_records(RECORDS, seed=11)
    for day, served in ((DAY, records), (DAY + dt.timedelta(days=1), changed_day(records))):
        with serve_in_thread(served) as api:
            outcomes = run_pipeline(settings.replace(api_url=api.url), day, spark=spark)
        failed = [o for o in outcomes if o.error]
        if failed:
            raise SetupError(
                f"the recording run failed in {failed[0].layer}: {failed[0].error}; "
                f"Spark's log is in {settings.log_dir}"
            )
    spark.sql("SELECT brewery_type, count(*) FROM silver.breweries GROUP BY 1").collect()
    if before_stop is not None:
        before_stop(spark)
    spark.stop()
    # The JVM exits when the gateway's stdin closes; wait for it, the archive is written then.
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=600)


def build(out: Path) -> Path:
    """Record the archive at `out` (replaced atomically: a half-written archive never exists)."""
    with tempfile.TemporaryDirectory(prefix="brewlake-cds-") as tmp:
        partial = Path(tmp) / out.name
        settings = load_settings(
            env={},
            lake_root=str(Path(tmp) / "lake"),
            log_dir=str(Path(tmp) / "logs"),
            jars_dir=str(out.parent),
            spark_master="local[2]",
            spark_ui_enabled=False,
            spark_log_level="ERROR",
        )
        logmod.quiet_spark()
        record_pipeline(settings, f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds=off")
        if not partial.is_file():
            raise SetupError(f"the JVM wrote no class archive at {partial}; see {settings.log_dir}")
        partial.replace(out)
    return out


def build_executors(out: Path, jars_dir: Path) -> Path:
    """Record the executors' archive at `out` (replaced atomically), from the one executor of a
    one-worker standalone cluster that runs the recording pipeline on an S3 lake (moto), with
    the jars of `jars_dir` on its class path."""
    from brewlake.devkit.cluster import HOST, StandaloneCluster
    from brewlake.devkit.s3 import moto_server
    from brewlake.storage import aws_client

    with (
        moto_server() as endpoint,
        tempfile.TemporaryDirectory(prefix="brewlake-cds-") as tmp,
        StandaloneCluster(Path(tmp) / "cluster", workers=1, cores=1) as cluster,
    ):
        partial = Path(tmp) / out.name
        settings = load_settings(
            env={},
            lake_root="s3a://brewlake-cds/lake",
            s3_endpoint=endpoint,
            aws_access_key_id="cds",
            aws_secret_access_key="cds",
            log_dir=str(Path(tmp) / "logs"),
            jars_dir=str(jars_dir),
            spark_master=cluster.master_url,
            jars_on_every_node=True,
            spark_ui_enabled=False,
            spark_log_level="ERROR",
        )
        aws_client(settings).create_bucket(Bucket="brewlake-cds")
        logmod.quiet_spark()
        # The driver listens where the cluster's executors can reach it.
        os.environ.setdefault("SPARK_LOCAL_IP", HOST)
        record_pipeline(
            settings,
            None,
            executor_java_options="-XX:+RecordDynamicDumpInfo -Xlog:cds=off",
            before_stop=lambda spark: dump_executor(spark, partial),
        )
        partial.replace(out)
    return out


def dump_executor(spark: SparkSession, out: Path) -> None:
    """Have the session's one executor (started with `-XX:+RecordDynamicDumpInfo`) write the
    classes it loaded to `out`, now."""
    from brewlake.devkit.cluster import executor_pids

    app = spark.sparkContext.applicationId
    executors = executor_pids(app)
    if len(executors) != 1:
        raise SetupError(f"the recording expected one executor of {app}, found {len(executors)}")
    cmd = [jcmd(), str(executors[0]), "VM.cds", "dynamic_dump", str(out)]
    ran = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if ran.returncode != 0 or not out.is_file():
        raise SetupError(
            f"the executor wrote no class archive at {out}: `{' '.join(cmd)}` said "
            f"{(ran.stdout + ran.stderr).strip()[-500:]!r}"
        )


def jcmd() -> str:
    """The JDK's `jcmd`, beside the `java` Spark runs (JAVA_HOME's, else the one on PATH)."""
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else shutil.which("java")
    tool = Path(os.path.realpath(java)).parent / "jcmd" if java else None
    if tool is None or not tool.is_file():
        raise SetupError(
            "the executors' class archive needs the JDK's jcmd beside java: install the full "
            "JDK (Debian: openjdk-17-jdk-headless)"
        )
    return str(tool)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m brewlake.devkit.cds", description=__doc__)
    from brewlake.spark import CLASS_ARCHIVE, EXECUTOR_CLASS_ARCHIVE

    jars = Path(load_settings().jars_dir)
    parser.add_argument(
        "--executors",
        action="store_true",
        help="the executors' archive (a one-worker cluster on this machine), not the driver's",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"default: {jars / CLASS_ARCHIVE}, or {jars / EXECUTOR_CLASS_ARCHIVE}",
    )
    args = parser.parse_args(argv)
    name = EXECUTOR_CLASS_ARCHIVE if args.executors else CLASS_ARCHIVE
    out = (args.out or jars / name).resolve()
    started = time.monotonic()
    out = build_executors(out, jars) if args.executors else build(out)
    size_mb = out.stat().st_size / 2**20
    print(f"class archive {out} ({size_mb:.0f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
