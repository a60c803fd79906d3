"""Canonical country/state names: pure Python, no Spark."""

from __future__ import annotations

import unicodedata

import pytest

from brewlake.errors import ConfigError
from silver.locations import (
    HIVE_NULL,
    LocationAliases,
    canonical_locations,
    casing_defects,
    clean_text,
    default_aliases,
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


def test_well_formed_case_beats_frequency():
    # The make-demo data (3,000 rows, seed 42): the typo is the most frequent spelling there.
    mapping = canonical_locations(
        [
            ("United States", "MIssouri", 65),
            ("United States", "MIssouri ", 2),
            ("United States", "missouri", 48),
            ("United States", " missouri ", 1),
            ("United States", "Missouri", 48),
            ("United States", "Missouri ", 1),
            ("United States", "MISSOURI", 70),
        ],
        LocationAliases(),
    )
    assert set(mapping.values()) == {("United States", "Missouri")}


@pytest.mark.parametrize(
    ("name", "defects"),
    [
        ("Missouri", 0),
        ("New South Wales", 0),
        ("NSW", 0),
        ("McLean", 0),
        ("Hawke's Bay Region", 0),
        ("Baden-Württemberg", 0),
        ("MIssouri", 1),
        ("missouri", 1),
        ("MISSOURI", 1),
        ("dolnośląskie", 1),
        ("ŚLĄSKIE", 1),
        ("1234", 0),
    ],
)
def test_casing_defects(name, defects):
    assert casing_defects(name) == defects


def test_established_spellings_are_kept_when_the_majority_flips():
    day1 = canonical_locations(
        [("United States", "Oregon", 10), ("United States", "OREGON", 3)], LocationAliases()
    )
    assert set(day1.values()) == {("United States", "Oregon")}
    # Day 2: a spelling that ranks higher on its own arrives; the place keeps its spelling, and a
    # new raw spelling of a known place joins it; a new place still gets its own best spelling.
    day2 = canonical_locations(
        [
            ("United States", "OREGON", 30),
            (" united states", "oregon ", 5),
            ("United States", "idaho", 2),
            ("United States", "Idaho", 1),
        ],
        LocationAliases(),
        established={("United States", "OREGON"): ("United States", "OREGON")},
    )
    assert day2 == {
        ("United States", "OREGON"): ("United States", "OREGON"),
        (" united states", "oregon "): ("United States", "OREGON"),
        ("United States", "idaho"): ("United States", "Idaho"),
        ("United States", "Idaho"): ("United States", "Idaho"),
    }


def test_fingerprint_follows_the_aliases_not_the_bounds():
    base = {"countries": {"USA": "United States"}, "bounds": {"X": [1, 2, 3, 4]}}
    same = LocationAliases.from_dict({**base, "bounds": {}})
    other = LocationAliases.from_dict({**base, "countries": {"U.S.A.": "United States"}})
    assert LocationAliases.from_dict(base).fingerprint() == same.fingerprint()
    assert LocationAliases.from_dict(base).fingerprint() != other.fingerprint()
    assert len(same.fingerprint()) == 64


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


def test_packaged_alias_file_covers_the_documented_cases(tmp_path):
    aliases = default_aliases()
    assert load_aliases(tmp_path) == aliases  # an empty conf dir adds nothing
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
    # the packaged defaults are still there underneath
    assert aliases.state("Australia", "NSW") == "New South Wales"


def test_malformed_alias_file_names_the_file(tmp_path):
    (tmp_path / "locations.toml").write_text("[bounds]\nX = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"locations\.toml"):
        load_aliases(tmp_path)
    (tmp_path / "locations.toml").write_text("[countries\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_aliases(tmp_path)
