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
    """A bar on a terminal (rich), a log line every ~10 % otherwise."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stderr
        self.is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.expected = 0
        self._last_logged = -1
        self._bar: Any = None

    def start(self, expected: int) -> None:
        self.expected = expected
        if self.is_tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("bronze"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("pages"),
                console=Console(file=self.stream, force_terminal=True),
                auto_refresh=False,
            )
            self._task = self._bar.add_task("pages", total=max(expected, 1))
            self._bar.start()
            self._bar.refresh()

    def advance(self, page: int, records: int) -> None:
        self.done += 1
        expected = max(self.expected, self.done, 1)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, total=expected, refresh=True)
            return
        decile = self.done * 10 // expected
        if decile != self._last_logged or self.done >= expected:
            self._last_logged = decile
            log.info("bronze.progress", pages=self.done, expected=expected, last_page=page)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@dataclass
class _IngestRun:
    """What the steps of one ingest share: the client, the batch being written, the counts."""

    settings: Settings
    client: BreweryClient
    writer: BatchWriter
    progress: Progress
    meta_start: dict[str, Any]
    t0: float  # time.monotonic() when the run began, for its duration
    started_at: dt.datetime
    tally: Tally = field(default_factory=Tally)

    @property
    def expected_pages(self) -> int:
        """The pages /meta's total implies at the start; at least one."""
        return max(1, math.ceil(self.meta_start["total"] / self.client.per_page))

    def land(self, page: int, resp: Response, records: list[dict[str, Any]]) -> None:
        """Store one page byte for byte, count its records and advance the progress."""
        self.writer.write_page(
            page,
            resp.body,
            len(records),
            url=resp.url,
            status=resp.status,
            attempts=resp.attempts,
            seconds=round(resp.seconds, 4),
        )
        self.tally.add(records)
        self.progress.advance(page, len(records))


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
    writer = BatchWriter(open_store(settings), Lake(settings), logical_date)
    progress = progress or Progress()
    with BreweryClient(settings, concurrency=concurrency) as client:
        meta_start, _ = client.meta()
        run = _IngestRun(settings, client, writer, progress, meta_start, t0, started_at)
        _announce(run)
        meta_end = _fetch_batch(run)
        _verify(run, meta_end)
        report = _commit(run, meta_end)
    _log_committed(report)
    return report


def _announce(run: _IngestRun) -> None:
    """Log the run's plan and start the progress at the expected page count."""
    log.info(
        "bronze.started",
        batch_id=run.writer.batch_id,
        api_total=run.meta_start["total"],
        expected_pages=run.expected_pages,
        concurrency=run.client.concurrency,
        batch=run.writer.location,
    )
    run.progress.start(run.expected_pages)


def _fetch_batch(run: _IngestRun) -> dict[str, Any]:
    """Land every page, then return /meta asked again; a failure says what was kept."""
    try:
        with ThreadPoolExecutor(run.client.concurrency, thread_name_prefix="bronze") as pool:
            _fetch_pages(run, pool)
        meta_end, _ = run.client.meta()
    except PageFetchError as exc:
        raise _with_kept_pages(exc, run.writer) from exc
    finally:
        run.progress.finish()
    return meta_end


def _fetch_pages(run: _IngestRun, pool: ThreadPoolExecutor) -> None:
    """Land the planned pages concurrently, then further pages one by one until one is short."""
    per_page = run.client.per_page
    sizes = _fetch(pool, run.client, range(1, run.expected_pages + 1), run.land)
    last = run.expected_pages
    # The total may have grown since /meta: keep going until a page is short. One page at a
    # time: growth mid-run is small, and a wave would spend rate-limited requests on pages that
    # are almost always empty.
    while sizes[last] == per_page:
        last += 1
        sizes.update(_fetch(pool, run.client, [last], run.land))


def _with_kept_pages(exc: PageFetchError, writer: BatchWriter) -> PageFetchError:
    """The same failure, its reason extended by the pages kept without a manifest."""
    return PageFetchError(
        exc.url,
        exc.page,
        exc.status,
        exc.attempts,
        f"{exc.why}; {len(writer.pages)} page(s) kept in {writer.location} without a manifest",
    )


def _verify(run: _IngestRun, meta_end: dict[str, Any]) -> None:
    """Raise VerificationError naming the first disagreement with /meta, if there is one."""
    problems = reconcile(run.tally, meta_end, run.settings.api_total_tolerance)
    if problems:
        raise VerificationError(
            f"bronze batch {run.writer.batch_id} not committed: {problems[0]}"
            + (f" (and {len(problems) - 1} more disagreement(s))" if len(problems) > 1 else "")
            + f"; {len(run.writer.pages)} page(s) kept in {run.writer.location}"
        )


def _commit(run: _IngestRun, meta_end: dict[str, Any]) -> IngestReport:
    """Write the manifest (last, so readers see the batch whole) and report the run."""
    seconds = time.monotonic() - run.t0
    manifest = run.writer.commit(
        source_url=run.client.base_url,
        api_meta=meta_end,
        duplicate_ids=tuple(run.tally.duplicate_ids),
        started_at=run.started_at.isoformat(),
        finished_at=dt.datetime.now(dt.UTC).isoformat(),
        seconds=round(seconds, 3),
        extra=_manifest_extra(run),
    )
    return _report(run, manifest, meta_end, seconds)


def _manifest_extra(run: _IngestRun) -> dict[str, Any]:
    """The manifest's `extra`: how the run paged, counted, and spent its requests."""
    client = run.client
    return {
        "per_page": client.per_page,
        "sort": "id:asc",
        "expected_pages": run.expected_pages,
        "api_total_at_start": run.meta_start["total"],
        "distinct_records": run.tally.unique,
        "records_without_id": run.tally.without_id,
        "requests": client.requests,
        "retries": client.retries,
        "concurrency": client.concurrency,
        "rate_limit_per_minute": run.settings.api_rate_limit_per_minute,
        "rate_limit_wait_s": round(client.limiter.waited_s, 3) if client.limiter else 0,
    }


def _report(
    run: _IngestRun, manifest: Manifest, meta_end: dict[str, Any], seconds: float
) -> IngestReport:
    """The IngestReport of a committed run."""
    return IngestReport(
        batch_id=run.writer.batch_id,
        batch_path=run.writer.location,
        manifest=manifest,
        records=run.tally.records,
        unique=run.tally.unique,
        duplicates=run.tally.duplicates,
        pages=len(run.writer.pages),
        expected_pages=run.expected_pages,
        requests=run.client.requests,
        retries=run.client.retries,
        seconds=seconds,
        meta=meta_end,
    )


def _log_committed(report: IngestReport) -> None:
    """Log the committed batch's id and counts."""
    log.info(
        "bronze.committed",
        batch_id=report.batch_id,
        records=report.records,
        distinct=report.unique,
        pages=report.pages,
        retries=report.retries,
    )


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
