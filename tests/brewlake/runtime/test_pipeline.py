"""`brewlake run`: the whole pipeline in one session, checked against plain Python."""

from __future__ import annotations

import argparse
import datetime as dt
import tomllib
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from brewlake.config import PROJECT_ROOT
from brewlake.runtime.job import execute_layer
from brewlake.runtime.pipeline import LayerOutcome, layer_args, run_pipeline, summary_table
from brewlake.runtime.result import LayerResult

DAY = dt.date(2025, 3, 1)


def test_summary_table_shows_each_layer_and_a_failure():
    ok = LayerResult(
        layer="silver",
        rows_in=120,
        rows_out=118,
        quarantined=2,
        seconds=3.25,
        table_versions={"silver.breweries": (None, 0)},
    )
    text = summary_table(
        [LayerOutcome("silver", ok), LayerOutcome("gold", error="boom", seconds=1)]
    )
    header, silver, gold = text.splitlines()
    assert header.split() == [
        "layer",
        "status",
        "rows_in",
        "rows_out",
        "quarantined",
        "seconds",
        "tables",
    ]
    assert silver.split() == [
        "silver",
        "ok",
        "120",
        "118",
        "2",
        "3.2",
        "silver.breweries",
        "new->v0",
    ]
    assert gold.split()[:2] == ["gold", "FAILED"] and gold.endswith("boom")


def test_layer_args_are_the_layer_cli_defaults():
    import gold.job

    args = layer_args(gold.job, DAY)
    assert args.date == DAY and args.force is False and args.verbose is False


# ---- an independent computation over the served records ------------------------------------


def _fold(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFC", value).split())
    return text.casefold() or None


def _aliases() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    data = tomllib.loads((Path(PROJECT_ROOT) / "silver" / "locations.toml").read_text("utf-8"))
    countries = {_fold(k): _fold(v) for k, v in data.get("countries", {}).items()}
    states = {
        _fold(country): {_fold(k): _fold(v) for k, v in table.items()}
        for country, table in data.get("states", {}).items()
    }
    return countries, states


def expected_counts(records: list[dict]) -> Counter:
    """(country, state, type) -> breweries, in folded spelling, straight from the API records."""
    countries, states = _aliases()
    counts: Counter = Counter()
    for record in records:
        country = _fold(record.get("country"))
        country = countries.get(country, country)
        state = _fold(record.get("state_province") or record.get("state"))
        state = states.get(country, {}).get(state, state)
        counts[(country, state, _fold(record.get("brewery_type")))] += 1
    return counts


def _regroup(counts: Counter, key) -> Counter:
    out: Counter = Counter()
    for k, n in counts.items():
        out[key(k)] += n
    return out


def _gold(spark, query: str) -> Counter:
    return Counter({tuple(_fold(v) for v in r[:-1]): r[-1] for r in spark.sql(query).collect()})


@pytest.mark.slow
def test_pipeline_gold_equals_plain_python_over_served_records(spark, lake_settings):
    from brewlake.devkit.replay import serve_in_thread
    from brewlake.devkit.synth import generate_records

    records = generate_records(1500, seed=11)
    with serve_in_thread(records) as server:
        settings = lake_settings.replace(api_url=server.url)
        outcomes = run_pipeline(settings, DAY, spark=spark)
    assert [(o.layer, o.error) for o in outcomes] == [("bronze", ""), ("silver", ""), ("gold", "")]
    print(summary_table(outcomes))

    expected = expected_counts(records)
    assert sum(expected.values()) == len(records)
    by_location = _gold(
        spark, "SELECT country, state, brewery_type, brewery_count FROM gold.brewery_counts"
    )
    assert by_location == expected
    by_country = _gold(
        spark,
        "SELECT country, sum(brewery_count) FROM gold.brewery_counts_by_country_type "
        "GROUP BY country",
    )
    assert by_country == _regroup(expected, lambda k: (k[0],))
    by_type = _gold(spark, "SELECT brewery_type, brewery_count FROM gold.brewery_counts_by_type")
    assert by_type == _regroup(expected, lambda k: (k[2],))
    gold = outcomes[2].result
    assert gold.details["active_rows"] == len(records)

    # Recomputing gold over the unchanged silver version changes no number.
    import gold.job as gold_job

    again = execute_layer(
        "gold", gold_job.run, settings, DAY, argparse.Namespace(force=True), spark=spark
    )
    assert again.details["silver_version"] == gold.details["silver_version"]
    assert (
        _gold(spark, "SELECT country, state, brewery_type, brewery_count FROM gold.brewery_counts")
        == expected
    )
