"""Fixtures every test shares: one Spark session, a temporary lake, a real S3 (moto) endpoint.

Servers bind to 127.0.0.1 on free ports. Nothing brewlake owns is mocked.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from brewlake.config import Settings, load_settings

logging.getLogger("py4j").setLevel(logging.WARNING)

# Fake credentials for moto, set before any boto3/Spark client exists. Never real secrets.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "brewlake-test-key")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "brewlake-test-secret")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Tests must never inherit a developer's lake or endpoints.
for _var in list(os.environ):
    if _var.startswith("BREWLAKE_") or _var.startswith("AWS_ENDPOINT_URL"):
        del os.environ[_var]


# The API record's fields in the order the API emits them (/work/shared/API.md), written out
# here rather than read from `API_FIELDS`, so a field lost from the schema or the generator
# fails the tests that compare with it.
API_RECORD_FIELDS = (
    "id",
    "name",
    "brewery_type",
    "address_1",
    "address_2",
    "address_3",
    "city",
    "state_province",
    "postal_code",
    "country",
    "longitude",
    "latitude",
    "phone",
    "website_url",
    "state",
    "street",
)


def operations(spark, location: str) -> list[str]:
    """The operation of each commit of the Delta table at `location`, oldest first."""
    from brewlake import delta

    return [r.operation for r in delta.history(spark, location).orderBy("version").collect()]


def held_rdds(spark) -> set[int]:
    """Ids of the RDDs `spark` keeps blocks of (caches and local checkpoints), but for Delta's
    caches of table states (Delta frees those when a newer snapshot replaces them)."""
    held = spark.sparkContext._jsc.getPersistentRDDs()
    return {
        rdd_id
        for rdd_id in held.keySet()
        if not str(held.get(rdd_id).name()).startswith("Delta Table State")
    }


def wait_for(predicate, timeout: float, what: str = "condition", interval: float = 0.2):
    """`predicate()`'s first truthy value, asked every `interval` s; AssertionError after
    `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3/SNS/SQS endpoint (moto server) on 127.0.0.1, for the whole session."""
    from brewlake.devkit.s3 import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def base_settings(moto_endpoint: str, tmp_path_factory) -> Settings:
    """Settings for the session's Spark: small, UI off, s3a pointed at moto."""
    return load_settings(
        env={},
        lake_root=str(tmp_path_factory.mktemp("lake")),
        s3_endpoint=moto_endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        spark_master="local[2]",
        spark_shuffle_partitions=2,
        spark_ui_enabled=False,
        spark_log_level="ERROR",
        log_dir=str(tmp_path_factory.mktemp("logs")),
        # Gold's HTML report costs seconds per run; tests/brewlake/report turns it on.
        report_enabled=False,
    )


@pytest.fixture(scope="session")
def spark(base_settings: Settings):
    from brewlake.spark import build_session

    session = build_session(base_settings, "brewlake-tests", register_tables=False)
    yield session
    session.stop()


@pytest.fixture
def lake_settings(base_settings: Settings, tmp_path: Path) -> Settings:
    """Settings whose lake is a fresh local folder for this test."""
    return base_settings.replace(lake_root=str(tmp_path / "lake"))


@pytest.fixture
def s3_settings(base_settings: Settings, moto_endpoint: str) -> Settings:
    """Settings whose lake is `s3a://<fresh bucket>/lake` on the moto server."""
    from brewlake.storage import aws_client

    bucket = f"brewlake-{uuid.uuid4().hex[:12]}"
    aws_client(base_settings).create_bucket(Bucket=bucket)
    return base_settings.replace(lake_root=f"s3a://{bucket}/lake")


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that makes a subprocess (`brewlake …`, spark-submit) load these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREWLAKE_")}
    env.update(
        BREWLAKE_LAKE_ROOT=settings.lake_root,
        BREWLAKE_API_URL=settings.api_url,
        BREWLAKE_S3_ENDPOINT=settings.s3_endpoint,
        BREWLAKE_SPARK_MASTER=settings.spark_master,
        BREWLAKE_SPARK_SHUFFLE_PARTITIONS=str(settings.spark_shuffle_partitions),
        BREWLAKE_SPARK_UI_ENABLED="false",
        BREWLAKE_SPARK_LOG_LEVEL="ERROR",
        BREWLAKE_JARS_DIR=settings.jars_dir,
        BREWLAKE_LOG_DIR=settings.log_dir,
        BREWLAKE_REPORT_ENABLED=str(settings.report_enabled).lower(),
    )
    env.update(extra)
    return env


# ---- bronze: a replay of the source API (issue #3) ------------------------------------------


@pytest.fixture(scope="session")
def replay_records() -> list[dict]:
    """500 synthetic breweries (seed 7), generated once per session; treat as read-only."""
    from brewlake.devkit.synth import generate_records

    return generate_records(500, seed=7)


@pytest.fixture
def replay_api(replay_records: list[dict]):
    """A started replay API over `generate_records(500, seed=7)`: `.url`, `.records`, `.stats`."""
    from brewlake.devkit.replay import serve_in_thread

    with serve_in_thread(replay_records) as server:
        yield server
