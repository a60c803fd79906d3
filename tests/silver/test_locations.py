"""Canonical country/state names: pure Python, no Spark."""

from __future__ import annotations

import unicodedata

import pytest

from brewlake.config import PROJECT_ROOT
from brewlake.errors import ConfigError
from silver.locations import (
    HIVE_NULL,
    LocationAliases,
    canonical_locations,
    clean_text,
    load_aliases,
)

ALIASES = LocationAliases.from_dict(
    {
        "countries": {"USA": "United States"},
        "states": {
            "Belgium": {"Flanders": "Vlaanderen", "Région flamande": "Vlaanderen"},
            "New Zealand": {"Northland": "Northland Region"},
            "Australia": {"NSW": "New South Wales"},
        },
        "bounds": {"United States": [17.5, 71.5, -180, -64.5]},
    }
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("\u00a0Oregon\t", "Oregon"),
        ("  New   South\nWales ", "New South Wales"),
        ("Mu\u0308nchen", "München"),  # NFD -> NFC
        (HIVE_NULL, None),
        ("Hawke's Bay", "Hawke's Bay"),
        ("..", ".."),
        ("a/b%", "a/b%"),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_case_variants_become_the_most_common_spelling():
    mapping = canonical_locations(
        [
            ("United States", "Missouri", 40),
            ("United States", "MIssouri", 1),
            ("United States", "missouri", 2),
            (" United States", "MISSOURI ", 1),
        ],
        ALIASES,
    )
    assert set(mapping.values()) == {("United States", "Missouri")}
    assert mapping[(" United States", "MISSOURI ")] == ("United States", "Missouri")


def test_ties_prefer_mixed_case_then_smallest_string():
    mapping = canonical_locations(
        [
            ("Poland", "dolnośląskie", 1),
            ("Poland", "DOLNOŚLĄSKIE", 1),
            ("Poland", "Dolnośląskie", 1),
        ],
        LocationAliases(),
    )
    assert set(mapping.values()) == {("Poland", "Dolnośląskie")}


def test_aliases_apply_within_their_country_only():
    mapping = canonical_locations(
        [
            ("Belgium", "Flanders", 5),
            ("Belgium", "Région flamande", 3),
            ("Belgium", "vlaanderen", 1),
            ("Belgium", "Vlaanderen", 1),
            ("New Zealand", "northland", 2),
            ("Australia", "nsw", 4),
            ("Australia", "New South Wales", 1),
            ("USA", "Flanders", 1),  # not Belgium: stays as spelled
            ("usa", None, 1),
        ],
        ALIASES,
    )
    assert mapping[("Belgium", "Flanders")] == ("Belgium", "Vlaanderen")
    assert mapping[("Belgium", "Région flamande")] == ("Belgium", "Vlaanderen")
    assert mapping[("Belgium", "vlaanderen")] == ("Belgium", "Vlaanderen")
    assert mapping[("New Zealand", "northland")] == ("New Zealand", "Northland Region")
    assert mapping[("Australia", "nsw")] == ("Australia", "New South Wales")
    assert mapping[("USA", "Flanders")] == ("United States", "Flanders")
    assert mapping[("usa", None)] == ("United States", None)


def test_different_places_never_collide():
    raw = [
        ("United States", "Georgia", 10),
        ("Georgia", "Tbilisi", 1),
        ("Belgium", "Limburg", 2),
        ("Netherlands", "Limburg", 2),
        ("Austria", "Kärnten", 1),
        ("Austria", "Karnten", 1),  # a different spelling is a different name: not merged
        (None, None, 1),
        ("Germany", None, 1),
    ]
    mapping = canonical_locations(raw, LocationAliases())
    assert len(set(mapping.values())) == len(raw)
    assert mapping[(None, None)] == (None, None)
    assert mapping[("Germany", None)] == ("Germany", None)


def test_nfc_and_nfd_spellings_are_one_place():
    nfd = unicodedata.normalize("NFD", "Baden-Württemberg")
    mapping = canonical_locations(
        [("Germany", nfd, 1), ("Germany", "Baden-Württemberg", 3)], LocationAliases()
    )
    assert set(mapping.values()) == {("Germany", "Baden-Württemberg")}


def test_repository_alias_file_covers_the_documented_cases():
    aliases = load_aliases(PROJECT_ROOT / "conf")
    mapping = canonical_locations(
        [
            ("Belgium", "Région flamande", 1),
            ("Belgium", "Flanders", 1),
            ("New Zealand", "Northland", 1),
            ("Australia", "NSW", 1),
        ],
        aliases,
    )
    assert mapping == {
        ("Belgium", "Région flamande"): ("Belgium", "Vlaanderen"),
        ("Belgium", "Flanders"): ("Belgium", "Vlaanderen"),
        ("New Zealand", "Northland"): ("New Zealand", "Northland Region"),
        ("Australia", "NSW"): ("Australia", "New South Wales"),
    }
    assert aliases.bounds["United States"][0] < 20


def test_local_alias_file_extends_and_overrides(tmp_path):
    (tmp_path / "locations.toml").write_text(
        '[states."Belgium"]\n"Flanders" = "Vlaanderen"\n', encoding="utf-8"
    )
    (tmp_path / "locations.local.toml").write_text(
        '[countries]\n"Belgie" = "Belgium"\n[states."Belgium"]\n"Flandre" = "Vlaanderen"\n',
        encoding="utf-8",
    )
    aliases = load_aliases(tmp_path)
    mapping = canonical_locations([("belgie", "flandre", 1), ("Belgium", "FLANDERS", 1)], aliases)
    assert set(mapping.values()) == {("Belgium", "Vlaanderen")}


def test_malformed_alias_file_names_the_file(tmp_path):
    (tmp_path / "locations.toml").write_text("[bounds]\nX = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"locations\.toml"):
        load_aliases(tmp_path)
    (tmp_path / "locations.toml").write_text("[countries\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_aliases(tmp_path)
