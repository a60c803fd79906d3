"""The API client against a real server: retries, Retry-After, timeouts, the rate limiter."""

from __future__ import annotations

import threading
import time

import pytest

from brewlake.devkit.cluster import free_port
from brewlake.devkit.replay import serve_in_thread
from bronze.client import BreweryClient, PageFetchError, RateLimiter
from tests.bronze.conftest import api_settings


def client_for(settings, url, **changes):
    return BreweryClient(api_settings(settings, url, **changes))


def test_pages_and_meta(base_settings, replay_api):
    with client_for(base_settings, replay_api.url) as client:
        meta, _ = client.meta()
        first = client.page(1)
    assert meta["total"] == 500
    assert first.status == 200 and first.attempts == 1
    assert first.body == replay_api.render_page(1, 50, "id:asc")
    assert "sort=id:asc" in first.url and "per_page=50" in first.url


def test_persistent_5xx_gives_up_after_the_configured_attempts(base_settings, replay_records):
    with serve_in_thread(replay_records, failing_page=2) as api:
        with client_for(base_settings, api.url, api_max_retries=3) as client:
            with pytest.raises(PageFetchError) as info:
                client.page(2)
            assert client.retries == 3
        assert api.stats.by_status[500] == 4
    err = info.value
    assert (err.page, err.status, err.attempts) == (2, 500, 4)
    assert str(err).startswith("page 2: GET http://127.0.0.1:")


def test_retry_after_is_waited_for(base_settings, replay_records):
    with (
        serve_in_thread(replay_records, rate_limit_per_minute=1, rate_limit_window_s=1) as api,
        client_for(base_settings, api.url) as client,
    ):
        client.page(1)
        t0 = time.monotonic()
        second = client.page(2)
        waited = time.monotonic() - t0
    assert second.status == 200 and second.attempts == 2
    assert waited >= 0.9  # Retry-After: 1
    assert api.stats.rate_limited == 1


def test_connection_refused_is_one_line_with_no_status(base_settings):
    url = f"http://127.0.0.1:{free_port()}"
    with (
        client_for(base_settings, url, api_max_retries=1) as client,
        pytest.raises(PageFetchError) as info,
    ):
        client.page(1)
    message = str(info.value)
    assert "no response" in message and "2 attempt(s)" in message and "\n" not in message
    assert info.value.status is None


def test_read_timeout_is_retried_then_reported(base_settings, replay_records):
    with serve_in_thread(replay_records, latency_ms=600) as api:
        with (
            client_for(base_settings, api.url, api_max_retries=1, api_read_timeout_s=0.2) as c,
            pytest.raises(PageFetchError, match="no response"),
        ):
            c.page(1)
        time.sleep(0.7)  # let the server finish the abandoned requests before counting
        assert api.stats.requests == 2


def test_client_rate_limit_counts_every_attempt_including_retries(base_settings, replay_records):
    # One attempt per 0.4 s window: 4 attempts on a failing page need >= 1.2 s.
    with serve_in_thread(replay_records, failing_page=1) as api:
        settings = base_settings.replace(
            api_url=api.url, api_max_retries=3, api_backoff_factor_s=0.0, api_concurrency=1
        )
        with BreweryClient(settings, limiter=RateLimiter(1, window_s=0.4)) as client:
            t0 = time.monotonic()
            with pytest.raises(PageFetchError):
                client.page(1)
            elapsed = time.monotonic() - t0
    assert api.stats.requests == 4
    assert elapsed >= 1.2


def test_rate_limiter_never_exceeds_its_count_in_any_window():
    limiter = RateLimiter(3, window_s=0.3)
    starts = []
    lock = threading.Lock()

    def worker():
        for _ in range(3):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(starts) == 9
    assert starts[2] - starts[0] < 0.1  # the first three go at once
    # any 4 consecutive starts span at least a full window
    assert all(starts[i + 3] - starts[i] >= 0.3 - 1e-3 for i in range(len(starts) - 3))
    assert starts[-1] - starts[0] >= 0.6


def test_default_limiter_comes_from_settings(base_settings):
    with BreweryClient(base_settings.replace(api_rate_limit_per_minute=110)) as client:
        assert (client.limiter.limit, client.limiter.window_s) == (110, 60.0)
    with BreweryClient(base_settings.replace(api_rate_limit_per_minute=0)) as client:
        assert client.limiter is None


def test_a_body_cut_mid_stream_is_retried(base_settings, replay_records):
    with serve_in_thread(replay_records, truncate_rate=0.5, seed=2) as api:
        with client_for(base_settings, api.url, api_max_retries=8) as client:
            answers = [client.page(p) for p in range(1, 11)]
        stats = api.stats.snapshot()
    assert stats["truncated"] > 0, stats
    assert [a.body for a in answers] == [api.render_page(p, 50, "id:asc") for p in range(1, 11)]
    assert sum(a.attempts - 1 for a in answers) == stats["truncated"]
    assert client.retries == stats["truncated"]


def test_a_body_always_cut_is_reported_after_the_configured_attempts(base_settings, replay_records):
    with (
        serve_in_thread(replay_records, truncate_rate=1.0) as api,
        client_for(base_settings, api.url, api_max_retries=2) as client,
        pytest.raises(PageFetchError) as info,
    ):
        client.page(1)
    assert api.stats.truncated == 3
    assert "page 1" in str(info.value) and "body cut short" in str(info.value)
    assert "3 attempt(s)" in str(info.value)
