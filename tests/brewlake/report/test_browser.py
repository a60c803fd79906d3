"""The report in a real browser: headless Chromium, network off, no console error, every chart
drawn, the state filter working, and a screenshot (BREWLAKE_REPORT_SCREENSHOT names where to keep
it; docs/img/report.png is the demo's)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.brewlake.report.browser import browser_or_skip, full_page_png, open_offline
from tests.conftest import wait_for

CHARTS = ("chart-by-type", "chart-by-country", "chart-map", "chart-changes", "chart-runs")


def chart_sizes(driver) -> dict[str, list[float]]:
    """Per Plotly chart div: width and height of its drawn SVG, and how many marks it holds."""
    return driver.execute_script(
        """
        const out = {};
        document.querySelectorAll('.js-plotly-plot').forEach(div => {
          const svg = div.querySelector('svg.main-svg');
          const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
          const marks = div.querySelectorAll('g.point, path.point, g.trace.bars path').length;
          out[div.id] = [box.width, box.height, marks];
        });
        return out;
        """
    )


def test_the_page_renders_offline_without_errors(report_lake, tmp_path):
    browser_or_skip()
    with open_offline(report_lake.page) as driver:
        sizes = wait_for(
            lambda: (s := chart_sizes(driver)) and len(s) == len(CHARTS) and s,
            timeout=30,
            what="every chart drawn",
        )
        assert set(sizes) == set(CHARTS)
        for name, (width, height, marks) in sizes.items():
            assert width > 100 and height > 100 and marks > 0, (name, width, height, marks)
        assert driver.execute_script("return navigator.onLine") is False  # really offline

        # The state filter: one row left for Kärnten.
        search = driver.find_element("id", "state-search")
        search.send_keys("Kärnten")
        visible = driver.execute_script(
            "return [...document.querySelectorAll('#states tbody tr')]"
            ".filter(r => r.style.display !== 'none').map(r => r.cells[1].textContent)"
        )
        assert visible == ["Kärnten"]
        search.clear()

        time.sleep(0.5)  # anything late (a fetch, a font) would log by now
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
        png = full_page_png(driver)
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    target = Path(os.environ.get("BREWLAKE_REPORT_SCREENSHOT") or tmp_path / "report.png")
    target.write_bytes(png)
