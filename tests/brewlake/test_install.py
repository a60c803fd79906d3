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


WHEEL_PROBE = """
import json, silver
from brewlake.config import load_settings
from silver.locations import canonical_locations, load_aliases
aliases = load_aliases(load_settings().conf_dir)
mapping = canonical_locations(
    [("Australia", "NSW", 2), ("Belgium", "Région flamande", 1), ("USA", "MIssouri", 5),
     ("United States", "Missouri", 1)],
    aliases,
)
print(json.dumps({"silver": silver.__file__, "mapping": sorted(set(mapping.values()))}))
"""


@pytest.mark.slow
def test_a_wheel_install_outside_the_tree_still_canonicalises(tmp_path):
    """`pip install .` into a fresh venv, run from elsewhere: the default alias map comes with
    the package (no conf/ folder next to site-packages), so places are still canonicalised."""
    import json
    import shutil
    import sysconfig

    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    root = tmp_path / "src"
    shutil.copytree(
        Path(__file__).resolve().parents[2],
        root,
        ignore=shutil.ignore_patterns(
            *(".git", ".venv*", ".jars", ".airflow", ".cache", "lake", "logs", "build"),
            *("*.egg-info", "tests", "cdk.out", "node_modules", "benchmarks"),
        ),
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "-w", str(wheels), str(root)],
        check=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    (wheel,) = wheels.glob("brewlake-*.whl")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    # The dependencies come from this environment, behind the fresh install (a path, not a site
    # dir: the source tree's editable hook is not loaded).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [str(python), "-c", WHEEL_PROBE], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout)
    assert probe["silver"].startswith(site), probe  # the installed package, not the tree
    assert probe["mapping"] == [
        ["Australia", "New South Wales"],
        ["Belgium", "Vlaanderen"],
        ["United States", "Missouri"],
    ]
