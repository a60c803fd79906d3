from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brewlake.config import load_settings
from brewlake.errors import SetupError
from brewlake.spark import fit_to_cluster, jar_paths, s3a_conf, spark_conf


def test_missing_jars_give_one_actionable_line(tmp_path):
    settings = load_settings(env={}, jars_dir=str(tmp_path))
    with pytest.raises(SetupError) as info:
        jar_paths(settings)
    message = str(info.value)
    assert "\n" not in message
    assert "make setup" in message and str(tmp_path) in message


def test_cli_reports_missing_jars_without_traceback(tmp_path):
    code = (
        "import sys; from brewlake.errors import guarded;"
        "from brewlake.config import load_settings;"
        "from brewlake.spark import build_session;"
        f"sys.exit(guarded(lambda: build_session(load_settings(jars_dir={str(tmp_path)!r})) and 0,"
        " verbose=False))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "make setup" in lines[0]
    assert "Traceback" not in out.stderr


def test_a_local_session_has_the_jars_on_its_class_path(base_settings):
    jars = jar_paths(base_settings)
    conf = spark_conf(base_settings, jars)
    assert "spark.jars" not in conf
    for side in ("driver", "executor"):
        assert conf[f"spark.{side}.extraClassPath"].split(os.pathsep) == jars
    assert any("delta-spark_4.2_2.13" in j for j in jars)
    assert all(Path(j).is_file() for j in jars)
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.shuffle.partitions"] == "2"


def test_a_cluster_driver_serves_the_jars_unless_every_node_has_them(base_settings):
    cluster = base_settings.replace(spark_master="spark://127.0.0.1:7077")
    jars = jar_paths(cluster)
    served = spark_conf(cluster, jars)
    assert served["spark.jars"].split(",") == jars
    assert not {k for k in served if k.endswith("extraClassPath")}
    shared = spark_conf(cluster.replace(jars_on_every_node=True), jars)
    assert "spark.jars" not in shared
    assert shared["spark.executor.extraClassPath"].split(os.pathsep) == jars


def test_a_local_session_copies_no_jar(spark):
    """`spark.jars` would have copied each jar into the session's file folder (671 MB with the
    s3a jars, on every start); on the class path the JVM reads them where they are."""
    from pyspark import SparkFiles

    assert list(Path(SparkFiles.getRootDirectory()).rglob("*.jar")) == []
    class_path = spark.sparkContext.getConf().get("spark.driver.extraClassPath")
    assert "delta-spark_" in class_path
    assert spark.sparkContext.getConf().get("spark.jars", "") == ""


def test_s3a_jars_only_join_the_classpath_when_s3_is_in_use(base_settings, monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    local = base_settings.replace(s3_endpoint="", aws_access_key_id="", lake_root="/tmp/lake")
    names = [j.rsplit("/", 1)[-1] for j in jar_paths(local)]
    assert any(n.startswith("delta-spark_") for n in names)
    assert not [n for n in names if n.startswith(("hadoop-aws-", "bundle-"))]
    for s3 in (local.replace(lake_root="s3a://bucket/lake"), base_settings):
        names = [j.rsplit("/", 1)[-1] for j in jar_paths(s3)]
        assert [n for n in names if n.startswith(("hadoop-aws-", "bundle-"))], s3.lake_root


def test_s3a_conf_follows_the_endpoint_scheme():
    plain = s3a_conf(load_settings(env={"BREWLAKE_S3_ENDPOINT": "http://127.0.0.1:9000"}))
    assert plain["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert plain["spark.hadoop.fs.s3a.path.style.access"] == "true"
    tls = s3a_conf(load_settings(env={"BREWLAKE_S3_ENDPOINT": "https://s3.example.test"}))
    assert tls["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    aws = s3a_conf(load_settings(env={}))
    assert "spark.hadoop.fs.s3a.endpoint" not in aws


def test_driver_maps_the_class_archive_when_setup_built_one(spark, base_settings, tmp_path):
    from brewlake.spark import archive_java_options, class_archive

    assert class_archive(base_settings.replace(jars_dir=str(tmp_path))) is None
    assert archive_java_options(None) is None
    archive = class_archive(base_settings)
    if archive is None:
        pytest.skip("no class archive: `make setup` (make cds) builds it")
    jvm = spark.sparkContext._jvm
    arguments = list(
        jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    )
    assert f"-XX:SharedArchiveFile={archive}" in arguments
    # Mapped, not only named: the JVM silently refuses an archive whose class path is not the
    # start of its own, and this session's lake is on S3, whose jars the recording had not.
    assert base_settings.uses_s3
    pid = jvm.java.lang.ProcessHandle.current().pid()
    assert str(archive.resolve()) in Path(f"/proc/{pid}/maps").read_text()


def test_the_s3a_jars_follow_sparks_own_only_when_a_class_archive_is_there_to_map(
    base_settings, tmp_path
):
    """The archive is recorded with a local lake's class path (no s3a jars), and the JVM maps it
    only when that is the start of its own: the s3a jars go after Spark's jars (the launcher
    appends `SPARK_DIST_CLASSPATH`), the executors keep them all. No archive, no move."""
    from brewlake.spark import S3_JARS, class_archive, jar_paths, launch_conf

    if class_archive(base_settings) is None:
        pytest.skip("no class archive: `make setup` (make cds) records it")
    assert base_settings.uses_s3
    jars = jar_paths(base_settings)
    s3a = [j for j in jars if Path(j).name.startswith(S3_JARS)]
    conf, env = launch_conf(base_settings, jars, on_class_path=True, quick=False)
    rest = [j for j in jars if j not in s3a]
    assert conf["spark.driver.extraClassPath"].split(os.pathsep) == rest
    assert env["SPARK_DIST_CLASSPATH"].split(os.pathsep)[-len(s3a) :] == s3a
    assert conf["spark.executor.extraClassPath"].split(os.pathsep) == jars

    for jar in jars:  # the same jars, no archive beside them
        (tmp_path / Path(jar).name).symlink_to(jar)
    bare = base_settings.replace(jars_dir=str(tmp_path))
    conf, env = launch_conf(bare, jar_paths(bare), on_class_path=True, quick=False)
    assert env == {}
    assert [Path(j).name for j in conf["spark.driver.extraClassPath"].split(os.pathsep)] == [
        Path(j).name for j in jars
    ]
    assert "-XX:SharedArchiveFile" not in conf["spark.driver.extraJavaOptions"]


def test_spark_defaults_start_a_shells_jvms_as_brewlakes_but_compiling_fully(base_settings):
    from brewlake.spark import QUICK_JIT, class_archive, gc_option, spark_defaults_text

    text = spark_defaults_text(base_settings.replace(spark_jit="quick"))
    conf = dict(line.split(" ", 1) for line in text.splitlines())
    for side in ("driver", "executor"):
        options = conf[f"spark.{side}.extraJavaOptions"].split()
        assert gc_option(base_settings) in options
        assert not set(QUICK_JIT.split()) & set(options)  # a shell lives longer than a run
    archive = class_archive(base_settings)
    if archive is not None:
        assert f"-XX:SharedArchiveFile={archive}" in conf["spark.driver.extraJavaOptions"]
    # A properties file sets no environment: the s3a jars stay on the driver's class path.
    assert "/hadoop-aws-" in conf["spark.driver.extraClassPath"]


def test_executors_of_a_cluster_with_the_jars_on_every_node_map_their_class_archive(tmp_path):
    """Only a cluster whose nodes hold the jars at the driver's paths gives its executors the
    archive recorded beside them; a local master's executors are the driver's JVM."""
    from brewlake.spark import EXECUTOR_CLASS_ARCHIVE, executor_class_archive, jvm_options

    archive = tmp_path / EXECUTOR_CLASS_ARCHIVE
    cluster = load_settings(
        env={},
        spark_master="spark://m:7077",
        jars_on_every_node=True,
        jars_dir=str(tmp_path),
        spark_jit="full",
    )
    assert executor_class_archive(cluster) is None  # not recorded
    archive.write_bytes(b"")
    assert executor_class_archive(cluster) == archive
    assert executor_class_archive(cluster.replace(jars_on_every_node=False)) is None
    assert executor_class_archive(cluster.replace(spark_master="local[2]")) is None

    gc = "-XX:+UseParallelGC"
    mapped = f"-XX:SharedArchiveFile={archive} -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"
    assert jvm_options(cluster, "-Dx=1") == (f"-Dx=1 {gc}", f"{mapped} {gc}")
    # The recording's own executors are given what records the archive instead.
    _, recording = jvm_options(cluster, "-Dx=1", executor_java_options="-Dy=2")
    assert recording == f"-Dy=2 {gc}"
    served = cluster.replace(jars_on_every_node=False)
    assert jvm_options(served, "-Dx=1") == (f"-Dx=1 {gc}", gc)


def test_make_records_the_class_archive_again_when_the_class_path_code_changes():
    """The JVM ignores, without a word, an archive recorded with another class path, and
    brewlake/spark.py decides the class path: `make setup` records the archive again after it
    changes (as after the jars or the packages), and not after an unrelated file."""
    from brewlake.config import PROJECT_ROOT
    from brewlake.spark import CLASS_ARCHIVE, EXECUTOR_CLASS_ARCHIVE

    def planned(changed: str, archive: str) -> str:
        return subprocess.run(
            ["make", "--dry-run", f"--what-if={changed}", f".jars/{archive}"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    for archive, command in (
        (CLASS_ARCHIVE, "brewlake.devkit.cds --out"),
        (EXECUTOR_CLASS_ARCHIVE, "brewlake.devkit.cds --executors --out"),
    ):
        assert command in planned("brewlake/spark.py", archive)
        assert command in planned("conf/jars.pom.xml", archive)
        if not (PROJECT_ROOT / ".jars" / archive).is_file():
            continue  # `make setup` (make cds) records it: nothing to leave alone yet
        assert "brewlake.devkit.cds" not in planned("README.md", archive)


def test_delta_rebuilds_table_state_in_a_few_tasks_even_on_a_cluster():
    # A fixed repartition adaptive execution cannot coalesce: 64 tasks per table load on a cluster.
    cluster = spark_conf(load_settings(env={}, spark_master="spark://m:7077"))
    assert cluster["spark.sql.shuffle.partitions"] == "64"
    assert cluster["spark.databricks.delta.snapshotPartitions"] == "4"
    local = spark_conf(load_settings(env={}, spark_master="local[2]"))
    assert local["spark.databricks.delta.snapshotPartitions"] == "2"


def test_default_parallelism_is_pinned_locally_and_left_to_the_cluster():
    local = spark_conf(load_settings(env={}, spark_master="local[3]"))
    assert local["spark.default.parallelism"] == local["spark.sql.shuffle.partitions"] == "3"
    # On a cluster Spark counts the executors' cores itself.
    cluster = spark_conf(load_settings(env={}, spark_master="spark://m:7077"))
    assert "spark.default.parallelism" not in cluster


def test_a_local_session_is_never_fitted_even_under_cluster_settings(spark, base_settings):
    # The session's own master decides: getOrCreate hands back a running local session to any
    # settings, and a local session would wait in vain for executors.
    before = spark.conf.get("spark.sql.shuffle.partitions")
    auto = base_settings.replace(spark_master="spark://m:7077", spark_shuffle_partitions=0)
    started = time.monotonic()
    assert fit_to_cluster(spark, auto, wait_s=30) is None
    assert time.monotonic() - started < 1
    assert fit_to_cluster(spark, base_settings.replace(spark_shuffle_partitions=7)) is None
    assert spark.conf.get("spark.sql.shuffle.partitions") == before


def test_short_runs_compile_with_c1_only(lake_settings):
    from brewlake.batches import BatchWriter
    from brewlake.lake import Lake
    from brewlake.spark import QUICK_JIT, jvm_options, quick_jit
    from brewlake.storage import open_store

    assert not quick_jit(lake_settings.replace(spark_jit="full"))
    assert quick_jit(lake_settings.replace(spark_jit="quick"))
    assert quick_jit(lake_settings)  # auto, and bronze is empty
    writer = BatchWriter(open_store(lake_settings), Lake(lake_settings), dt.date(2025, 6, 1))
    writer.write_page(1, b'[{"id":"a"}]', 1)
    writer.commit(source_url="http://x")
    assert quick_jit(lake_settings, max_bytes=12)  # the newest batch: 12 bytes of pages
    assert not quick_jit(lake_settings, max_bytes=11)

    gc = "-XX:+UseParallelGC"
    driver, executors = jvm_options(lake_settings, "-Dx=1")
    assert (driver, executors) == (f"-Dx=1 {gc} {QUICK_JIT}", f"{gc} {QUICK_JIT}")
    assert jvm_options(lake_settings.replace(spark_jit="full"), "-Dx=1") == (f"-Dx=1 {gc}", gc)


def test_an_unreadable_bronze_leaves_the_jit_at_the_jvm_default(s3_settings):
    from brewlake.spark import jvm_options, quick_jit

    missing = s3_settings.replace(lake_root="s3a://brewlake-no-such-bucket/lake")
    assert not quick_jit(missing)  # the bucket is not there yet: no error, tiered compilation
    gc = "-XX:+UseParallelGC"
    assert jvm_options(missing, "-Dx=1") == (f"-Dx=1 {gc}", gc)


def test_the_spark_jvms_run_the_configured_collector(spark, base_settings):
    """The session's driver runs the parallel collector (`spark_gc` default); g1 is one setting
    away, for driver and executors alike."""
    from brewlake.spark import jvm_options

    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    collectors = {bean.getName() for bean in beans.getGarbageCollectorMXBeans()}
    assert collectors == {"PS Scavenge", "PS MarkSweep"}
    g1 = base_settings.replace(spark_gc="g1")
    assert jvm_options(g1, "-Dx=1", quick=False) == ("-Dx=1 -XX:+UseG1GC", "-XX:+UseG1GC")


def test_a_quick_session_runs_its_queries_without_code_generation(spark, base_settings):
    from brewlake.spark import QUICK_SQL_CONF, quick_jit

    assert quick_jit(base_settings)  # the tests' lake holds no large batch
    assert {key: spark.conf.get(key) for key in QUICK_SQL_CONF} == QUICK_SQL_CONF
    frame = spark.range(100).selectExpr("id % 7 AS k", "id * 2 AS x").groupBy("k").sum("x")
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "HashAggregate" in plan and "*(" not in plan  # no whole-stage code-generated stage
    assert sorted(frame.collect())[0] == (0, sum(i * 2 for i in range(100) if i % 7 == 0))
