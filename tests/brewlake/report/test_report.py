"""The report gold writes: where it lands, that its numbers are `brewlake sql`'s, --as-of/--out,
S3, and the pure pieces of the page."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections import Counter

import pytest

from brewlake.catalog import SILVER_BREWERIES
from brewlake.cli import sql as bsql
from brewlake.lake import Lake
from brewlake.report import build, page
from brewlake.report import queries as q
from brewlake.report.build import ReportError
from brewlake.runtime.job import execute_layer
from tests.brewlake.report.conftest import DAY, V0, V1, embedded_data, write_silver_version
from tests.conftest import env_for

ACTIVE_V1 = [r for r in V1 if r[9]]


def test_gold_writes_a_self_contained_page_dated_and_latest(report_lake):
    check = [c for c in report_lake.gold.checks if c.rule == "report.written"]
    assert check and check[0].passed, check
    latest = report_lake.page.parent.parent / "latest" / "index.html"
    html = report_lake.page.read_text(encoding="utf-8")
    assert latest.read_text(encoding="utf-8") == html
    # Self-contained: no external script, stylesheet, image or frame.
    lowered = html.lower()
    for tag in ("<script src", "<link ", "<img ", "<iframe"):
        assert tag not in lowered, tag
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js inlined


def test_the_page_shows_what_gold_and_silver_hold(report_lake):
    doc = report_lake.doc
    versions = doc["versions"]
    assert versions["silver.breweries"] == 1 and versions["previous_silver"] == 0
    assert versions["gold.brewery_counts"] == 1
    assert doc["logical_date"] == doc["gold_logical_date"] == DAY.isoformat()
    rows = {name: d["rows"] for name, d in doc["datasets"].items()}

    by_type = {r["brewery_type"]: r["brewery_count"] for r in rows["by_type"]}
    assert by_type == dict(Counter(r[2] for r in ACTIVE_V1))
    located = [r for r in ACTIVE_V1 if r[6] is not None]
    assert rows["locations"] == [{"active": len(ACTIVE_V1), "located": len(located), "suspect": 1}]
    assert sorted(p["name"] for p in rows["map_points"]) == sorted(r[1] for r in located)
    changes = {r["brewery_type"]: r for r in rows["changes"]}
    assert {t: [v for k, v in r.items() if k != "brewery_type"] for t, r in changes.items()} == {
        "nano": [1, 0, 0, 0],  # 9 is new
        "micro": [0, 1, 0, 1],  # 2 renamed, 8 back
        "brewpub": [0, 0, 1, 0],  # 3 deactivated
    }
    # The first gold run is on the page (the second records itself after writing it).
    [run] = rows["runs"]
    assert (run["layer"], run["status"], run["logical_date"]) == ("gold", "succeeded", "2025-05-01")
    assert {c["rule"] for c in rows["checks"]} >= {"gold.brewery_counts.reconciles_with_silver"}
    states = {(r["country"], r["state"]): r["rank_in_country"] for r in rows["states"]}
    assert states[("United States", "Texas")] == 1 and states[("United States", "Nevada")] == 2
    assert states[("Austria", "Kärnten")] == states[("Austria", "Steiermark")] == 1  # a tie


def test_every_number_is_what_brewlake_sql_prints(report_lake, spark, monkeypatch, capfd):
    """Each dataset's SQL, run by the `brewlake sql` command, prints exactly the rows embedded."""
    _cli_env(monkeypatch, report_lake.settings)
    datasets = report_lake.doc["datasets"]
    assert set(datasets) == {
        "by_type",
        "by_country",
        "states",
        "locations",
        "map_points",
        "changes",
        "runs",
        "checks",
    }
    for name, dataset in datasets.items():
        assert bsql.main([dataset["sql"], "--format", "json"]) == 0, name
        out, err = capfd.readouterr()
        assert json.loads(out) == dataset["rows"], (name, err)


def _cli_env(monkeypatch, settings) -> None:
    for key, value in env_for(settings).items():
        if key.startswith("BREWLAKE_"):
            monkeypatch.setenv(key, value)


def test_report_command_as_of_an_older_gold_version_to_a_file(
    report_lake, spark, tmp_path, monkeypatch, capfd
):
    _cli_env(monkeypatch, report_lake.settings)
    out = tmp_path / "old.html"
    assert build.main(["--out", str(out), "--as-of", "0"]) == 0
    printed, _ = capfd.readouterr()
    assert printed.strip() == str(out.resolve())
    doc = embedded_data(out.read_text(encoding="utf-8"))
    assert doc["versions"]["gold.brewery_counts"] == 0
    assert doc["versions"]["silver.breweries"] == 0 and doc["versions"]["previous_silver"] is None
    assert doc["logical_date"] == "2025-05-01"  # the date gold recorded at that version
    assert "changes" not in doc["datasets"]
    assert sum(r["brewery_count"] for r in doc["datasets"]["by_type"]["rows"]) == 7

    assert build.main(["--out", str(out), "--as-of", "9"]) == 1
    _, err = capfd.readouterr()
    assert err.strip() == (
        "brewlake: error: gold.brewery_counts has no version 9 (versions 0..1)"
    ), err


@pytest.mark.s3
def test_pages_land_on_s3_in_the_lake_and_at_out(s3_settings):
    from brewlake.storage import aws_client, open_store

    html = "<!DOCTYPE html><p>ok</p>"
    places = build.write_page(s3_settings, html, None, DAY)
    bucket = s3_settings.s3_bucket
    assert places == [
        f"s3a://{bucket}/lake/reports/2025-05-02/index.html",
        f"s3a://{bucket}/lake/reports/latest/index.html",
    ]
    store = open_store(s3_settings)
    for key in ("reports/2025-05-02/index.html", "reports/latest/index.html"):
        assert store.get(key).decode() == html
    client = aws_client(s3_settings)
    out = f"s3://{bucket}/pages/r.html"
    assert build.write_page(s3_settings, html, out, DAY) == [out]
    obj = client.get_object(Bucket=bucket, Key="pages/r.html")
    assert obj["Body"].read().decode() == html and obj["ContentType"].startswith("text/html")
    with pytest.raises(ReportError, match=re.escape("s3://bucket/path/report.html")):
        build.write_page(s3_settings, html, f"s3://{bucket}/", DAY)


def test_countries_past_the_top_are_one_bar():
    rows = [{"country": f"c{i}", "brewery_count": 100 - i} for i in range(20)]
    rows.append({"country": None, "brewery_count": 1})
    bars = page.country_bars(rows, top=3)
    assert bars == [
        ("c0", 100),
        ("c1", 99),
        ("c2", 98),
        ("other (18 countries)", sum(100 - i for i in range(3, 20)) + 1),
    ]
    assert page.country_bars(rows[:2], top=3) == [("c0", 100), ("c1", 99)]


def test_embedded_json_cannot_close_its_script_element():
    doc = {"datasets": {}, "note": "</script><script>alert(1)</script>"}
    text = page._embedded(doc)
    assert text.count("</script>") == 1
    assert embedded_data(text) == doc


def test_the_map_spans_the_inhabited_world_and_every_point():
    assert page.map_range([10.0, 20.0], (-60, 80), 90) == [-60, 80]
    assert page.map_range([-88.5, 20.0], (-60, 80), 90) == [-90, 80]
    assert page.map_range([], (-180, 180), 180) == [-180, 180]


def test_changes_since_the_empty_tables_creation_are_its_active_rows_without_a_join(
    spark, base_settings, tmp_path
):
    """silver's first run creates breweries empty (v0) and loads it (v1): the changes dataset
    counts v1's active rows as new from v1 alone, and agrees with the two-version join."""
    from gold import job
    from silver import merge

    settings = base_settings.replace(lake_root=str(tmp_path / "lake"))
    location = Lake(settings).table_location(SILVER_BREWERIES)
    assert merge.ensure_table(spark, SILVER_BREWERIES, location)
    write_silver_version(spark, settings, V0)
    args = argparse.Namespace(force=False)
    no_page = settings.replace(report_enabled=False)
    gold = execute_layer("gold", job.run, no_page, DAY, args, spark=spark)
    assert not gold.failed_checks and gold.rows_in == len(V0)

    doc = build.collect(spark, settings, DAY)
    pins, _ = build.resolve_pins(spark, settings)
    assert (pins.silver, pins.previous_silver, pins.previous_silver_empty) == (1, 0, True)
    changes = doc["datasets"]["changes"]
    assert "JOIN" not in changes["sql"].upper() and "VERSION AS OF 0" not in changes["sql"]
    active = Counter(r[2] for r in V0 if r[9])
    assert {r["brewery_type"]: r["new_count"] for r in changes["rows"]} == active
    assert all(
        (r["changed_count"], r["deactivated_count"], r["reactivated_count"]) == (0, 0, 0)
        for r in changes["rows"]
    )
    joined = q.changes(dataclasses.replace(pins, previous_silver_empty=False))
    assert "FULL OUTER JOIN" in joined
    assert build.run_query(spark, joined)["rows"] == changes["rows"]
