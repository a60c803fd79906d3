"""HTTP client for the Open Brewery DB: one pooled session, retries, timeouts, a rate limiter.

Retries are urllib3's `Retry` (exponential backoff with jitter; 429 waits for `Retry-After`;
5xx, connection errors and read timeouts retried), plus tenacity for a body cut off mid-stream,
which surfaces after urllib3 has handed the response over; no request loop is written by hand. A
client-side sliding-window limiter counts every attempt, retries included, to stay under the API's
per-minute limit.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter
from urllib3.util.retry import Retry

from brewlake import __version__
from brewlake.config import Settings
from brewlake.errors import SourceError, first_line

LIST_PATH = "/v1/breweries"
META_PATH = "/v1/breweries/meta"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_MAX_S = 300
# Failures while reading a body that had started to arrive (connection reset, short read).
BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class PageFetchError(SourceError):
    """A request still failed after every retry, or its body cannot be ingested."""

    def __init__(self, url: str, page: int | None, status: int | None, attempts: int, why: str):
        where = f"page {page}" if page is not None else "meta"
        status_text = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{where}: GET {url} -> {status_text} after {attempts} attempt(s): {why}")
        self.url = url
        self.page = page
        self.status = status
        self.attempts = attempts
        self.why = why


class RateLimiter:
    """At most `limit` request starts in any `window_s` seconds, shared by all threads.

    A sliding window, strict at every instant: it never exceeds the API's per-minute count
    whether the API counts in fixed or sliding windows, yet lets a daily run of ~60 pages go at
    full concurrency instead of trickling at one request every 0.5 s.
    """

    def __init__(self, limit: int, window_s: float = 60.0):
        if limit < 1:
            raise ValueError("rate limit must be at least 1 request per window")
        self.limit = limit
        self.window_s = window_s
        self.starts: deque[float] = deque()
        self.lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                while self.starts and now - self.starts[0] >= self.window_s:
                    self.starts.popleft()
                if len(self.starts) < self.limit:
                    self.starts.append(now)
                    return
                wait = self.starts[0] + self.window_s - now
                self.waited_s += wait
            time.sleep(wait)


@dataclass(frozen=True)
class Response:
    """One answered request: the body exactly as received and how it was obtained."""

    url: str
    status: int
    body: bytes
    attempts: int
    seconds: float


def build_retry(
    settings: Settings,
    limiter: RateLimiter | None,
    on_retry: Callable[[], None] | None = None,
) -> Retry:
    # urllib3 rebuilds Retry objects with `type(self)(...)` on every attempt, so the limiter and
    # the retry counter ride on class attributes of a throwaway subclass, not __init__ arguments.
    class LimitedRetry(Retry):
        rate_limiter = limiter
        retry_hook = staticmethod(on_retry) if on_retry else None

        def increment(self, *args: Any, **kwargs: Any) -> Retry:
            new = super().increment(*args, **kwargs)  # raises when the budget is spent
            if self.retry_hook is not None:
                self.retry_hook()
            return new

        def sleep(self, response=None):  # called before every retry, never the first attempt
            super().sleep(response)
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()

    options: dict[str, Any] = {}
    if "retry_after_max" in inspect.signature(Retry.__init__).parameters:  # urllib3 >= 2.5
        # A server asking for an hour's pause gets at most 5 minutes per retry, not a hung run.
        options["retry_after_max"] = RETRY_AFTER_MAX_S
    return LimitedRetry(
        **options,
        total=settings.api_max_retries,
        connect=None,
        read=None,
        status=None,
        backoff_factor=settings.api_backoff_factor_s,
        backoff_jitter=settings.api_backoff_factor_s,
        backoff_max=30.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


class BreweryClient:
    """GET pages and meta from `settings.api_url` with bounded, polite concurrency."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int | None = None,
        limiter: RateLimiter | None = None,
    ):
        self.settings = settings
        self.base_url = settings.api_url.rstrip("/")
        self.concurrency = concurrency or settings.api_concurrency
        self.per_page = settings.api_page_size
        rate = settings.api_rate_limit_per_minute
        if limiter is None and rate and rate > 0:
            limiter = RateLimiter(rate, 60.0)
        self.limiter = limiter
        self.timeout = (settings.api_connect_timeout_s, settings.api_read_timeout_s)
        # urllib3 retries on the calling thread: a thread-local tally gives each GET its count.
        self._local = threading.local()
        self.session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=1,
            pool_maxsize=self.concurrency,
            pool_block=True,
            max_retries=build_retry(settings, self.limiter, self._on_retry),
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {"User-Agent": f"brewlake/{__version__}", "Accept": "application/json"}
        )
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> BreweryClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def page_url(self, page: int) -> str:
        return f"{self.base_url}{LIST_PATH}?page={page}&per_page={self.per_page}&sort=id:asc"

    def meta_url(self) -> str:
        return f"{self.base_url}{META_PATH}"

    def get(self, url: str, page: int | None = None) -> Response:
        """One GET with retries; PageFetchError unless the final answer is 200."""
        max_attempts = self.settings.api_max_retries + 1
        backoff = self.settings.api_backoff_factor_s
        # urllib3 retries everything up to the response headers; a connection that drops while
        # the body streams in surfaces later, from requests, so tenacity retries that part.
        body_retry = Retrying(
            retry=retry_if_exception_type(BODY_ERRORS),
            stop=stop_after_attempt(max_attempts),
            wait=wait_exponential_jitter(initial=backoff, max=30.0, jitter=backoff),
            reraise=True,
        )
        self._local.retries = 0
        calls = 0
        t0 = time.monotonic()
        try:
            for attempt in body_retry:
                with attempt:
                    if self.limiter is not None:
                        self.limiter.acquire()
                    calls += 1
                    resp = self.session.get(url, timeout=self.timeout)
        except BODY_ERRORS as exc:
            attempts = self._count(calls)
            why = f"body cut short: {type(exc).__name__}: {first_line(str(exc), 300)}"
            raise PageFetchError(url, page, None, attempts, why) from exc
        except requests.RequestException as exc:
            attempts = self._count(calls)
            why = f"{type(exc).__name__}: {first_line(str(exc), 300)}"
            raise PageFetchError(url, page, None, attempts, why) from exc
        attempts = self._count(calls)
        body = resp.content
        if resp.status_code != 200:
            raise PageFetchError(url, page, resp.status_code, attempts, _snippet(body))
        return Response(url, resp.status_code, body, attempts, time.monotonic() - t0)

    def _on_retry(self) -> None:
        self._local.retries = getattr(self._local, "retries", 0) + 1

    def _count(self, calls: int) -> int:
        """Attempts of the GET just made: requests' calls plus urllib3's retries inside them."""
        attempts = calls + self._local.retries
        with self._lock:
            self.requests += attempts
            self.retries += max(0, attempts - 1)
        return attempts

    def page(self, page: int) -> Response:
        return self.get(self.page_url(page), page)

    def meta(self) -> tuple[dict[str, Any], Response]:
        from bronze.verify import parse_meta

        resp = self.get(self.meta_url())
        try:
            return parse_meta(resp.body), resp
        except ValueError as exc:
            raise PageFetchError(resp.url, None, resp.status, resp.attempts, str(exc)) from None


def _snippet(body: bytes) -> str:
    text = body[:160].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"body {text!r}" if text else "empty body"
