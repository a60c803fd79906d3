"""Headless Chromium (Debian's `chromium` + `chromium-driver`) through Selenium, network off.

`open_offline(path)` loads a local file with every network request failing (the DevTools
protocol's offline emulation, plus a host resolver that resolves nothing), so a page that needs
a CDN shows it as console errors and missing charts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver"


def _which(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_or_skip() -> tuple[str, str]:
    """(chromium, chromedriver); skips without them, except under CI=true where it fails."""
    chromium, driver = _which(CHROMIUM), _which(DRIVER)
    if chromium and driver:
        return chromium, driver
    reason = f"headless Chromium is not installed ({INSTALL})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: CI must run the browser test")
    pytest.skip(reason)


@contextmanager
def open_offline(page: Path, *, width: int = 1440, height: int = 1000) -> Iterator[object]:
    """A Chrome WebDriver showing `page` with the network disabled; console logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_or_skip()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: nothing can be fetched
        "--no-first-run",
        "--disable-background-networking",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
        )
        driver.get(page.resolve().as_uri())
        yield driver
    finally:
        driver.quit()


def full_page_png(driver) -> bytes:
    """A screenshot of the whole page, not just the window."""
    import base64

    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    return base64.b64decode(shot["data"])


if __name__ == "__main__":
    # python -m tests.brewlake.report.browser lake/reports/latest/index.html docs/img/report.png
    import sys
    import time

    source, target = (Path(arg) for arg in sys.argv[1:3])
    with open_offline(source) as chrome:
        time.sleep(2)  # let every chart draw
        target.write_bytes(full_page_png(chrome))
    print(target)
