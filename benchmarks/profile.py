"""Where silver's and gold's time goes: every Spark action timed, with the line that ran it.

    python -m benchmarks.profile --rows 8400                 # day 1: the first load
    python -m benchmarks.profile --rows 100000 --changed 0.01  # day 2: a 1 % change MERGE

Lands generated data (in a subprocess), starts the session brewlake uses with Spark's event log
on, runs silver then gold, and prints each action (collect, checkpoint, write, MERGE) that took
over 50 ms with the brewlake line that triggered it, then the slowest SQL executions read from
the event log (duration, Spark jobs, tasks). This is how the step timings quoted in
docs/development.md (design decisions) were found; it is a development tool, not part of the
pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.land import land_in_subprocess

ROOT = Path(__file__).resolve().parents[1]
DAY1 = dt.date(2026, 1, 1)


class ActionTimer:
    """Wraps PySpark's action methods; records (seconds, action, brewlake file:line)."""

    def __init__(self, min_seconds: float = 0.05):
        self.min_seconds = min_seconds
        self.rows: list[tuple[float, str, str]] = []

    def install(self) -> None:
        from delta.tables import DeltaMergeBuilder
        from pyspark.sql import DataFrameWriter
        from pyspark.sql.classic.dataframe import DataFrame

        for name in ("collect", "count", "localCheckpoint", "toPandas"):
            self._wrap(DataFrame, name)
        self._wrap(DataFrameWriter, "save")
        self._wrap(DeltaMergeBuilder, "execute")

    def _wrap(self, cls: type, name: str) -> None:
        original: Callable[..., Any] = getattr(cls, name)
        timer = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frames = [
                f
                for f in traceback.extract_stack()[:-1]
                if f.filename.startswith(str(ROOT)) and "benchmarks" not in f.filename
            ]
            where = f"{Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].lineno}"
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter() - t0
                if took >= timer.min_seconds and frames:
                    timer.rows.append((took, f"{cls.__name__}.{name}", where))

        setattr(cls, name, timed)

    def report(self, title: str) -> str:
        lines = [f"-- {title}: actions over {self.min_seconds * 1000:.0f} ms"]
        lines += [f"{s:7.2f} s  {action:30s} {where}" for s, action, where in self.rows]
        lines.append(f"{sum(s for s, _, _ in self.rows):7.2f} s  total in actions")
        self.rows.clear()
        return "\n".join(lines)


def event_log_summary(folder: Path, top: int = 15) -> str:
    """The slowest SQL executions in the Spark event log under `folder`."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("appstatus")]
    sql: dict[int, dict[str, Any]] = {}
    jobs: dict[int, dict[str, Any]] = {}
    for path in files:
        for line in path.read_text(errors="replace").split("\n"):
            if not line.strip():
                continue
            event = json.loads(line)
            kind = event["Event"]
            if kind.endswith("SQLExecutionStart"):
                sql[event["executionId"]] = {"start": event["time"], "desc": event["description"]}
            elif kind.endswith("SQLExecutionEnd") and event["executionId"] in sql:
                sql[event["executionId"]]["end"] = event["time"]
            elif kind == "SparkListenerJobStart":
                execution = event.get("Properties", {}).get("spark.sql.execution.id")
                tasks = sum(s["Number of Tasks"] for s in event["Stage Infos"])
                jobs[event["Job ID"]] = {"sql": execution, "tasks": tasks}
    per_sql: dict[int, list[int]] = {}
    for job in jobs.values():
        if job["sql"] is not None:
            per_sql.setdefault(int(job["sql"]), []).append(job["tasks"])
    rows = sorted(
        ((s.get("end", s["start"]) - s["start"]) / 1000, k, s["desc"][:70]) for k, s in sql.items()
    )[::-1][:top]
    lines = [f"-- slowest SQL executions (event log {folder})"]
    for seconds, key, desc in rows:
        tasks = per_sql.get(key, [])
        counts = f"jobs={len(tasks):<2} tasks={sum(tasks):<4}"
        lines.append(f"{seconds:7.2f} s  sql {key:<4} {counts} {desc}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--rows", type=int, default=8_400)
    parser.add_argument("--changed", type=float, default=None, help="profile day 2 instead")
    parser.add_argument("--keep", action="store_true", help="keep the lake and event log")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="brewlake-profile-"))
    events = work / "events"
    events.mkdir()
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{events} "
        "--conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false "
        "pyspark-shell"
    )
    from brewlake.config import load_settings
    from brewlake.spark import build_session
    from gold.job import run as gold_run
    from silver.job import run as silver_run

    settings = load_settings(lake_root=str(work / "lake"), spark_ui_enabled=False)
    land_in_subprocess(work / "lake", args.rows, seed=4, day=DAY1)
    t0 = time.perf_counter()
    spark = build_session(settings, "brewlake-profile", register_tables=False)
    print(f"-- session start: {time.perf_counter() - t0:.2f} s")
    day = DAY1
    if args.changed:
        silver_run(spark, settings, day, argparse.Namespace())
        day = DAY1 + dt.timedelta(days=1)
        land_in_subprocess(work / "lake", args.rows, seed=4, day=day, changed=args.changed)
    timer = ActionTimer()
    timer.install()
    for name, run in (("silver", silver_run), ("gold", gold_run)):
        t0 = time.perf_counter()
        run(spark, settings, day, argparse.Namespace())
        print(f"== {name}: {time.perf_counter() - t0:.2f} s")
        print(timer.report(name))
    spark.stop()
    print(event_log_summary(events))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
