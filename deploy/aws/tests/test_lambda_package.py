"""The archiver's code folder: brewlake without Spark, importable on its own."""

from __future__ import annotations

import subprocess
import sys

from brewlake_aws.lambda_package import DEFAULT_OUT

PROBE = """
import json, sys
import brewlake.ops.lambda_handler as h
heavy = ("pyspark", "py4j", "delta", "airflow", "bronze", "silver", "gold")
leaked = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps({"file": h.__file__, "leaked": leaked}))
"""


def test_package_holds_brewlake_and_its_light_dependencies_only(assembly):
    names = {p.name for p in DEFAULT_OUT.iterdir()}
    assert {"brewlake", "pydantic", "pydantic_settings", "structlog", "typer"} <= names
    assert not names & {"pyspark", "delta", "airflow", "bronze", "silver", "gold"}
    assert not (DEFAULT_OUT / "brewlake" / "devkit").exists()
    size = sum(p.stat().st_size for p in DEFAULT_OUT.rglob("*") if p.is_file())
    assert size < 50 * 2**20, size  # Lambda's limit is 250 MB unzipped


def test_handler_imports_from_the_package_without_spark(assembly):
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": str(DEFAULT_OUT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    probe = __import__("json").loads(run.stdout.strip().splitlines()[-1])
    assert probe["file"].startswith(str(DEFAULT_OUT))
    assert probe["leaked"] == []
