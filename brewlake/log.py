"""Structured logging: `event name` + key=value fields, as text (logfmt) or JSON lines.

    log = get_logger(__name__)
    log.info("bronze.page", page=3, records=200)

Values whose field names look secret are masked, and known secret values are scrubbed from every
line, so a stray exception message cannot leak credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
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
