"""Structured logging: `event name` + key=value fields, as text (logfmt) or JSON lines.

    log = get_logger(__name__)
    log.info("bronze.page", page=3, records=200)

Values whose field names look secret are masked, and known secret values are scrubbed from every
line, so a stray exception message cannot leak credentials.

Spark's own output (the JVM's start-up lines, log4j) is not brewlake's to show: once a command
calls `quiet_spark()`, the JVM a session starts writes to a run log in `log_dir` instead of the
terminal, and `report_run_log(code)` names that file on stderr only when the command failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SECRET_WORDS = ("secret", "password", "token", "access_key")
_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _secret_values() -> list[str]:
    names = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
    return [v for v in (os.environ.get(n, "") for n in names) if len(v) >= 4]


def scrub(text: str) -> str:
    for value in _secret_values():
        text = text.replace(value, "***")
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out = {}
    for key, value in vars(record).items():
        if key in _STD_ATTRS or key.startswith("_"):
            continue
        out[key] = "***" if any(w in key.lower() for w in _SECRET_WORDS) else value
    return out


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%S")
        parts = [ts, record.levelname.lower(), record.getMessage()]
        for key, value in _fields(record).items():
            text = str(value)
            parts.append(f"{key}={json.dumps(text) if (' ' in text or not text) else text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(payload, default=str, ensure_ascii=False))


class StructLogger(logging.LoggerAdapter):
    """`log.info("event", key=value, ...)`: keyword arguments become structured fields."""

    def process(self, msg, kwargs):
        std = {k: kwargs.pop(k) for k in ("exc_info", "stack_info", "stacklevel") if k in kwargs}
        extra = dict(kwargs.pop("extra", {}) or {})
        extra.update(kwargs)
        return msg, {**std, "extra": extra}


def get_logger(name: str) -> StructLogger:
    return StructLogger(logging.getLogger(name), {})


def configure(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """Install brewlake's formatter on the `brewlake`-family loggers (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name("brewlake")
    for name in ("brewlake", "bronze", "silver", "gold", "dags", "benchmarks"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "brewlake"] + [handler]
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
