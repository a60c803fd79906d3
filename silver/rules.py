"""Validation rules: the one declarative list of what sends a record to quarantine.

A rule names a condition under which a record *cannot* be a valid silver row. Suspicious but
usable values (coordinates outside the stated country, out of range, or only one of the pair)
are not rules: they are kept and flagged in `is_location_suspect` (see `transforms`).

`row` rules look at one cleansed record; `batch` rules look at helper columns computed over the
whole batch (`transforms.with_duplicates_resolved`). Every rule is evaluated for every record,
so `failed_rules` lists all of them, not just the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from brewlake.schemas import BREWERY_TYPES


@dataclass(frozen=True)
class Rule:
    name: str
    stage: str  # "row" or "batch"
    description: str
    violated: Callable[[], Column]  # True when the record breaks the rule; null counts as kept


def _unparseable(column: str) -> Column:
    return F.col(f"_{column}_text").isNotNull() & F.col(column).isNull()


RULES: tuple[Rule, ...] = (
    Rule(
        "record_not_object",
        "row",
        "the page element is not a JSON object",
        lambda: F.col("_record_keys").isNull(),
    ),
    Rule("id_missing", "row", "no id (null or blank)", lambda: F.col("id").isNull()),
    Rule("name_missing", "row", "no name (null or blank)", lambda: F.col("name").isNull()),
    Rule(
        "brewery_type_unknown",
        "row",
        f"brewery_type missing or not one of {', '.join(BREWERY_TYPES)}",
        lambda: F.col("brewery_type").isNull() | ~F.col("brewery_type").isin(*BREWERY_TYPES),
    ),
    Rule(
        "coordinates_unparseable",
        "row",
        "longitude or latitude present but not a finite number",
        lambda: _unparseable("longitude") | _unparseable("latitude"),
    ),
    Rule(
        "duplicate_id_conflict",
        "batch",
        "another record of the same id in this batch differs; the last one on the latest page "
        "is kept",
        lambda: F.col("_is_conflicting_duplicate"),
    ),
)

RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)


def rules_of(stage: str) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if r.stage == stage)


def failed_rules(rules: tuple[Rule, ...]) -> Column:
    """array<string> of the names of `rules` a record breaks (empty when none)."""
    flags = [F.when(F.coalesce(r.violated(), F.lit(False)), F.lit(r.name)) for r in rules]
    if not flags:
        return F.array().cast("array<string>")
    return F.array_compact(F.array(*flags))
