"""The installed environment is sound: pyspark (not clobbered by pyspark-client), Delta, Airflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_pyspark_imports_and_is_the_pinned_version():
    # pyspark-client installs into the same package; a mismatch breaks this import
    # (seen: ImportError: cannot import name 'SparkExecutorInfo').
    import pyspark
    from pyspark import SparkContext  # noqa: F401
    from pyspark.status import SparkExecutorInfo  # noqa: F401

    assert pyspark.__version__ == "4.2.0"


def test_spark_session_with_delta_starts(spark):
    assert spark.version.startswith("4.2")
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    df = spark.range(3)
    assert sorted(r.id for r in df.collect()) == [0, 1, 2]


def test_airflow_runs_in_the_same_environment():
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run([str(airflow), "version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("3.")


@pytest.mark.parametrize("module", ["airflow.providers.apache.spark", "airflow.providers.amazon"])
def test_airflow_providers_import(module):
    __import__(module)
