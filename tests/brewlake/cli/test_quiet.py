"""Quiet by default: a command shows brewlake's lines; Spark's output goes to a run log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brewlake import cli
from brewlake import log as logmod
from brewlake.catalog import GOLD_BREWERY_COUNTS
from brewlake.config import load_settings
from brewlake.errors import ConfigError
from brewlake.lake import Lake
from tests.conftest import env_for

SPARK_NOISE = ("WARN", "log4j", "Using incubator", "Setting default log level", "INFO")


def test_a_child_started_inside_output_to_keeps_writing_to_the_file(tmp_path, capfd):
    path = tmp_path / "run.log"
    script = "import sys, time; print('first', file=sys.stderr); time.sleep(1); print('later')"
    with logmod.output_to(path):
        child = subprocess.Popen([sys.executable, "-c", script])
    print("parent's own line", file=sys.stderr)
    assert child.wait(timeout=30) == 0

    out, err = capfd.readouterr()
    assert path.read_text().splitlines() == ["first", "later"]
    assert "parent's own line" in err
    assert "first" not in err + out and "later" not in err + out


def test_new_run_log_creates_an_ignored_folder_and_keeps_the_newest(tmp_path):
    folder = tmp_path / "logs"
    first = logmod.new_run_log(str(folder), "brewlake-sql")
    assert first.parent == folder and first.name.startswith("brewlake-sql-")
    assert first.name.endswith(f"-{os.getpid()}.log")
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"

    old = []
    for n in range(logmod.RUN_LOGS_KEPT + 3):
        stale = folder / f"brewlake-sql-2020010{n % 10}T00000{n}Z-1.log"
        stale.write_text("old")
        os.utime(stale, (time.time() - 1000 + n, time.time() - 1000 + n))
        old.append(stale)
    other = folder / "brewlake-demo-20200101T000000Z-1.log"
    other.write_text("another command's")
    logmod.new_run_log(str(folder), "brewlake-sql")

    kept = sorted(folder.glob("brewlake-sql-*.log"))
    # Room is left for the new run's file: it is created when Spark starts.
    assert kept == sorted(old[-(logmod.RUN_LOGS_KEPT - 1) :])
    assert other.is_file()


@pytest.mark.parametrize(
    ("argv", "quiet"),
    [
        (["spark-conf"], True),
        (["spark-conf", "--verbose"], False),
        (["spark-conf", "-v"], False),
        (["-v", "spark-conf"], False),
        (["--verbose", "spark-conf", "--catalog-sql"], False),
    ],
)
def test_verbose_before_or_after_the_sub_command_lets_spark_print(
    argv, quiet, lake_settings, monkeypatch, capsys
):
    monkeypatch.setattr(logmod, "_spark_output", {"quiet": False, "run_log": None})
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", lake_settings.lake_root)
    assert cli.main(argv) == 0
    assert logmod.is_spark_quiet() is quiet
    assert capsys.readouterr().out


def test_log_dir_must_be_local():
    with pytest.raises(ConfigError, match="BREWLAKE_LOG_DIR"):
        load_settings(env={"BREWLAKE_LOG_DIR": "s3://bucket/logs"})


def _brewlake(settings, cwd, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "brewlake.cli", *args],
        cwd=cwd,
        env=env_for(settings, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_command_prints_only_its_own_lines_and_spark_goes_to_the_run_log(
    spark, lake_settings, tmp_path
):
    location = Lake(lake_settings).table_location(GOLD_BREWERY_COUNTS)
    spark.range(3).write.format("delta").save(location)
    logs = tmp_path / "logs"
    # WARN, not the tests' ERROR: a repeated CREATE DATABASE would warn at this level.
    env = {"BREWLAKE_LOG_DIR": str(logs), "BREWLAKE_SPARK_LOG_LEVEL": "WARN"}

    count = "SELECT count(*) AS n FROM gold.brewery_counts"
    ok = _brewlake(lake_settings, tmp_path, "sql", count, **env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["+---+", "| n |", "+---+", "| 3 |", "+---+", "(1 row)"]
    assert ok.stderr == ""
    (run_log,) = logs.glob("brewlake-sql-*.log")
    jvm_output = run_log.read_text()
    assert "log4j" in jvm_output and "Setting default log level" in jvm_output
    # Registering gold.brewery_counts no longer re-creates its database.
    assert "CreateNamespaceExec" not in jvm_output

    bad = "SELECT nope FROM gold.brewery_counts"
    failed = _brewlake(lake_settings, tmp_path, "sql", bad, **env)
    assert failed.returncode == 2 and failed.stdout == ""
    error, pointer = failed.stderr.splitlines()
    assert error.startswith("brewlake: error: ") and "nope" in error
    assert not any(word in error for word in SPARK_NOISE)
    run_log = Path(pointer.removeprefix("brewlake: Spark's output for this run: "))
    assert run_log.parent == logs and run_log.name.startswith("brewlake-sql-")
    # PySpark's own JSON error record (with the JVM stack trace) went there, not to stderr.
    assert '"logger": "SQLQueryContextLogger"' in run_log.read_text()


@pytest.mark.slow
def test_verbose_keeps_sparks_output_on_the_terminal(lake_settings, tmp_path):
    logs = tmp_path / "logs"
    shown = _brewlake(
        lake_settings, tmp_path, "sql", "SELECT 1 AS one", "--verbose", BREWLAKE_LOG_DIR=str(logs)
    )
    assert shown.returncode == 0, shown.stderr
    assert "| 1   |" in shown.stdout
    assert "log4j" in shown.stderr and "Setting default log level" in shown.stderr
    assert not logs.exists()
