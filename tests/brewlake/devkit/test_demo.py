"""`make demo`'s pieces: the top-of-gold query and the whole demo on a temporary lake."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from brewlake.devkit import demo
from brewlake.lake import Lake


def _rows(text: str) -> list[list[str]]:
    """Data rows of a rendered table: lines between the 2nd and 3rd rule, split into cells."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("+-")]
    return [[c.strip() for c in line.split("|")[1:-1]] for line in lines[rules[1] + 1 : rules[2]]]


def test_top_of_gold_orders_by_count(spark, lake_settings):
    from brewlake.catalog import GOLD_BREWERY_COUNTS, register_table

    location = Lake(lake_settings).table_location(GOLD_BREWERY_COUNTS)
    spark.createDataFrame(
        [
            ("Germany", "Bayern", "micro", 3, 0),
            ("United States", "Texas", "micro", 7, 0),
            ("Austria", None, "closed", 1, 0),
        ],
        "country string, state string, brewery_type string, brewery_count long, "
        "silver_version long",
    ).write.format("delta").save(location)
    register_table(spark, lake_settings, GOLD_BREWERY_COUNTS)
    rows = _rows(demo.top_of_gold(spark, limit=2))
    assert rows == [
        ["United States", "Texas", "micro", "7", "0"],
        ["Germany", "Bayern", "micro", "3", "0"],
    ]


@pytest.mark.slow
def test_demo_serves_generated_data_runs_the_pipeline_and_prints_gold(spark, lake_settings):
    out = io.StringIO()
    ok = demo.run_demo(
        lake_settings, rows=400, seed=3, logical_date=dt.date(2025, 3, 1), spark=spark, out=out
    )
    text = out.getvalue()
    assert ok, text
    assert "serving 400 generated breweries at http://127.0.0.1:" in text
    printed = _rows(text[text.index("top of gold.brewery_counts") :])
    expected = spark.sql(demo.TOP_QUERY.format(limit=15)).collect()
    assert printed == [["NULL" if v is None else str(v) for v in row] for row in expected]
    assert sum(int(r[3]) for r in printed) <= 400 and len(printed) == 15
