"""The synthetic generator: deterministic, API-shaped, and odd in every way API.md lists."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from brewlake.devkit.synth import BREWERY_TYPES, generate_records, main
from brewlake.schemas import API_FIELDS as SCHEMA_FIELDS
from tests.conftest import API_RECORD_FIELDS


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate_records(6000, seed=11)


def test_deterministic_per_seed():
    assert generate_records(300, seed=5) == generate_records(300, seed=5)
    assert generate_records(300, seed=5) != generate_records(300, seed=6)
    assert generate_records(0) == []


def test_records_have_the_api_field_order_and_unique_uuid_ids(rows):
    assert SCHEMA_FIELDS == API_RECORD_FIELDS  # silver's schema and the generator agree
    assert all(tuple(r) == API_RECORD_FIELDS for r in rows)
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)
    assert all(isinstance(r["postal_code"], str) for r in rows)
    # the aliases agree, as they do in today's API
    assert all(r["state"] == r["state_province"] and r["street"] == r["address_1"] for r in rows)


def test_every_brewery_type_and_a_realistic_closed_share(rows):
    types = Counter(r["brewery_type"] for r in rows)
    assert set(types) == {t for t, _ in BREWERY_TYPES}
    assert len(types) == 15
    not_operating = (types["closed"] + types["planning"]) / len(rows)
    assert 0.08 < not_operating < 0.14


def test_coordinates_missing_together_and_sometimes_strings(rows):
    missing = [r for r in rows if r["latitude"] is None or r["longitude"] is None]
    assert all(r["latitude"] is None and r["longitude"] is None for r in missing)
    assert 0.20 < len(missing) / len(rows) < 0.30
    as_text = [r for r in rows if isinstance(r["latitude"], str)]
    assert as_text and all(isinstance(r["longitude"], str) for r in as_text)
    float(as_text[0]["latitude"])  # numeric text, not garbage


def test_every_class_of_text_oddity_appears(rows):
    def values(field):
        return {r[field] for r in rows if r[field] is not None}

    states, cities, countries = values("state_province"), values("city"), values("country")
    names = values("name")
    # whitespace around values, including the country
    assert any(s != s.strip() for s in states)
    assert any(c != c.strip() for c in countries)
    assert any(n != n.strip() or "  " in n for n in names)
    # case-only variants, short vs long, several languages, abbreviations, lower case
    assert {"Missouri", "MIssouri"} <= states
    assert {"Northland", "Northland Region"} <= states
    assert {"Vlaanderen", "Flanders", "Région flamande"} <= states
    assert "NSW" in states
    assert "dolnośląskie" in states
    # diacritics, apostrophes, and / ( ) . in cities
    assert any(not s.isascii() for s in states)
    assert any("'" in s for s in states)
    assert {"Lübbenau/Spreewald", "Kempten (Allgäu)", "St. Louis"} <= {c.strip() for c in cities}
    assert any("'" in c for c in cities)
    # nulls in optional fields
    for field in ("address_1", "address_2", "address_3", "phone", "website_url"):
        assert any(r[field] is None for r in rows), field
    # phones with a float tail, postal codes with leading zeros and ZIP+4
    assert any(p.endswith(".0") for p in values("phone"))
    assert any(p.startswith("0") for p in values("postal_code"))
    assert any(len(p) == 10 and p[5] == "-" for p in values("postal_code"))


def test_duplicate_breweries_under_different_ids(rows):
    keys = Counter((r["name"], r["address_1"], r["city"]) for r in rows if r["address_1"])
    assert any(n > 1 for n in keys.values())


def test_fast_enough_for_a_million_rows():
    # CPU time, not wall time: the machine is shared. 1 M rows cost ≈ 10× this; the issue asks
    # for 1 M in well under 20 s.
    t0 = time.process_time()
    rows = generate_records(100_000, seed=1)
    assert len(rows) == 100_000
    assert time.process_time() - t0 < 4.0


def test_cli_writes_a_json_array(tmp_path: Path):
    out = tmp_path / "data" / "breweries.json"
    assert main(["--rows", "120", "--seed", "4", "--out", str(out)]) == 0
    assert json.loads(out.read_bytes()) == generate_records(120, seed=4)


def test_brewlake_generate_command(tmp_path: Path):
    out = tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, "-m", "brewlake.cli", "generate", "--rows", "10", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 10
