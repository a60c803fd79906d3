"""brewlake.log: logfmt and JSON lines from one structlog chain, secrets scrubbed on the way."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys

import pytest

from brewlake import log as logmod

SECRET = "wJalrXUtnFEMI-example-secret"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def out(monkeypatch):
    """A stream brewlake's loggers render to; the loggers are put back as they were afterwards."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    names = ("", "py4j", *logmod.FAMILY)
    saved = {
        n: (list(h.handlers), h.level, h.propagate) for n in names if (h := logging.getLogger(n))
    }
    stream = io.StringIO()
    yield stream
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def test_text_is_logfmt_with_time_level_and_event_first(out):
    logmod.configure("INFO", "text", stream=out)
    logmod.get_logger("bronze.ingest").info(
        "bronze.page", page=3, path="/tmp/a b", is_last=False, missing=None
    )
    (line,) = out.getvalue().splitlines()
    assert re.fullmatch(
        r'ts=\d\d:\d\d:\d\d level=info event=bronze.page page=3 path="/tmp/a b" '
        r"is_last=false missing=",
        line,
    ), line


def test_json_is_one_object_a_line_with_the_fields_as_values(out):
    logmod.configure("INFO", "json", stream=out)
    log = logmod.get_logger("silver.merge")
    log.info("silver.merged", rows=7, table_versions={"silver.breweries": 4}, city="Zürich")
    log.warning("silver.slow", seconds=1.5)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", first.pop("ts"))
    assert first == {
        "level": "info",
        "logger": "silver.merge",
        "event": "silver.merged",
        "rows": 7,
        "table_versions": {"silver.breweries": 4},
        "city": "Zürich",
    }
    assert list(second)[:4] == ["ts", "level", "logger", "event"] and second["seconds"] == 1.5
    assert "Zürich" in out.getvalue()  # not \u-escaped


def test_the_level_filters_and_configure_is_idempotent(out):
    logmod.configure("INFO", "text", stream=out)
    logmod.configure("WARNING", "text", stream=out)
    log = logmod.get_logger("brewlake.demo")
    log.info("demo.step")
    log.debug("demo.detail")
    log.warning("demo.slow")
    log.error("demo.failed")
    events = [re.search(r"event=(\S+)", line)[1] for line in out.getvalue().splitlines()]
    assert events == ["demo.slow", "demo.failed"]

    logmod.configure("DEBUG", "text", stream=out)
    log.debug("demo.detail")
    assert out.getvalue().splitlines()[-1].endswith("level=debug event=demo.detail")
    assert len(out.getvalue().splitlines()) == 3


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_scrubbed_from_every_value(out, fmt):
    logmod.configure("INFO", fmt, stream=out)
    log = logmod.get_logger("brewlake.events")
    log.info(
        f"events.sent with {SECRET}",
        error=f"denied for {KEY_ID}: bad signature",
        endpoint="http://minio:pa55word@127.0.0.1:9000/bucket",
        nested={"errors": [f"key {SECRET} expired"]},
        aws_session_token="not-from-the-env",
        cause=RuntimeError(f"boom {SECRET}"),
    )
    try:
        raise ValueError(f"connect to s3 with {SECRET}")
    except ValueError:
        log.error("events.failed", exc_info=True)
    text = out.getvalue()
    for leak in (SECRET, KEY_ID, "pa55word", "not-from-the-env"):
        assert leak not in text
    assert "http://minio:***@127.0.0.1:9000/bucket" in text
    assert "denied for ***: bad signature" in text
    if fmt == "json":
        sent, failed = (json.loads(line) for line in text.splitlines())
        assert sent["event"] == "events.sent with ***"
        assert sent["nested"] == {"errors": ["key *** expired"]}
        assert sent["aws_session_token"] == "***" and sent["cause"] == "boom ***"
        assert failed["exc"].startswith("Traceback") and failed["exc"].endswith(
            "ValueError: connect to s3 with ***"
        )
    else:
        assert len(text.splitlines()) == 2  # the traceback stays on its event's line
        assert 'exc="Traceback' in text and "ValueError: connect to s3 with ***" in text


def test_scrub_keeps_text_without_secrets(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    assert (
        logmod.scrub("user minio on https://host/path?a=b") == "user *** on https://host/path?a=b"
    )
    assert logmod.scrub("s3a://bucket@x and mailto:me@x") == "s3a://bucket@x and mailto:me@x"


def test_records_keep_the_event_as_message_and_fields_as_attributes(caplog):
    log = logmod.get_logger("brewlake.alerts")
    with caplog.at_level(logging.INFO, logger="brewlake.alerts"):
        log.info("alert.sink_failed", sink="webhook", run_id=None)
        log.debug("alert.detail")
    (record,) = caplog.records
    assert record.getMessage() == "alert.sink_failed" and record.levelno == logging.INFO
    assert (record.sink, record.run_id, record.name) == ("webhook", None, "brewlake.alerts")


def test_other_libraries_lines_look_like_brewlakes():
    # A fresh interpreter: its root logger has no handler yet (pytest's has).
    code = (
        "import logging; from brewlake import log as logmod;"
        "logmod.configure('DEBUG', 'text');"
        "logmod.get_logger('bronze.ingest').info('bronze.page', page=1);"
        "logging.getLogger('py4j.clientserver').info('Closing down clientserver connection');"
        "logging.getLogger('urllib3.connectionpool').warning("
        "    'Retrying %s', 'https://u:hunter22@api/x', extra={'retries': 2});"
        "logging.getLogger('botocore').debug('not at the default level')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [re.sub(r"^ts=\S+ ", "", line) for line in proc.stderr.splitlines()]
    assert lines == [
        "level=info event=bronze.page page=1",
        'level=warning event="Retrying https://u:***@api/x" retries=2',
    ]
