"""Structured logging on structlog: an event name and key=value fields, as logfmt or JSON lines.

    log = get_logger(__name__)
    log.info("bronze.page", page=3, records=200)

A brewlake logger hands each event to stdlib `logging` (the name as the message, the fields as
the record's extras, so `caplog` and Airflow see them); `configure()` renders every record,
brewlake's and other libraries' (py4j, urllib3, botocore), through one structlog chain. On the
way, fields whose names look secret are masked and `scrub` runs on every value, so a stray
exception message cannot leak credentials.

Spark's own output (the JVM's start-up lines, log4j) is not brewlake's to show: once a command
calls `quiet_spark()`, the JVM a session starts writes to a run log in `log_dir` instead of the
terminal, and `report_run_log(code)` names that file on stderr only when the command failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

_SECRET_WORDS = ("secret", "password", "token", "access_key")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
_SECRET_PATTERNS = (
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "***"),  # an AWS access key id, anyone's
    (re.compile(r"(://[^\s/:@]*:)[^\s/@]+@"), r"\1***@"),  # the password in scheme://user:pw@host
)
FAMILY = ("brewlake", "bronze", "silver", "gold", "dags", "benchmarks")
_HANDLER = "brewlake"


def scrub(text: str) -> str:
    """`text` with the environment's AWS credentials, access key ids and URL passwords masked."""
    for value in (os.environ.get(name, "") for name in _SECRET_ENV):
        if len(value) >= 4:
            text = text.replace(value, "***")
    for pattern, masked in _SECRET_PATTERNS:
        text = pattern.sub(masked, text)
    return text


def _scrubbed(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrubbed(v) for v in value]
    return scrub(str(value))


def scrub_secrets(_: Any, __: str, event: EventDict) -> EventDict:
    """Processor: mask fields named like secrets, scrub every other value (message included)."""
    return {
        key: "***" if any(w in key.lower() for w in _SECRET_WORDS) else _scrubbed(value)
        for key, value in event.items()
    }


def _line_fields(*head: str) -> Processor:
    """Processor: the line's fields, `head` first, the event's own next, the traceback (`exc`) last.

    Drops structlog's `_record` meta and what a formatter that ran earlier left on the record.
    """

    def fields(_: Any, __: str, event: EventDict) -> EventDict:
        exc = event.pop("exception", None)
        line = {key: event.pop(key) for key in head if key in event}
        for key, value in event.items():
            if not key.startswith("_") and key not in ("logger", "message", "asctime"):
                line[key] = value
        return {**line, "exc": exc} if exc else line

    return fields


def _formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    if fmt == "json":
        stamp, head = "iso", ("ts", "level", "logger", "event")
        renderer: Processor = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        stamp, head = "%H:%M:%S", ("ts", "level", "event")
        renderer = structlog.processors.LogfmtRenderer(bool_as_flag=False)
    return structlog.stdlib.ProcessorFormatter(
        # To the formatter every record is foreign: brewlake's loggers hand theirs to `logging`.
        foreign_pre_chain=[
            structlog.stdlib.ExtraAdder(),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt=stamp, utc=True, key="ts"),
            structlog.processors.format_exc_info,
        ],
        processors=[_line_fields(*head), scrub_secrets, renderer],
    )


# No structlog.configure(): the process may be Airflow's, whose structlog setup is not ours.
_CHAIN: list[Processor] = [
    structlog.stdlib.filter_by_level,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.stdlib.render_to_log_kwargs,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """`log.info("event", key=value, ...)`: keyword arguments become structured fields."""
    return structlog.stdlib.BoundLogger(logging.getLogger(name), _CHAIN, {})


def configure(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """Render brewlake's loggers (at `level`) and other libraries' (as logging's defaults let
    through) as `fmt` lines on `stream` (stderr); idempotent.

    Other libraries' records reach the root logger: brewlake's handler goes there only when
    nobody else (Lambda's runtime, pytest) handles them already, as `logging.basicConfig` would.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(fmt))
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    theirs = [h for h in root.handlers if h.get_name() != _HANDLER]
    root.handlers = theirs or [handler]
    for name in FAMILY:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if h.get_name() != _HANDLER] + [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Spark's py4j chatter is noise at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)


# ---- Spark's output: the terminal (library use, tests, spark-submit) or a run log (the CLI).
RUN_LOGS_KEPT = 10  # per command (app name); older run logs of that command are deleted
_spark_output: dict[str, Any] = {"quiet": False, "run_log": None}


def quiet_spark(enabled: bool = True) -> None:
    """From now on, a JVM this process starts writes to a run log, not the terminal."""
    _spark_output["quiet"] = enabled


def is_spark_quiet() -> bool:
    return bool(_spark_output["quiet"])


def new_run_log(log_dir: str, name: str) -> Path:
    """A fresh run log path `<log_dir>/<name>-<UTC time>-<pid>.log`; older ones of `name` beyond
    the newest RUN_LOGS_KEPT are deleted.

    A folder brewlake creates gets a `*` .gitignore (as pytest and ruff do for their caches), so
    the default `./logs` never shows up in `git status`.
    """
    folder = Path(log_dir).expanduser()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".gitignore").write_text("# created by brewlake\n*\n", encoding="utf-8")
    older = sorted(folder.glob(f"{name}-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in older[RUN_LOGS_KEPT - 1 :]:
        stale.unlink(missing_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return folder / f"{name}-{stamp}-{os.getpid()}.log"


def run_log(log_dir: str, name: str) -> Path:
    """This process's run log: chosen on the first call, the same file after."""
    if _spark_output["run_log"] is None:
        _spark_output["run_log"] = new_run_log(log_dir, name)
    return _spark_output["run_log"]


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at `path` while the block runs.

    A child process started inside (Spark's JVM) inherits them and keeps writing to `path` for
    its whole life; this process gets its own stdout and stderr back when the block ends.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


def report_run_log(code: int) -> int:
    """Pass a command's exit code through; when it failed, name the run log on stderr."""
    path = _spark_output["run_log"]
    if code and path is not None and path.is_file():
        print(f"brewlake: Spark's output for this run: {path}", file=sys.stderr)
    return code
