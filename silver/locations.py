"""Canonical country and state names: pure Python over the few distinct raw pairs of a batch.

A batch of ~12,000 breweries holds only a few hundred distinct (country, state) pairs, so the job
collects them once, `canonical_locations()` maps each raw pair to its canonical pair here, and a
small broadcast DataFrame carries the mapping back to Spark (`transforms.with_canonical_location`).

Canonicalisation: trim, collapse inner whitespace, Unicode NFC, then the alias map
(`conf/locations.toml`, extended by `conf/locations.local.toml`), then one spelling per
case-insensitive name. States are matched only within their canonical country, so two places
with the same name in different countries never merge.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from brewlake.errors import ConfigError

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


def load_aliases(conf_dir: str | Path) -> LocationAliases:
    """The alias map from `conf_dir` (both files optional; the local one wins)."""
    aliases = LocationAliases()
    for name in ALIAS_FILES:
        path = Path(conf_dir) / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        aliases = aliases.merged(LocationAliases.from_dict(data, str(path)))
    return aliases


def _spelling_rank(name: str, count: int, is_target: bool) -> tuple:
    # Highest wins: an alias target, then the most frequent spelling, then one that is neither
    # all lower- nor all upper-case ("Missouri" over "MISSOURI"), then the smallest string.
    mixed = name != name.lower() and name != name.upper()
    return (is_target, count, mixed, _Reversed(name))


class _Reversed(str):
    """Orders strings in reverse so that max() picks the smallest on ties."""

    def __lt__(self, other):  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other):  # type: ignore[override]
        return str.__lt__(self, other)


def _pick_spellings(
    counts: Mapping[tuple, int], is_target
) -> dict[tuple, str]:  # group key -> spelling
    groups: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (group, spelling), count in counts.items():
        groups[group][spelling] += count
    return {
        group: max(
            spellings, key=lambda s, g=group: _spelling_rank(s, spellings[s], is_target(g, s))
        )
        for group, spellings in groups.items()
    }


def canonical_locations(
    pairs: Iterable[tuple[str | None, str | None, int]], aliases: LocationAliases
) -> dict[tuple[str | None, str | None], tuple[str | None, str | None]]:
    """Map each raw (country, state) pair, with its row count, to its canonical pair."""
    pairs = [(c, s, int(n or 0)) for c, s, n in pairs]

    # 1. countries: clean, alias, one spelling per folded name.
    country_of: dict[str | None, str | None] = {}
    country_counts: dict[tuple, int] = defaultdict(int)
    for raw_country, _, n in pairs:
        name = clean_text(raw_country)
        name = aliases.country(name) if name is not None else None
        country_of[raw_country] = name
        if name is not None:
            country_counts[((fold(name),), name)] += n
    country_spelling = _pick_spellings(country_counts, lambda _g, s: aliases.is_country_target(s))

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
    state_spelling = _pick_spellings(state_counts, lambda g, s: aliases.is_state_target(g[0], s))

    mapping = {}
    for raw_country, raw_state, _ in pairs:
        country = canonical_country(raw_country)
        name = state_of[(raw_country, raw_state)]
        state = None if name is None else state_spelling[(country, fold(name))]
        mapping[(raw_country, raw_state)] = (country, state)
    return mapping
