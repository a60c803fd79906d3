"""The replay API over real HTTP on 127.0.0.1: the source API's rules and each injected fault."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import requests

from brewlake.devkit.cluster import free_port
from brewlake.devkit.replay import serve_in_thread


def get(url, **params):
    return requests.get(url, params=params, timeout=10)


def test_pages_in_id_order_cover_the_dataset_exactly(replay_api):
    seen = []
    page = 1
    while True:
        resp = get(f"{replay_api.url}/v1/breweries", page=page, per_page=200, sort="id:asc")
        assert resp.status_code == 200
        batch = resp.json()
        seen.extend(batch)
        if len(batch) < 200:
            break
        page += 1
    assert page == 3
    assert [r["id"] for r in seen] == sorted(r["id"] for r in replay_api.records)
    assert seen[0] == next(r for r in replay_api.records if r["id"] == seen[0]["id"])


def test_default_page_size_limits_and_past_the_end(replay_api):
    url = f"{replay_api.url}/v1/breweries"
    assert len(get(url).json()) == 50
    assert len(get(url, per_page=200).json()) == 200
    too_big = get(url, per_page=201)
    assert too_big.status_code == 422
    assert "200" in too_big.json()["message"]
    assert get(url, per_page=0).status_code == 422
    assert get(url, page="x").status_code == 422
    assert get(url, page=99, per_page=200).json() == []
    assert get(url, page=3, per_page=200).status_code == 200
    assert get(url, sort="colour:asc").status_code == 422
    assert get(f"{replay_api.url}/v1/nothing").status_code == 404


def test_sort_orders_and_unsorted_order_is_the_dataset_order(replay_api):
    url = f"{replay_api.url}/v1/breweries"
    desc = get(url, per_page=200, sort="id:desc").json()
    assert [r["id"] for r in desc] == sorted((r["id"] for r in replay_api.records), reverse=True)[
        :200
    ]
    by_name = get(url, per_page=200, sort="name,id").json()
    assert [r["name"] for r in by_name] == sorted(r["name"] for r in by_name)
    assert get(url, per_page=5).json() == replay_api.records[:5]


def test_meta_counts_what_is_served(replay_api):
    meta = get(f"{replay_api.url}/v1/breweries/meta").json()
    records = replay_api.records
    assert meta["total"] == 500
    assert (meta["page"], meta["per_page"]) == (1, 50)
    assert meta["by_type"] == dict(Counter(r["brewery_type"] for r in records))
    assert meta["by_country"] == dict(Counter(r["country"] for r in records))
    assert meta["by_state"] == dict(Counter(r["state_province"] for r in records))
    assert sum(meta["by_type"].values()) == 500


def test_dataset_can_change_while_serving(replay_api):
    extra = [dict(replay_api.records[0], id="ffffffff-0000-4000-8000-000000000000")]
    replay_api.append(extra)
    assert get(f"{replay_api.url}/v1/breweries/meta").json()["total"] == 501
    last = get(f"{replay_api.url}/v1/breweries", page=3, per_page=200, sort="id:asc").json()
    assert last[-1]["id"] == extra[0]["id"]
    replay_api.set_records(replay_api.records[:10])
    assert get(f"{replay_api.url}/v1/breweries/meta").json()["total"] == 10


def test_body_is_raw_utf8_and_matches_render_page(replay_api):
    resp = get(f"{replay_api.url}/v1/breweries", page=2, per_page=100, sort="id:asc")
    assert resp.content == replay_api.render_page(2, 100, "id:asc")
    assert resp.headers["Content-Type"].startswith("application/json")


def test_error_rate_sends_5xx_in_about_that_share(replay_records):
    with serve_in_thread(replay_records, error_rate=0.3, seed=1) as api:
        codes = Counter(get(f"{api.url}/v1/breweries").status_code for _ in range(200))
    errors = sum(n for code, n in codes.items() if code >= 500)
    assert 35 <= errors <= 85, codes
    assert codes[200] == 200 - errors
    assert api.stats.server_errors == errors


def test_rate_limit_answers_429_with_retry_after(replay_records):
    # 3 requests per 1-second window (the real API: about 120 per 60 s).
    with serve_in_thread(replay_records, rate_limit_per_minute=3, rate_limit_window_s=1) as api:
        answers = [get(f"{api.url}/v1/breweries") for _ in range(5)]
        time.sleep(1.05)
        after_the_window = get(f"{api.url}/v1/breweries")
    codes = [a.status_code for a in answers]
    assert codes == [200, 200, 200, 429, 429]
    assert answers[3].headers["Retry-After"] == "1"
    assert after_the_window.status_code == 200
    assert api.stats.rate_limited == 2


def test_malformed_and_failing_pages(replay_records):
    with serve_in_thread(replay_records, malformed_page=2, failing_page=3) as api:
        url = f"{api.url}/v1/breweries"
        bad = get(url, page=2)
        assert bad.status_code == 200
        with pytest.raises(ValueError):
            json.loads(bad.content)
        assert [get(url, page=3).status_code for _ in range(3)] == [500, 500, 500]
        assert get(url, page=1).status_code == 200


def test_latency_and_concurrency_are_measured(replay_records):
    with serve_in_thread(replay_records, latency_ms=400) as api:
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=get, args=(f"{api.url}/v1/breweries",)) for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.4
    assert api.stats.requests == 3
    assert api.stats.max_in_flight == 3  # three requests held open by the latency at once


def test_on_page_hook_runs_once_before_the_page(replay_records):
    calls = []
    with serve_in_thread(replay_records) as api:
        api.on_page(2, lambda: calls.append(len(calls)))
        get(f"{api.url}/v1/breweries", page=1)
        assert calls == []
        get(f"{api.url}/v1/breweries", page=2)
        get(f"{api.url}/v1/breweries", page=2)
    assert calls == [0]


def test_serve_api_command_runs_in_the_foreground(tmp_path, replay_records):
    data = tmp_path / "breweries.json"
    data.write_text(json.dumps(replay_records[:30]), encoding="utf-8")
    port = free_port()
    command = [sys.executable, "-m", "brewlake.cli", "serve-api", "--data", str(data)]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--malformed-page", "2"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                meta = get(f"http://127.0.0.1:{port}/v1/breweries/meta").json()
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "serve-api did not start"
                time.sleep(0.1)
        assert meta["total"] == 30
        assert get(f"http://127.0.0.1:{port}/v1/breweries", page=2).status_code == 200
        with pytest.raises(ValueError):
            get(f"http://127.0.0.1:{port}/v1/breweries", page=2).json()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0  # SIGTERM stops it cleanly
    assert "stopped; {'requests': 3" in proc.stderr.read()


def test_truncated_answers_drop_the_connection_mid_body(replay_records):
    with serve_in_thread(replay_records, truncate_rate=1.0) as api:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            get(f"{api.url}/v1/breweries", per_page=200)
        assert api.stats.truncated == 1
