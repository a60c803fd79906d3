"""Build the driver JVM's class-data archive (AppCDS) that `brewlake.spark.build_session` maps.

    python -m brewlake.devkit.cds    # `make setup` runs it once: .jars/driver-classes.jsa

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
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from brewlake import log as logmod
from brewlake.config import Settings, load_settings
from brewlake.errors import SetupError

DAY = dt.date(2026, 1, 1)
RECORDS = 600


def changed_day(records: list[dict]) -> list[dict]:
    """The next day's snapshot: every 20th brewery renamed, the last one gone."""
    renamed = [
        {**r, "name": f"{r['name']} Taproom"} if i % 20 == 0 else r for i, r in enumerate(records)
    ]
    return renamed[:-1]


def record_pipeline(settings: Settings, java_options: str) -> None:
    """Two pipeline days on one session started with `java_options`; returns once its JVM has
    exited (the archive is written on the way out)."""
    from pyspark import SparkContext

    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records
    from brewlake.runtime.pipeline import run_pipeline
    from brewlake.spark import build_session

    spark = build_session(settings, "brewlake-cds", java_options=java_options)
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


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m brewlake.devkit.cds", description=__doc__)
    from brewlake.spark import CLASS_ARCHIVE

    default = Path(load_settings().jars_dir) / CLASS_ARCHIVE
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out = build(args.out.resolve())
    size_mb = out.stat().st_size / 2**20
    print(f"class archive {out} ({size_mb:.0f} MB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
