"""Hostile partition values survive the round trip, on the local lake and on S3 (moto), and
nothing is written outside the table folders."""

from __future__ import annotations

import argparse
import datetime as dt
import os

import pytest

from brewlake.catalog import SILVER_BREWERIES
from brewlake.lake import Lake
from brewlake.storage import aws_client
from silver import job
from silver.locations import clean_text
from tests.silver.conftest import brewery, local_files, write_batch

DAY = dt.date(2025, 5, 1)
# (country, state) as the API might send them; every pair is a different place.
HOSTILE = [
    ("New Zealand", "Hawke's Bay Region"),
    ("Germany", "Baden-Württemberg"),
    ("Brazil", "São Paulo"),
    ("Côte d'Ivoire", "Lagunes"),
    ("Testland", "a/b"),
    ("Testland", "a%2Fb"),  # the escaped spelling of the previous one: must not collide
    ("Testland", ".."),
    ("Testland", "../../escape"),
    ("Testland", "100%"),
    ("Testland", "x=y"),
    ("Testland", "  spaced   out "),
    ("Testland", "C:\\windows"),
    ("Testland", None),
    ("..", "."),
    ("a/b", "c"),
    (None, None),
]
SILVER_FOLDERS = (
    "silver/breweries/",
    "silver/breweries_history/",
    "silver/breweries_quarantine/",
    "silver/applied_batches/",
    "silver/locations/",
    # the no-change day's record of the last applied batch (silver.state)
    "silver/_state/",
)


def _run(spark, settings):
    records = [
        brewery(f"id{i}", country=country, state_province=state, longitude=None, latitude=None)
        for i, (country, state) in enumerate(HOSTILE)
    ]
    write_batch(settings, DAY, records)
    job.run(spark, settings, DAY, argparse.Namespace())
    location = Lake(settings).table_location(SILVER_BREWERIES)
    rows = spark.read.format("delta").load(location).collect()
    got = {r.id: (r.country, r.state, r.country_raw, r.state_raw) for r in rows}
    expected = {f"id{i}": (clean_text(c), clean_text(s), c, s) for i, (c, s) in enumerate(HOSTILE)}
    assert got == expected
    # one partition (and one file) per distinct place: no collision, no split
    files = spark.read.format("delta").load(location).inputFiles()
    assert len(files) == len(HOSTILE)
    return files


def test_hostile_partition_values_on_local_lake(spark, lake_settings):
    files = _run(spark, lake_settings)
    root = os.path.realpath(lake_settings.spark_lake_root)
    table = os.path.realpath(Lake(lake_settings).table_location(SILVER_BREWERIES))
    for f in files:
        path = os.path.realpath(f.removeprefix("file:").replace("%25", "%"))
        assert path.startswith(table + os.sep), f
    for rel in local_files(root):
        assert rel.startswith(("bronze/breweries/", *SILVER_FOLDERS)), rel


@pytest.mark.s3
def test_hostile_partition_values_on_s3(spark, s3_settings):
    files = _run(spark, s3_settings)
    prefix = f"s3a://{s3_settings.s3_bucket}/{s3_settings.s3_prefix}/silver/breweries/"
    assert all(f.startswith(prefix) for f in files)
    client = aws_client(s3_settings)
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_settings.s3_bucket)
        for o in page.get("Contents", [])
    ]
    lake = s3_settings.s3_prefix + "/"
    for key in keys:
        assert key.startswith(lake), key
        rel = key[len(lake) :]
        assert rel.startswith(("bronze/breweries/", *SILVER_FOLDERS)), key
        assert "/../" not in f"/{rel}/" and "/./" not in f"/{rel}/", key
    data = [k for k in keys if k.startswith(lake + "silver/breweries/") and k.endswith(".parquet")]
    assert len(data) == len(HOSTILE)
