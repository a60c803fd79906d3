"""One small lake with two silver versions and two monitored gold runs, built once per session;
the second gold run writes the report every test here reads."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from brewlake.catalog import SILVER_BREWERIES
from brewlake.config import Settings
from brewlake.lake import Lake
from brewlake.report.page import DATA_ELEMENT_ID
from brewlake.runtime.job import execute_layer
from brewlake.runtime.result import LayerResult
from tests.gold.conftest import silver_df, silver_row

DAY = dt.date(2025, 5, 2)

# (id, name, type, city, state, country, lat, lon, is_suspect, is_active): nulls, diacritics,
# an apostrophe, a suspect location, an inactive row.
V0 = [
    ("1", "Alpha", "micro", "Austin", "Texas", "United States", 30.2, -97.7, False, True),
    ("2", "Beta", "micro", "Dallas", "Texas", "United States", 32.8, -96.8, False, True),
    ("3", "Gamma", "brewpub", "Austin", "Texas", "United States", None, None, False, True),
    ("4", "Delta", "closed", "Graz", "Steiermark", "Austria", 47.1, 15.4, False, True),
    ("5", "Epsilon", "planning", "Klagenfurt", "Kärnten", "Austria", None, None, False, True),
    ("6", "Zeta", "micro", "Napier", "Hawke's Bay Region", "New Zealand", -39.5, 176.9, True, True),
    ("7", "Eta", None, "Nowhere", None, None, None, None, False, True),
    ("8", "Theta", "micro", "Reno", "Nevada", "United States", 39.5, -119.8, False, False),
]


def _v1(rows):
    """Silver's next version: 9 is new, 2 renamed, 3 deactivated, 8 back."""
    out = []
    for r in rows:
        r = list(r)
        if r[0] == "2":
            r[1] = "Beta Brewing"
        if r[0] == "3":
            r[9] = False
        if r[0] == "8":
            r[9] = True
        out.append(tuple(r))
    return [
        *out,
        (
            "9",
            "Iota",
            "nano",
            "Lübbenau/Spreewald",
            "Brandenburg",
            "Germany",
            51.9,
            13.9,
            False,
            True,
        ),
    ]


V1 = _v1(V0)


def _silver_rows(rows) -> list[tuple]:
    out = []
    for id_, name, kind, city, state, country, lat, lon, suspect, active in rows:
        digest = hashlib.sha256(f"{name}|{kind}|{city}".encode()).hexdigest()
        out.append(
            silver_row(
                id_,
                name=name,
                brewery_type=kind,
                city=city,
                state=state,
                state_raw=state,
                country=country,
                country_raw=country,
                latitude=lat,
                longitude=lon,
                is_location_suspect=suspect,
                is_active=active,
                deactivated_on=None if active else DAY,
                content_hash=digest,
            )
        )
    return out


def write_silver_version(spark, settings: Settings, rows) -> None:
    location = Lake(settings).table_location(SILVER_BREWERIES)
    frame = silver_df(spark, _silver_rows(rows))
    frame.write.format("delta").mode("overwrite").partitionBy("country", "state").save(location)


@dataclass
class ReportLake:
    settings: Settings
    gold: LayerResult
    page: Path
    doc: dict[str, Any]


def embedded_data(html: str) -> dict[str, Any]:
    """The JSON document the page embeds."""
    match = re.search(
        rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>', html, re.S
    )
    assert match, "the page embeds no data"
    return json.loads(match.group(1))


@pytest.fixture(scope="session")
def report_lake(spark, base_settings, tmp_path_factory) -> ReportLake:
    from gold import job

    settings = base_settings.replace(
        lake_root=str(tmp_path_factory.mktemp("report") / "lake"), report_enabled=True
    )
    args = argparse.Namespace(force=False)
    write_silver_version(spark, settings, V0)
    # The first run only has to leave gold v0 and its ops rows: no page, seconds saved.
    first = settings.replace(report_enabled=False)
    execute_layer("gold", job.run, first, DAY - dt.timedelta(days=1), args, spark=spark)
    write_silver_version(spark, settings, V1)
    result = execute_layer("gold", job.run, settings, DAY, args, spark=spark)
    page = Path(settings.lake_root) / "reports" / DAY.isoformat() / "index.html"
    return ReportLake(settings, result, page, embedded_data(page.read_text(encoding="utf-8")))
