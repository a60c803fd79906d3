"""The DAG's spark-submit starts its driver JVM as `brewlake run` starts its own: a real submit
through the Spark provider's hook, with what `brewlake.airflow.hooks` renders for a task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from brewlake.spark import QUICK_JIT, class_archive, gc_option
from tests.dags.airflow_runs import make_env

# Submits `probe` the way the DAG's SparkSubmitOperator does, with the task's rendered macros.
SUBMIT = """
import sys
from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from brewlake.airflow.hooks import SPARK_CONN_ID, spark_jars, spark_submit_conf, spark_submit_env
hook = SparkSubmitHook(
    conn_id=SPARK_CONN_ID,
    conf=spark_submit_conf(),
    jars=spark_jars(),
    env_vars=spark_submit_env(),
    name="brewlake-probe",
    application_args=[sys.argv[2]],
)
hook.submit(sys.argv[1])
"""

# The submitted application: spark-submit's driver JVM runs it as its child process.
PROBE = """
import json, os, sys
from pathlib import Path
jvm = Path(f"/proc/{os.getppid()}")
Path(sys.argv[1]).write_text(json.dumps({
    "args": (jvm / "cmdline").read_bytes().decode().split("\\0"),
    "maps": (jvm / "maps").read_text(),
}))
"""


@pytest.mark.parametrize("lake", ["lake_settings", "s3_settings"], ids=["local-lake", "s3-lake"])
def test_the_dags_spark_submit_driver_maps_the_class_archive_and_compiles_quick(
    request, tmp_path: Path, lake: str
):
    """Mapped, not only named: the JVM silently refuses an archive whose class path does not
    start with the one it was recorded with, and an S3 lake's class path has the s3a jars,
    which the recording had not (they go after Spark's own, in SPARK_DIST_CLASSPATH)."""
    settings = request.getfixturevalue(lake)
    archive = class_archive(settings)
    if archive is None:
        pytest.skip("no class archive: `make setup` (make cds) records it")
    (tmp_path / "probe.py").write_text(PROBE)
    seen = tmp_path / "seen.json"
    env = make_env(tmp_path / "airflow", settings)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    out = subprocess.run(
        [sys.executable, "-c", SUBMIT, str(tmp_path / "probe.py"), str(seen)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jvm = json.loads(seen.read_text())
    assert "org.apache.spark.deploy.SparkSubmit" in jvm["args"]
    assert f"-XX:SharedArchiveFile={archive}" in jvm["args"]
    assert str(archive.resolve()) in jvm["maps"]
    # The bronze of a fresh lake holds no large batch: C1 only, as a short `brewlake run`.
    for option in (gc_option(settings), *QUICK_JIT.split()):
        assert option in jvm["args"], (option, jvm["args"])
    class_path = jvm["args"][jvm["args"].index("-cp") + 1].split(os.pathsep)
    delta = next(i for i, entry in enumerate(class_path) if "/delta-spark_" in entry)
    spark = class_path.index(str(Path(pyspark.__file__).parent / "jars" / "*"))
    assert delta < spark, class_path  # as the archive was recorded
    if settings.uses_s3:  # the tests' settings have an S3 endpoint, even for a local lake
        aws = next(i for i, entry in enumerate(class_path) if "/hadoop-aws-" in entry)
        assert spark < aws, class_path  # the s3a jars after Spark's own
