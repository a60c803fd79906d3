"""Checks a fetch must pass before its batch is committed: shapes, counts, duplicates, /meta."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from brewlake.errors import SourceError


class VerificationError(SourceError):
    """What was fetched does not agree with what the API says it holds."""


def parse_page(body: bytes) -> list[dict[str, Any]]:
    """The records of one list page; ValueError says why the body is not a JSON array of objects."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        snippet = body[:80].decode("utf-8", "replace").replace("\n", " ")
        raise ValueError(f"body is not JSON ({exc.__class__.__name__}: {snippet!r})") from None
    if not isinstance(data, list):
        raise ValueError(f"body is JSON {type(data).__name__}, expected an array of breweries")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"element {i} is JSON {type(item).__name__}, expected an object")
    return data


def parse_meta(body: bytes) -> dict[str, Any]:
    """`/v1/breweries/meta` with `total` as an int (older API versions sent numeric strings)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("meta body is not JSON") from None
    if not isinstance(data, dict) or "total" not in data:
        raise ValueError("meta body has no 'total'")
    try:
        data["total"] = int(data["total"])
    except (TypeError, ValueError):
        raise ValueError(f"meta total {data['total']!r} is not a number") from None
    return data


@dataclass
class Tally:
    """Running counts over every page of one fetch."""

    records: int = 0
    ids: Counter = field(default_factory=Counter)
    without_id: int = 0
    by_type: Counter = field(default_factory=Counter)
    by_country: Counter = field(default_factory=Counter)

    def add(self, records: list[dict[str, Any]]) -> None:
        self.records += len(records)
        for record in records:
            rid = record.get("id")
            if rid is None or rid == "":
                self.without_id += 1
                self._count(record)
                continue
            rid = str(rid)
            self.ids[rid] += 1
            # Count each brewery once, like /meta does: a repeat is a paging artefact.
            if self.ids[rid] == 1:
                self._count(record)

    def _count(self, record: dict[str, Any]) -> None:
        self.by_type[_group(record.get("brewery_type"))] += 1
        self.by_country[_group(record.get("country"))] += 1

    @property
    def unique(self) -> int:
        return len(self.ids) + self.without_id

    @property
    def duplicate_ids(self) -> list[str]:
        return sorted(rid for rid, n in self.ids.items() if n > 1)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.ids.values() if n > 1)


def _group(value: Any) -> str:
    # Compare groups the way a person would: " United States" and "United States" are one.
    return "" if value is None else str(value).strip().casefold()


def _regroup(counts: Any) -> Counter:
    out: Counter = Counter()
    if isinstance(counts, dict):
        for key, n in counts.items():
            out[_group(key)] += int(n)
    return out


def _within(fetched: int, expected: int, allowed: float) -> bool:
    return abs(fetched - expected) <= allowed


def reconcile(tally: Tally, meta: dict[str, Any], tolerance: float) -> list[str]:
    """Disagreements between the fetch and /meta beyond `tolerance`.

    `tolerance` is a share of /meta's total (0.01 = 1 %); it bounds the total and every group
    alike, so a small country is not held to a stricter standard than the whole.
    """
    problems = []
    total = int(meta["total"])
    allowed = tolerance * total
    if not _within(tally.unique, total, allowed):
        problems.append(
            f"fetched {tally.unique} distinct breweries but /meta total is {total} "
            f"(tolerance {tolerance:.2%})"
        )
    for name, fetched in (("by_type", tally.by_type), ("by_country", tally.by_country)):
        if name not in meta:
            continue
        expected = _regroup(meta[name])
        for key in sorted(set(expected) | set(fetched)):
            if not _within(fetched[key], expected[key], allowed):
                problems.append(
                    f"{name}[{key or 'null'}]: fetched {fetched[key]} but /meta says "
                    f"{expected[key]}"
                )
    return problems
