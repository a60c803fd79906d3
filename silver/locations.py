"""Canonical country and state names: pure Python over the few distinct raw pairs of a batch.

A batch of ~12,000 breweries holds only a few hundred distinct (country, state) pairs, so the job
collects them once, `canonical_locations()` maps each raw pair to its canonical pair here, and a
small broadcast DataFrame carries the mapping back to Spark (`transforms.with_canonical_location`).

Canonicalisation: trim, collapse inner whitespace, Unicode NFC, then the alias map (the default
`silver/locations.toml` shipped with the package, extended by `locations.local.toml` in
`BREWLAKE_CONF_DIR`), then one spelling per case-insensitive name. States are matched only within
their canonical country, so two places with the same name in different countries never merge.

A spelling, once chosen, is kept: the job passes the places it has already mapped
(`silver.locations`) as `established`, and only names never seen before get a spelling chosen
from the batch. Among a new name's spellings an alias target wins, then a well-formed one
("Missouri" over "MIssouri", "missouri" or "MISSOURI", however frequent those are), then the most
frequent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from brewlake.errors import ConfigError

# The default map ships inside the package (a wheel install has no conf/ folder); these files in
# `BREWLAKE_CONF_DIR`, when present, extend it in this order.
DEFAULT_ALIAS_FILE = "locations.toml"
ALIAS_FILES = ("locations.toml", "locations.local.toml")
# Hive's marker for a null partition value: a state literally spelled like this would share the
# null partition, so it is treated as missing (the raw value stays in `state_raw`).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_SPACES = re.compile(r"\s+")

Bounds = tuple[float, float, float, float]


def clean_text(value: str | None) -> str | None:
    """Trim, collapse inner whitespace, NFC; empty (or Hive's null marker) -> None."""
    if value is None:
        return None
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if not text or text == HIVE_NULL:
        return None
    return text


def fold(value: str) -> str:
    """The case-insensitive matching key of an already cleaned name."""
    return unicodedata.normalize("NFC", value.casefold())


@dataclass(frozen=True)
class LocationAliases:
    """Alias maps keyed by folded names; values are canonical spellings."""

    countries: Mapping[str, str] = field(default_factory=dict)
    states: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # folded country ->
    bounds: Mapping[str, Bounds] = field(default_factory=dict)  # canonical country -> box

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "") -> LocationAliases:
        try:
            countries = {
                fold(clean_text(k)): clean_text(v) for k, v in data.get("countries", {}).items()
            }
            states = {
                fold(clean_text(country)): {
                    fold(clean_text(k)): clean_text(v) for k, v in aliases.items()
                }
                for country, aliases in data.get("states", {}).items()
            }
            bounds = {}
            for country, box in data.get("bounds", {}).items():
                min_lat, max_lat, min_lon, max_lon = (float(x) for x in box)
                if not (min_lat <= max_lat and min_lon <= max_lon):
                    raise ValueError(f"bounds of {country!r}: min must not exceed max")
                bounds[clean_text(country)] = (min_lat, max_lat, min_lon, max_lon)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where or 'location aliases'}: malformed ({exc}); expected [countries], "
                '[states."<country>"] tables of "alias" = "canonical" and [bounds] of 4 numbers'
            ) from None
        if None in countries.values() or any(None in m.values() for m in states.values()):
            raise ConfigError(f"{where or 'location aliases'}: an alias maps to an empty name")
        return cls(countries, states, bounds)

    def merged(self, other: LocationAliases) -> LocationAliases:
        states = {k: dict(v) for k, v in self.states.items()}
        for country, aliases in other.states.items():
            states.setdefault(country, {}).update(aliases)
        return LocationAliases(
            {**self.countries, **other.countries}, states, {**self.bounds, **other.bounds}
        )

    def fingerprint(self) -> str:
        """sha256 of the country and state aliases: what decides a mapping (bounds do not)."""
        body = json.dumps(
            {"countries": self.countries, "states": self.states}, sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def country(self, name: str) -> str:
        return self.countries.get(fold(name), name)

    def state(self, country: str | None, name: str) -> str:
        if country is None:
            return name
        return self.states.get(fold(country), {}).get(fold(name), name)

    def is_country_target(self, name: str) -> bool:
        return any(fold(v) == fold(name) and v == name for v in self.countries.values())

    def is_state_target(self, country: str | None, name: str) -> bool:
        targets = self.states.get(fold(country), {}).values() if country else ()
        return any(v == name for v in targets)


def _read_alias_file(text: str, where: str) -> LocationAliases:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    return LocationAliases.from_dict(data, where)


def default_aliases() -> LocationAliases:
    """The alias map shipped with the package; a ConfigError if the install lacks it."""
    default = resources.files("silver").joinpath(DEFAULT_ALIAS_FILE)
    if not default.is_file():
        raise ConfigError(
            f"the default location map silver/{DEFAULT_ALIAS_FILE} is missing from the installed "
            "package; reinstall brewlake (pip install --force-reinstall brewlake)"
        )
    return _read_alias_file(default.read_text(encoding="utf-8"), f"silver/{DEFAULT_ALIAS_FILE}")


def load_aliases(conf_dir: str | Path) -> LocationAliases:
    """The default alias map, extended by the alias files in `conf_dir` (optional; later wins)."""
    aliases = default_aliases()
    for name in ALIAS_FILES:
        path = Path(conf_dir) / name
        if path.is_file():
            aliases = aliases.merged(_read_alias_file(path.read_text(encoding="utf-8"), str(path)))
    return aliases


_WORD = re.compile(r"[^\W\d_]+")


def casing_defects(name: str) -> int:
    """How far a spelling is from well-formed case: 1 each for a word with a stray capital
    ("MIssouri"), a name all in lower case ("missouri") and one shouting in upper case
    ("MISSOURI"; short abbreviations such as "NSW" are fine)."""
    words = _WORD.findall(name)
    stray = any(w[:2].isupper() and any(ch.islower() for ch in w[2:]) for w in words)
    lower = name == name.lower() != name.upper()
    shouting = name == name.upper() != name.lower() and any(len(w) > 3 for w in words)
    return int(stray) + int(lower) + int(shouting)


def _spelling_rank(name: str, count: int, is_target: bool) -> tuple:
    # Highest wins: an alias target, then the best-formed case, then the most frequent
    # spelling, then the smallest string.
    return (is_target, -casing_defects(name), count, _Reversed(name))


class _Reversed(str):
    """Orders strings in reverse so that max() picks the smallest on ties."""

    def __lt__(self, other):  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other):  # type: ignore[override]
        return str.__lt__(self, other)


def _pick_spellings(
    counts: Mapping[tuple, int], is_target, established: Mapping[tuple, str]
) -> dict[tuple, str]:  # group key -> spelling
    """One spelling per group: the established one where the group has one, else the best."""
    groups: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (group, spelling), count in counts.items():
        groups[group][spelling] += count
    return {
        group: established.get(group)
        or max(spellings, key=lambda s, g=group: _spelling_rank(s, spellings[s], is_target(g, s)))
        for group, spellings in groups.items()
    }


Place = tuple[str | None, str | None]


def canonical_locations(
    pairs: Iterable[tuple[str | None, str | None, int]],
    aliases: LocationAliases,
    established: Mapping[Place, Place] | None = None,
) -> dict[Place, Place]:
    """Map each raw (country, state) pair, with its row count, to its canonical pair.

    `established` (raw pair -> canonical pair, as silver.locations holds it) fixes the spelling
    of every name it covers: a new raw spelling of a known place joins the known spelling."""
    pairs = [(c, s, int(n or 0)) for c, s, n in pairs]
    established = established or {}
    # A group's key is the folded name, so any canonical spelling names its own group.
    known_countries = {(fold(c),): c for c, _ in established.values() if c is not None}
    known_states = {(c, fold(s)): s for c, s in established.values() if s is not None}

    # 1. countries: clean, alias, one spelling per folded name.
    country_of: dict[str | None, str | None] = {}
    country_counts: dict[tuple, int] = defaultdict(int)
    for raw_country, _, n in pairs:
        name = clean_text(raw_country)
        name = aliases.country(name) if name is not None else None
        country_of[raw_country] = name
        if name is not None:
            country_counts[((fold(name),), name)] += n
    country_spelling = _pick_spellings(
        country_counts, lambda _g, s: aliases.is_country_target(s), known_countries
    )

    def canonical_country(raw: str | None) -> str | None:
        name = country_of[raw]
        return None if name is None else country_spelling[(fold(name),)]

    # 2. states: clean, alias within the canonical country, one spelling per folded name there.
    state_of: dict[tuple, str | None] = {}
    state_counts: dict[tuple, int] = defaultdict(int)
    for raw_country, raw_state, n in pairs:
        country = canonical_country(raw_country)
        name = clean_text(raw_state)
        name = aliases.state(country, name) if name is not None else None
        state_of[(raw_country, raw_state)] = name
        if name is not None:
            state_counts[((country, fold(name)), name)] += n
    state_spelling = _pick_spellings(
        state_counts, lambda g, s: aliases.is_state_target(g[0], s), known_states
    )

    mapping = {}
    for raw_country, raw_state, _ in pairs:
        country = canonical_country(raw_country)
        name = state_of[(raw_country, raw_state)]
        state = None if name is None else state_spelling[(country, fold(name))]
        mapping[(raw_country, raw_state)] = (country, state)
    return mapping


def location_rows(
    mapping: Mapping[Place, Place],
    pairs: Iterable[tuple[str | None, str | None, int]],
    known: Mapping[Place, Mapping],
    *,
    batch_id: str,
    ingest_date: dt.date,
    alias_map_sha256: str,
) -> list[dict]:
    """The silver.locations rows a batch adds or changes: its new raw pairs, and known pairs whose
    record count changed. A batch like the last one changes nothing."""
    rows = []
    for raw_country, raw_state, count in pairs:
        raw = (raw_country, raw_state)
        old = known.get(raw)
        if old is not None and old["rows"] == count:
            continue
        country, state = mapping[raw]
        rows.append(
            {
                "country_raw": raw_country,
                "state_raw": raw_state,
                "country": country,
                "state": state,
                "rows": count,
                "first_batch_id": old["first_batch_id"] if old else batch_id,
                "first_seen_date": old["first_seen_date"] if old else ingest_date,
                "batch_id": batch_id,
                "alias_map_sha256": old["alias_map_sha256"] if old else alias_map_sha256,
            }
        )
    return rows
