"""Bronze ingest end to end: replay API on 127.0.0.1 → batch in a local lake or moto S3."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from brewlake.batches import list_batches, sha256_hex
from brewlake.devkit.replay import serve_in_thread
from brewlake.lake import MANIFEST_NAME, Lake
from brewlake.storage import open_store
from bronze.client import BreweryClient, PageFetchError, RateLimiter
from bronze.ingest import Progress, ingest
from bronze.job import run
from bronze.verify import VerificationError
from tests.bronze.conftest import api_settings
from tests.conftest import env_for

DAY = dt.date(2025, 3, 14)
PROJECT = Path(__file__).resolve().parents[2]


def landed_records(settings, batch_key):
    """Every record in the batch's page files, in page order."""
    store = open_store(settings)
    keys = sorted(k for k in store.list(batch_key + "/") if k.endswith(".json"))
    out = []
    for key in keys:
        if key.endswith(MANIFEST_NAME):
            continue
        out.extend(json.loads(store.get(key)))
    return out


def batch_objects(settings):
    return sorted(open_store(settings).list(Lake(settings).raw_dataset_key() + "/"))


def test_complete_ingest_lands_exactly_the_served_ids(lake_settings, replay_api):
    settings = api_settings(lake_settings, replay_api.url)
    result = run(None, settings, DAY, argparse.Namespace())

    served = replay_api.records
    (batch,) = list_batches(open_store(settings), Lake(settings))
    landed = landed_records(settings, batch.key)
    assert [r["id"] for r in landed] == sorted(r["id"] for r in served)  # each once, id order
    assert {r["id"]: r for r in landed} == {r["id"]: r for r in served}
    manifest = batch.manifest
    assert manifest.total_records == len(served) == result.rows_in == result.rows_out
    assert manifest.api_meta["total"] == len(served)
    assert manifest.duplicate_ids == ()
    assert manifest.logical_date == DAY.isoformat()
    assert manifest.source_url == replay_api.url
    assert sum(p.records for p in manifest.pages) == len(served)
    # 500 records at 50 a page: 10 full pages, then the stop rule asks for more and gets [].
    assert [p.records for p in manifest.pages] == [50] * 10 + [0]
    assert result.batch_ids == [batch.batch_id]
    assert result.details["batch_path"].endswith(batch.key)
    assert result.details["pages"] == len(manifest.pages)
    assert result.duplicates == 0


def test_pages_are_stored_byte_for_byte(lake_settings, replay_api):
    settings = api_settings(lake_settings, replay_api.url)
    run(None, settings, DAY, argparse.Namespace())
    store = open_store(settings)
    (batch,) = list_batches(store, Lake(settings))
    for entry, key in zip(batch.manifest.pages, batch.page_keys(), strict=True):
        sent = replay_api.render_page(entry.page, 50, "id:asc")
        stored = store.get(key)
        assert stored == sent
        assert entry.sha256 == sha256_hex(sent) and entry.bytes == len(sent)
    # A non-ASCII record survived untouched (the server sends raw UTF-8).
    assert any(
        "ü".encode() in store.get(k) or "é".encode() in store.get(k) for k in batch.page_keys()
    )


def test_faults_still_give_the_exact_set_within_the_concurrency_bound(
    lake_settings, replay_records
):
    with serve_in_thread(
        replay_records,
        error_rate=0.2,
        rate_limit_per_minute=8,  # per 1 s window below: the client, at 3000/min, goes faster
        rate_limit_window_s=1,
        latency_ms=20,
        truncate_rate=0.1,
        seed=3,
    ) as api:
        settings = api_settings(
            lake_settings,
            api.url,
            api_page_size=20,
            api_concurrency=3,
            api_rate_limit_per_minute=3000,
            api_max_retries=8,
        )
        result = run(None, settings, DAY, argparse.Namespace())
        stats = api.stats.snapshot()

    (batch,) = list_batches(open_store(settings), Lake(settings))
    landed = landed_records(settings, batch.key)
    assert sorted(r["id"] for r in landed) == sorted(r["id"] for r in replay_records)
    assert stats["server_errors"] > 0, stats
    assert stats["rate_limited"] > 0, stats
    assert 1 <= stats["max_in_flight"] <= 3, stats
    assert stats["truncated"] > 0, stats
    # Every 5xx, 429 and cut body the server sent was retried, and nothing else was.
    faults = stats["server_errors"] + stats["rate_limited"] + stats["truncated"]
    assert result.details["retries"] == faults
    assert batch.manifest.extra["retries"] == result.details["retries"]


def test_retry_after_is_honoured(lake_settings, replay_records):
    # Two requests per 1 s window: the third is told to come back after 1 s. Finishing with every
    # record proves the client waited rather than giving up.
    with serve_in_thread(
        replay_records[:100], rate_limit_per_minute=2, rate_limit_window_s=1
    ) as api:
        settings = api_settings(lake_settings, api.url, api_concurrency=2, api_max_retries=4)
        report = ingest(settings, DAY)
        stats = api.stats.snapshot()
    assert report.unique == 100
    assert stats["rate_limited"] >= 1
    assert report.retries == stats["rate_limited"]
    assert report.seconds >= 1.0  # Retry-After: 1


def test_client_rate_limit_keeps_the_server_from_ever_saying_429(lake_settings, replay_records):
    # The server allows 30 per 1 s window; the client is held to 25 per the same window.
    with serve_in_thread(replay_records, rate_limit_per_minute=30, rate_limit_window_s=1) as api:
        settings = api_settings(lake_settings, api.url, api_page_size=10, api_concurrency=4)
        with BreweryClient(settings, limiter=RateLimiter(25, window_s=1.0)) as client:
            from bronze.ingest import _fetch

            with ThreadPoolExecutor(4) as pool:
                sizes = _fetch(pool, client, range(1, 51), lambda *a: None)
        stats = api.stats.snapshot()
    assert sorted(sizes) == list(range(1, 51))
    assert stats["rate_limited"] == 0
    assert client.limiter.waited_s > 0  # 50 requests at 25 per second: it had to wait


def test_a_persistently_failing_page_fails_the_run_without_a_manifest(
    lake_settings, replay_records
):
    with serve_in_thread(replay_records, failing_page=4) as api:
        settings = api_settings(lake_settings, api.url, api_concurrency=2, api_max_retries=2)
        with pytest.raises(PageFetchError) as info:
            ingest(settings, DAY)
    message = str(info.value)
    assert "page 4" in message and "HTTP 500" in message and "3 attempt(s)" in message
    assert "page=4" in message  # the URL itself
    assert "\n" not in message
    objects = batch_objects(settings)
    assert not any(o.endswith(MANIFEST_NAME) for o in objects)
    assert list_batches(open_store(settings), Lake(settings)) == []
    assert not any(o.endswith("page-00004.json") for o in objects)
    # Pages that arrived before the failure stay for diagnosis.
    assert any(o.endswith("page-00001.json") for o in objects)


def test_cli_exits_non_zero_naming_the_page(lake_settings, replay_records):
    with serve_in_thread(replay_records, failing_page=2) as api:
        settings = api_settings(lake_settings, api.url, api_max_retries=1)
        env = env_for(
            settings,
            BREWLAKE_API_PAGE_SIZE="50",
            BREWLAKE_API_MAX_RETRIES="1",
            BREWLAKE_API_BACKOFF_FACTOR_S="0.01",
            BREWLAKE_API_RATE_LIMIT_PER_MINUTE="60000",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "brewlake.cli", "bronze", "--date", DAY.isoformat()],
            env=env,
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("brewlake: error")]
    assert len(errors) == 1, proc.stderr
    assert "page 2" in errors[0] and "HTTP 500" in errors[0] and "2 attempt(s)" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not any(o.endswith(MANIFEST_NAME) for o in batch_objects(settings))


def test_a_malformed_page_fails_the_run_without_a_manifest(lake_settings, replay_records):
    with serve_in_thread(replay_records, malformed_page=3) as api:
        settings = api_settings(lake_settings, api.url)
        with pytest.raises(PageFetchError) as info:
            ingest(settings, DAY)
    message = str(info.value)
    assert "page 3" in message and "not JSON" in message and "HTTP 200" in message
    assert list_batches(open_store(settings), Lake(settings)) == []


def test_a_total_that_grows_mid_run_loses_no_record(lake_settings, replay_records):
    # New breweries whose ids sort after every existing one, as appended rows do.
    late = [
        dict(r, id=f"ffffffff-{uuid.UUID(int=i).hex[8:12]}-4000-8000-{i:012x}")
        for i, r in enumerate(replay_records[:130])
    ]
    with serve_in_thread(replay_records) as api:
        api.on_page(1, lambda: api.append(late))
        settings = api_settings(lake_settings, api.url, api_concurrency=2)
        report = ingest(settings, DAY)
        served = api.records
    assert len(served) == 630
    assert report.manifest.extra["api_total_at_start"] == 500
    assert report.manifest.api_meta["total"] == 630
    (batch,) = list_batches(open_store(settings), Lake(settings))
    landed = landed_records(settings, batch.key)
    assert sorted(r["id"] for r in landed) == sorted(r["id"] for r in served)
    assert report.expected_pages == 10
    assert [p.records for p in report.manifest.pages] == [50] * 12 + [30]


def test_a_record_slipping_into_a_fetched_page_fails_verification_with_both_numbers(
    lake_settings, replay_records
):
    early = dict(replay_records[0], id="00000000-0000-4000-8000-000000000001")
    with serve_in_thread(replay_records) as api:
        api.on_page(3, lambda: api.append([early]))
        settings = api_settings(lake_settings, api.url, api_concurrency=1)
        with pytest.raises(VerificationError) as info:
            ingest(settings, DAY)
    message = str(info.value)
    assert "fetched 500" in message and "total is 501" in message
    assert list_batches(open_store(settings), Lake(settings)) == []


def test_tolerance_accepts_a_small_disagreement(lake_settings, replay_records):
    early = dict(replay_records[0], id="00000000-0000-4000-8000-000000000001")
    with serve_in_thread(replay_records) as api:
        api.on_page(3, lambda: api.append([early]))
        settings = api_settings(lake_settings, api.url, api_concurrency=1, api_total_tolerance=0.01)
        report = ingest(settings, DAY)
    assert report.unique == 500 and report.meta["total"] == 501


def test_rerun_makes_a_new_immutable_batch(lake_settings, replay_api):
    settings = api_settings(lake_settings, replay_api.url)
    first = run(None, settings, DAY, argparse.Namespace())
    second = run(None, settings, DAY, argparse.Namespace())
    batches = list_batches(open_store(settings), Lake(settings))
    assert [b.batch_id for b in batches] == sorted(first.batch_ids + second.batch_ids)
    assert first.batch_ids != second.batch_ids
    pages = [[p.sha256 for p in b.manifest.pages] for b in batches]
    assert pages[0] == pages[1]  # same data, same bytes, two batches


@pytest.mark.s3
def test_same_behaviour_on_s3(s3_settings, replay_api, replay_records):
    settings = api_settings(s3_settings, replay_api.url)
    result = run(None, settings, DAY, argparse.Namespace())
    store = open_store(settings)
    (batch,) = list_batches(store, Lake(settings))
    stored = [sha256_hex(store.get(key)) for key in batch.page_keys()]
    assert stored == [p.sha256 for p in batch.manifest.pages]
    assert result.details["batch_path"].startswith("s3://")
    landed = landed_records(settings, batch.key)
    assert sorted(r["id"] for r in landed) == sorted(r["id"] for r in replay_api.records)

    with (
        serve_in_thread(replay_records, malformed_page=2) as bad,
        pytest.raises(PageFetchError, match="page 2"),
    ):
        ingest(api_settings(s3_settings, bad.url), DAY)
    assert len(list_batches(store, Lake(settings))) == 1  # the failed run added no batch
    keys = list(store.list(Lake(settings).raw_dataset_key() + "/"))
    assert sum(k.endswith(MANIFEST_NAME) for k in keys) == 1


def test_cli_success_prints_a_summary(lake_settings, replay_api):
    settings = api_settings(lake_settings, replay_api.url)
    env = env_for(
        settings,
        BREWLAKE_API_PAGE_SIZE="100",
        BREWLAKE_API_RATE_LIMIT_PER_MINUTE="60000",
    )
    proc = subprocess.run(
        [sys.executable, "bronze/job.py", "--date", DAY.isoformat(), "--concurrency", "2"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = [line for line in proc.stderr.splitlines() if line.startswith("bronze: records=")]
    assert len(summary) == 1
    assert "records=500" in summary[0] and "pages=6" in summary[0]  # 5 full + 1 empty
    assert "bronze: rows_in=500" in proc.stdout
    assert replay_api.stats.max_in_flight <= 2
    assert len(list_batches(open_store(settings), Lake(settings))) == 1


@pytest.mark.slow
@pytest.mark.skipif(
    not shutil.which("spark-submit", path=str(Path(sys.executable).parent)),
    reason="spark-submit not installed",
)
def test_spark_submit_runs_the_job(lake_settings, replay_api):
    settings = api_settings(lake_settings, replay_api.url)
    env = env_for(
        settings, BREWLAKE_API_RATE_LIMIT_PER_MINUTE="60000", PYSPARK_PYTHON=sys.executable
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["spark-submit", "--master", "local[1]", "bronze/job.py", "--date", DAY.isoformat()],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (batch,) = list_batches(open_store(settings), Lake(settings))
    assert batch.manifest.total_records == 500


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(lake_settings, replay_api, caplog):
    settings = api_settings(lake_settings, replay_api.url, api_page_size=100)
    terminal = _Terminal()
    ingest(settings, DAY, progress=Progress(terminal))
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())  # colours, cursor
    assert drawn.startswith("bronze ")
    # 5 expected, then one empty: the bar ends full, at 6/6, on a line of its own.
    assert drawn.endswith("\rbronze " + "━" * 40 + " 6/6 pages\n")

    plain = io.StringIO()
    with caplog.at_level(logging.INFO, logger="bronze"):
        ingest(settings, DAY, progress=Progress(plain))
    assert plain.getvalue() == ""
    progress = [r for r in caplog.records if r.getMessage() == "bronze.progress"]
    assert 1 <= len(progress) <= 11
    assert progress[-1].pages == 6


def test_an_empty_source_makes_an_empty_complete_batch(lake_settings):
    with serve_in_thread([]) as api:
        report = ingest(api_settings(lake_settings, api.url), DAY)
    assert (report.records, report.pages) == (0, 1)
    (batch,) = list_batches(open_store(lake_settings), Lake(lake_settings))
    assert batch.manifest.total_records == 0


def test_job_rejects_a_bad_concurrency(capsys):
    from bronze.job import main

    # A usage error: exit code 2, what `sys.exit(main())` hands spark-submit and Airflow.
    assert main(["--concurrency", "0"]) == 2
    assert "--concurrency" in capsys.readouterr().err
