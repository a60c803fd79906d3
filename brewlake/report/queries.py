"""The report's numbers as Spark SQL: plain strings over the lake's tables by name.

Every dataset on the page is one query built here, pinned to explicit Delta versions
(`gold.brewery_counts VERSION AS OF 7`), embedded in the page beside its result, and runnable as is
with `brewlake sql "…"`: the page and the command line cannot disagree. Nothing here touches Spark.
"""

from __future__ import annotations

from dataclasses import dataclass

from brewlake.catalog import (
    GOLD_BREWERY_COUNTS,
    GOLD_COUNTS_BY_TYPE,
    GOLD_OPERATING_STATUS,
    OPS_PIPELINE_RUNS,
    OPS_QUALITY_CHECKS,
    SILVER_BREWERIES,
)
from brewlake.lake import TableRef

# Timestamps leave Spark as UTC text: collect() would render them in the process's time zone.
_UTC_TEXT = "yyyy-MM-dd HH:mm:ss"


@dataclass(frozen=True)
class Pins:
    """The Delta version of every table the report reads (None: the table does not exist)."""

    gold: dict[TableRef, int]
    silver: int
    previous_silver: int | None
    pipeline_runs: int | None
    quality_checks: int | None
    # previous_silver is the table's creation, without rows: every active row is new.
    previous_silver_empty: bool = False


def at(table: TableRef, version: int) -> str:
    """`db.table VERSION AS OF n`, as a FROM item."""
    return f"{table} VERSION AS OF {int(version)}"


def by_type(pins: Pins) -> str:
    return (
        "SELECT brewery_type, brewery_count, share "
        f"FROM {at(GOLD_COUNTS_BY_TYPE, pins.gold[GOLD_COUNTS_BY_TYPE])} "
        "ORDER BY brewery_count DESC, brewery_type"
    )


def by_country(pins: Pins) -> str:
    return (
        "SELECT country, brewery_count, operating_count, planning_count, closed_count "
        f"FROM {at(GOLD_OPERATING_STATUS, pins.gold[GOLD_OPERATING_STATUS])} "
        "ORDER BY brewery_count DESC, country"
    )


def states(pins: Pins) -> str:
    """Every (country, state) with its count and rank within the country."""
    return (
        "SELECT country, state, brewery_count, "
        "rank() OVER (PARTITION BY country ORDER BY brewery_count DESC) AS rank_in_country "
        "FROM (SELECT country, state, sum(brewery_count) AS brewery_count "
        f"FROM {at(GOLD_BREWERY_COUNTS, pins.gold[GOLD_BREWERY_COUNTS])} "
        "GROUP BY country, state) "
        "ORDER BY brewery_count DESC, country, state"
    )


def locations_summary(pins: Pins) -> str:
    return (
        "SELECT count(*) AS active, "
        "count_if(latitude IS NOT NULL AND longitude IS NOT NULL) AS located, "
        "count_if(is_location_suspect) AS suspect "
        f"FROM {at(SILVER_BREWERIES, pins.silver)} WHERE is_active"
    )


def map_points(pins: Pins, limit: int) -> str:
    """Active breweries with coordinates; a stable sample (by hashed id) when there are more."""
    return (
        "SELECT name, city, country, brewery_type, latitude, longitude, is_location_suspect "
        f"FROM {at(SILVER_BREWERIES, pins.silver)} "
        "WHERE is_active AND latitude IS NOT NULL AND longitude IS NOT NULL "
        f"ORDER BY xxhash64(id), id LIMIT {int(limit)}"
    )


def changes(pins: Pins) -> str | None:
    """New, changed, deactivated and reactivated breweries by type, previous silver version to
    the pinned one (None when the pinned version is the first)."""
    if pins.previous_silver is None:
        return None
    if pins.previous_silver_empty:
        # Against an empty version the diff is the active rows, all new: no second read, no join.
        return (
            f"/* silver.breweries v{int(pins.previous_silver)} is the empty table's creation */ "
            "SELECT brewery_type, count_if(is_active) AS new_count, 0L AS changed_count, "
            "0L AS deactivated_count, 0L AS reactivated_count "
            f"FROM {at(SILVER_BREWERIES, pins.silver)} GROUP BY brewery_type "
            "HAVING new_count > 0 ORDER BY new_count DESC, brewery_type"
        )
    columns = "id, brewery_type, is_active, content_hash"
    return (
        f"WITH cur AS (SELECT {columns} FROM {at(SILVER_BREWERIES, pins.silver)}), "
        f"prev AS (SELECT {columns} FROM {at(SILVER_BREWERIES, pins.previous_silver)}), "
        "diff AS (SELECT coalesce(cur.brewery_type, prev.brewery_type) AS brewery_type, "
        "prev.id IS NULL AND cur.is_active AS is_new, "
        "prev.is_active AND cur.is_active AND prev.content_hash <> cur.content_hash AS is_changed, "
        "prev.is_active AND NOT coalesce(cur.is_active, false) AS is_deactivated, "
        "NOT prev.is_active AND cur.is_active AS is_reactivated "
        "FROM cur FULL OUTER JOIN prev ON cur.id = prev.id) "
        "SELECT brewery_type, count_if(is_new) AS new_count, "
        "count_if(is_changed) AS changed_count, "
        "count_if(is_deactivated) AS deactivated_count, "
        "count_if(is_reactivated) AS reactivated_count "
        "FROM diff GROUP BY brewery_type "
        "HAVING new_count + changed_count + deactivated_count + reactivated_count > 0 "
        "ORDER BY new_count + changed_count + deactivated_count + reactivated_count DESC, "
        "brewery_type"
    )


def runs(pins: Pins, per_layer: int) -> str | None:
    """The last `per_layer` runs of each layer, newest first."""
    if pins.pipeline_runs is None:
        return None
    return (
        "SELECT layer, run_id, CAST(logical_date AS STRING) AS logical_date, status, "
        f"date_format(finished_at, '{_UTC_TEXT}') AS finished_at, duration_s, rows_in, rows_out, "
        "quarantined, checks_total, checks_failed, error "
        "FROM (SELECT *, row_number() OVER (PARTITION BY layer ORDER BY finished_at DESC) AS n "
        f"FROM {at(OPS_PIPELINE_RUNS, pins.pipeline_runs)}) "
        f"WHERE n <= {int(per_layer)} ORDER BY layer, finished_at DESC"
    )


def latest_checks(pins: Pins) -> str | None:
    """Every rule each layer has evaluated, with its most recent result."""
    if pins.quality_checks is None:
        return None
    return (
        "SELECT layer, rule, passed, observed, threshold, "
        f"date_format(checked_at, '{_UTC_TEXT}') AS checked_at, detail "
        "FROM (SELECT *, row_number() OVER (PARTITION BY layer, rule ORDER BY checked_at DESC) "
        f"AS n FROM {at(OPS_QUALITY_CHECKS, pins.quality_checks)}) "
        "WHERE n = 1 ORDER BY layer, passed, rule"
    )


def report_queries(pins: Pins, *, map_limit: int, runs_per_layer: int) -> dict[str, str]:
    """Dataset name -> its SQL; datasets whose tables do not exist yet are left out."""
    queries = {
        "by_type": by_type(pins),
        "by_country": by_country(pins),
        "states": states(pins),
        "locations": locations_summary(pins),
        "map_points": map_points(pins, map_limit),
        "changes": changes(pins),
        "runs": runs(pins, runs_per_layer),
        "checks": latest_checks(pins),
    }
    return {name: sql for name, sql in queries.items() if sql is not None}
