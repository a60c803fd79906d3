"""Fetch every page of the API into one new batch, verify it, then commit its manifest.

Order of work: /meta → the pages its total implies (concurrently) → more pages, one at a time,
until one comes back short or empty (a total that grew mid-run is not truncated) → /meta again →
reconcile → manifest. Each page is landed byte for byte as soon as it arrives; on any failure the
run stops, the landed pages stay for diagnosis and no manifest is written, so no reader ever sees
the batch.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, Any

from brewlake.batches import BatchWriter, Manifest
from brewlake.config import Settings
from brewlake.lake import Lake
from brewlake.log import get_logger
from brewlake.storage import open_store
from bronze.client import BreweryClient, PageFetchError, Response
from bronze.verify import Tally, VerificationError, parse_page, reconcile

log = get_logger(__name__)


@dataclass
class IngestReport:
    """What one ingest did."""

    batch_id: str
    batch_path: str
    manifest: Manifest
    records: int
    unique: int
    duplicates: int
    pages: int
    expected_pages: int
    requests: int
    retries: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"bronze: records={self.records} pages={self.pages} retries={self.retries} "
            f"seconds={self.seconds:.1f} batch={self.batch_path}"
        )


class Progress:
    """A bar on a terminal, a log line every ~10 % otherwise."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stderr
        self.is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.expected = 0
        self._last_logged = -1

    def start(self, expected: int) -> None:
        self.expected = expected
        self._draw()

    def advance(self, page: int, records: int) -> None:
        self.done += 1
        self._draw(page, records)

    def finish(self) -> None:
        if self.is_tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, page: int | None = None, records: int = 0) -> None:
        expected = max(self.expected, self.done, 1)
        if self.is_tty:
            width = 30
            filled = int(width * min(self.done, expected) / expected)
            self.stream.write(
                f"\rbronze [{'#' * filled}{'.' * (width - filled)}] {self.done}/{expected} pages"
            )
            self.stream.flush()
            return
        decile = self.done * 10 // expected
        if page is not None and (decile != self._last_logged or self.done >= expected):
            self._last_logged = decile
            log.info("bronze.progress", pages=self.done, expected=expected, last_page=page)


def ingest(
    settings: Settings,
    logical_date: dt.date,
    *,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Land one complete, verified batch for `logical_date`; raise on anything less."""
    t0 = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    store = open_store(settings)
    writer = BatchWriter(store, Lake(settings), logical_date)
    progress = progress or Progress()
    tally = Tally()
    with BreweryClient(settings, concurrency=concurrency) as client:
        per_page = client.per_page
        meta_start, _ = client.meta()
        expected_pages = max(1, math.ceil(meta_start["total"] / per_page))
        log.info(
            "bronze.started",
            batch_id=writer.batch_id,
            api_total=meta_start["total"],
            expected_pages=expected_pages,
            concurrency=client.concurrency,
            batch=writer.location,
        )
        progress.start(expected_pages)

        def land(page: int, resp: Response, records: list[dict[str, Any]]) -> None:
            writer.write_page(
                page,
                resp.body,
                len(records),
                url=resp.url,
                status=resp.status,
                attempts=resp.attempts,
                seconds=round(resp.seconds, 4),
            )
            tally.add(records)
            progress.advance(page, len(records))

        try:
            with ThreadPoolExecutor(client.concurrency, thread_name_prefix="bronze") as pool:
                sizes = _fetch(pool, client, range(1, expected_pages + 1), land)
                last = expected_pages
                # The total may have grown since /meta: keep going until a page is short. One
                # page at a time: growth mid-run is small, and a wave would spend rate-limited
                # requests on pages that are almost always empty.
                while sizes[last] == per_page:
                    last += 1
                    sizes.update(_fetch(pool, client, [last], land))
            meta_end, _ = client.meta()
        except PageFetchError as exc:
            raise PageFetchError(
                exc.url,
                exc.page,
                exc.status,
                exc.attempts,
                f"{exc.why}; {len(writer.pages)} page(s) kept in "
                f"{writer.location} without a manifest",
            ) from exc
        finally:
            progress.finish()
        problems = reconcile(tally, meta_end, settings.api_total_tolerance)
        if problems:
            raise VerificationError(
                f"bronze batch {writer.batch_id} not committed: {problems[0]}"
                + (f" (and {len(problems) - 1} more disagreement(s))" if len(problems) > 1 else "")
                + f"; {len(writer.pages)} page(s) kept in {writer.location}"
            )
        seconds = time.monotonic() - t0
        manifest = writer.commit(
            source_url=client.base_url,
            api_meta=meta_end,
            duplicate_ids=tuple(tally.duplicate_ids),
            started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.UTC).isoformat(),
            seconds=round(seconds, 3),
            extra={
                "per_page": per_page,
                "sort": "id:asc",
                "expected_pages": expected_pages,
                "api_total_at_start": meta_start["total"],
                "distinct_records": tally.unique,
                "records_without_id": tally.without_id,
                "requests": client.requests,
                "retries": client.retries,
                "concurrency": client.concurrency,
                "rate_limit_per_minute": settings.api_rate_limit_per_minute,
                "rate_limit_wait_s": round(client.limiter.waited_s, 3) if client.limiter else 0,
            },
        )
        report = IngestReport(
            batch_id=writer.batch_id,
            batch_path=writer.location,
            manifest=manifest,
            records=tally.records,
            unique=tally.unique,
            duplicates=tally.duplicates,
            pages=len(writer.pages),
            expected_pages=expected_pages,
            requests=client.requests,
            retries=client.retries,
            seconds=seconds,
            meta=meta_end,
        )
    log.info(
        "bronze.committed",
        batch_id=report.batch_id,
        records=report.records,
        distinct=report.unique,
        pages=report.pages,
        retries=report.retries,
    )
    return report


def _fetch_one(client: BreweryClient, page: int) -> tuple[int, Response, list[dict[str, Any]]]:
    resp = client.page(page)
    try:
        records = parse_page(resp.body)
    except ValueError as exc:
        raise PageFetchError(resp.url, page, resp.status, resp.attempts, str(exc)) from None
    return page, resp, records


def _fetch(pool: ThreadPoolExecutor, client: BreweryClient, pages: Iterable[int], land) -> dict:
    """Fetch `pages` concurrently, landing each as it completes; the first failure stops all."""
    pending: set[Future] = {pool.submit(_fetch_one, client, p) for p in pages}
    sizes: dict[int, int] = {}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            # Land the successes before raising, so a failed run keeps everything it received.
            failed = [f for f in done if f.exception() is not None]
            for fut in sorted(done, key=lambda f: f.exception() is not None):
                if fut.exception() is None:
                    page, resp, records = fut.result()
                    land(page, resp, records)
                    sizes[page] = len(records)
            if failed:
                raise min(failed, key=lambda f: getattr(f.exception(), "page", 0)).exception()
    finally:
        for fut in pending:
            fut.cancel()
    return sizes
