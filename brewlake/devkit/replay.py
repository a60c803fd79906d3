"""A local replay of the Open Brewery DB API: the real routes and rules, plus injectable faults.

Routes: `GET /v1/breweries?page&per_page&sort` (per_page default 50, max 200 → 422, a page past
the end → `[]`) and `GET /v1/breweries/meta` (total, page, per_page, by_state, by_country,
by_type). Faults: fixed latency, a share of 5xx answers, a rate limit answered with 429 and
`Retry-After`, a page whose body is not JSON, a page that always fails, a share of answers whose
connection drops mid-body.

    with serve_in_thread(records, error_rate=0.2) as api:
        ingest(api.url)
        api.stats.max_in_flight

`brewlake serve-api --data FILE --port N` runs the same server in the foreground.
"""

from __future__ import annotations

import json
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import typer

from brewlake import command
from brewlake.processes import Interrupted, interrupt_on_signals

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
SORTABLE = ("id", "name", "brewery_type", "city", "state_province", "postal_code", "country")
MALFORMED_BODY = b"<html><body>502 Bad Gateway: upstream sent a truncated response</body></html>"


@dataclass
class ServerStats:
    """What the server saw; read it after (or during) a run."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    rate_limited: int = 0  # 429s sent
    server_errors: int = 0  # 5xx sent
    malformed: int = 0
    truncated: int = 0  # 200 answers cut off mid-body
    by_status: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "max_in_flight": self.max_in_flight,
                "rate_limited": self.rate_limited,
                "server_errors": self.server_errors,
                "malformed": self.malformed,
                "truncated": self.truncated,
                "by_status": dict(self.by_status),
            }


class _FixedWindow:
    """The API's throttle (Laravel's): `limit` requests per window, counted from the window's
    first request; past the limit, 429 until the window ends."""

    def __init__(self, limit: int, window_s: float = 60.0):
        self.limit = limit
        self.window_s = window_s
        self.opened = 0.0
        self.count = 0
        self.lock = threading.Lock()

    def take(self) -> float:
        """0.0 when a request may pass, else seconds until the window resets."""
        with self.lock:
            now = time.monotonic()
            if self.count == 0 or now - self.opened >= self.window_s:
                self.opened, self.count = now, 0
            if self.count < self.limit:
                self.count += 1
                return 0.0
            return self.opened + self.window_s - now


class ReplayAPI:
    """The dataset and fault settings behind one server; thread-safe."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        rate_limit_per_minute: int | None = None,
        rate_limit_window_s: float = 60.0,
        malformed_page: int | None = None,
        failing_page: int | None = None,
        truncate_rate: float = 0.0,
        seed: int = 0,
    ):
        self.latency_ms = latency_ms
        self.error_rate = error_rate
        self.malformed_page = malformed_page
        self.truncate_rate = truncate_rate
        self.failing_page = failing_page
        self.throttle = (
            _FixedWindow(rate_limit_per_minute, rate_limit_window_s)
            if rate_limit_per_minute
            else None
        )
        self.stats = ServerStats()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._data_lock = threading.RLock()
        self._hooks: dict[int, list[Callable[[], None]]] = {}
        self._records: list[dict[str, Any]] = []
        self._sorted: dict[str, list[dict[str, Any]]] = {}
        self.set_records(records)

    # ---- the dataset
    @property
    def records(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return list(self._records)

    def set_records(self, records: list[dict[str, Any]]) -> None:
        with self._data_lock:
            self._records = list(records)
            self._sorted = {}

    def append(self, records: list[dict[str, Any]]) -> None:
        with self._data_lock:
            self._records = self._records + list(records)
            self._sorted = {}

    def on_page(self, page: int, callback: Callable[[], None]) -> None:
        """Run `callback` once, just before page `page` is first answered (e.g. grow the data)."""
        self._hooks.setdefault(page, []).append(callback)

    def _ordered(self, sort: str) -> list[dict[str, Any]]:
        with self._data_lock:
            if sort not in self._sorted:
                rows = list(self._records)
                # Apply keys right to left so the first key wins (stable sort).
                for key, desc in reversed(_parse_sort(sort)):
                    rows.sort(
                        key=lambda r, k=key: (r.get(k) is None, str(r.get(k) or "")), reverse=desc
                    )
                self._sorted[sort] = rows
            return self._sorted[sort]

    def render_page(self, page: int, per_page: int = DEFAULT_PER_PAGE, sort: str = "") -> bytes:
        """The exact body the server sends for a list page."""
        rows = self._ordered(sort)
        start = (page - 1) * per_page
        return _dumps(rows[start : start + per_page])

    def meta(self, page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> dict[str, Any]:
        with self._data_lock:
            rows = self._records
            return {
                "total": len(rows),
                "page": page,
                "per_page": per_page,
                "by_state": dict(Counter(_key(r.get("state_province")) for r in rows)),
                "by_country": dict(Counter(_key(r.get("country")) for r in rows)),
                "by_type": dict(Counter(_key(r.get("brewery_type")) for r in rows)),
            }

    # ---- faults
    def _roll(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _error_status(self) -> int:
        with self._rng_lock:
            return self._rng.choice((500, 502, 503, 504))


def _key(value: Any) -> str:
    return "" if value is None else str(value)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _BadRequest(Exception):
    def __init__(self, message: str, field_name: str):
        super().__init__(message)
        self.field_name = field_name


def _parse_sort(sort: str) -> list[tuple[str, bool]]:
    keys = []
    for part in filter(None, (p.strip() for p in sort.split(","))):
        name, _, direction = part.partition(":")
        if name not in SORTABLE or direction not in ("", "asc", "desc"):
            raise _BadRequest(f"The sort field {part!r} is invalid.", "sort")
        keys.append((name, direction == "desc"))
    return keys


def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"The {name} field must be an integer.", name) from None
    if value < 1:
        raise _BadRequest(f"The {name} field must be at least 1.", name)
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this Nagle + delayed ACK add ~40 ms each.
    disable_nagle_algorithm = True
    server_version = "brewlake-replay/1"
    api: ReplayAPI  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stats instead
        pass

    def do_GET(self) -> None:
        stats = self.api.stats
        with stats.lock:
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        self._cut = False
        try:
            status, body, headers = self._answer()
            with stats.lock:
                stats.by_status[status] += 1
            self._send(status, body, headers)
        finally:
            with stats.lock:
                stats.in_flight -= 1

    def _answer(self) -> tuple[int, bytes, dict[str, str]]:
        api = self.api
        if api.latency_ms:
            time.sleep(api.latency_ms / 1000.0)
        if api.throttle is not None:
            wait = api.throttle.take()
            if wait > 0:
                with api.stats.lock:
                    api.stats.rate_limited += 1
                retry_after = str(max(1, math.ceil(wait)))
                body = _dumps({"message": "Too Many Attempts."})
                return 429, body, {"Retry-After": retry_after}
        if api.error_rate and api._roll() < api.error_rate:
            with api.stats.lock:
                api.stats.server_errors += 1
            return api._error_status(), _dumps({"message": "Server Error"}), {}
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path.rstrip("/")
        try:
            if path == "/v1/breweries/meta":
                page = _int_param(query, "page", 1)
                per_page = _int_param(query, "per_page", DEFAULT_PER_PAGE)
                return 200, _dumps(api.meta(page, per_page)), {}
            if path == "/v1/breweries":
                return self._list(query)
        except _BadRequest as exc:
            body = _dumps({"message": str(exc), "errors": {exc.field_name: [str(exc)]}})
            return 422, body, {}
        return 404, _dumps({"message": f"Not Found: {parts.path}"}), {}

    def _list(self, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        api = self.api
        page = _int_param(query, "page", 1)
        per_page = _int_param(query, "per_page", DEFAULT_PER_PAGE)
        if per_page > MAX_PER_PAGE:
            raise _BadRequest(
                f"The per page field must not be greater than {MAX_PER_PAGE}.", "per_page"
            )
        sort = query.get("sort", [""])[-1]
        _parse_sort(sort)
        if page == api.failing_page:
            with api.stats.lock:
                api.stats.server_errors += 1
            return 500, _dumps({"message": "Server Error"}), {}
        hooks = api._hooks.pop(page, [])
        for hook in hooks:
            hook()
        if page == api.malformed_page:
            with api.stats.lock:
                api.stats.malformed += 1
            return 200, MALFORMED_BODY, {}
        body = api.render_page(page, per_page, sort)
        if api.truncate_rate and api._roll() < api.truncate_rate:
            self._cut = True
            with api.stats.lock:
                api.stats.truncated += 1
        return 200, body, {}

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self._cut:
            # The connection drops mid-body, as a proxy or CDN reset does: the client sees fewer
            # bytes than Content-Length announced.
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients reconnect after a 429; a deep backlog avoids refused connections.
    request_queue_size = 128


@dataclass
class RunningServer:
    """A started replay server: its base URL, what it saw, and its dataset."""

    api: ReplayAPI
    url: str

    @property
    def stats(self) -> ServerStats:
        return self.api.stats

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.api.records

    def set_records(self, records: list[dict[str, Any]]) -> None:
        self.api.set_records(records)

    def append(self, records: list[dict[str, Any]]) -> None:
        self.api.append(records)

    def on_page(self, page: int, callback: Callable[[], None]) -> None:
        self.api.on_page(page, callback)

    def render_page(self, page: int, per_page: int = DEFAULT_PER_PAGE, sort: str = "") -> bytes:
        return self.api.render_page(page, per_page, sort)


def make_server(api: ReplayAPI, host: str = "127.0.0.1", port: int = 0) -> _Server:
    handler = type("ReplayHandler", (_Handler,), {"api": api})
    return _Server((host, port), handler)


@contextmanager
def serve_in_thread(
    records: list[dict[str, Any]], *, host: str = "127.0.0.1", port: int = 0, **faults: Any
) -> Iterator[RunningServer]:
    """Serve `records` on 127.0.0.1 (a free port unless given) until the block exits.

    `faults` are `ReplayAPI`'s: `rate_limit_per_minute` requests are allowed per
    `rate_limit_window_s` (60 s: a minute; tests shrink the window to stay fast); beyond that the
    answer is 429 with `Retry-After`.
    """
    api = ReplayAPI(records, **faults)
    server = make_server(api, host, port)
    bound = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name=f"replay-{bound}", daemon=True)
    thread.start()
    try:
        yield RunningServer(api=api, url=f"http://{host}:{bound}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def load_records(path: str | Path) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_bytes())
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise SystemExit(f"brewlake serve-api: {path}: expected a JSON array of objects")
    return data


app = command.app()


@app.command(
    "serve-api", help="serve a dataset with the Open Brewery DB API's routes, rules and faults"
)
def serve_api_command(
    data: Annotated[
        str, typer.Option(help="JSON array of breweries (brewlake generate)", show_default=False)
    ],
    port: Annotated[int, typer.Option(help="port on --host (0 = any free)")] = 8080,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option(help="delay every answer")] = 0,
    error_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of 5xx answers, 0..1")
    ] = 0.0,
    rate_limit: Annotated[int | None, typer.Option(help="requests/minute, then 429")] = None,
    rate_limit_window_s: Annotated[float, typer.Option(help="window of --rate-limit")] = 60.0,
    malformed_page: Annotated[int | None, typer.Option(help="page N answers non-JSON")] = None,
    failing_page: Annotated[int | None, typer.Option(help="page N always answers 500")] = None,
    truncate_rate: Annotated[
        float, typer.Option(help="share of pages cut off mid-body, 0..1")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="seed for the fault dice")] = 0,
) -> None:
    api = ReplayAPI(
        load_records(data),
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit_per_minute=rate_limit,
        rate_limit_window_s=rate_limit_window_s,
        malformed_page=malformed_page,
        failing_page=failing_page,
        truncate_rate=truncate_rate,
        seed=seed,
    )
    server = make_server(api, host, port)
    host, port = server.server_address[:2]
    print(
        f"serving {len(api.records)} breweries on http://{host}:{port} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    # SIGTERM (docker stop, kill) and SIGINT, even one a shell's background job inherits ignored,
    # stop it the same way: the socket closes, what was served is printed, and the exit status is
    # 0, a server stopped as asked.
    try:
        with interrupt_on_signals():
            server.serve_forever()
    except Interrupted:
        pass
    finally:
        server.server_close()
        print(f"stopped; {api.stats.snapshot()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake serve-api")


if __name__ == "__main__":
    sys.exit(main())
