"""Exceptions a user can act on, and `guarded`, which turns one into a line on stderr and a code."""

from __future__ import annotations

import sys
from collections.abc import Callable

from brewlake.log import scrub


class BrewlakeError(Exception):
    """Base class: the message says what went wrong, where, and how to fix it."""

    exit_code = 1


class ConfigError(BrewlakeError):
    """A setting is missing or malformed; the message names the variable."""

    exit_code = 2


class SetupError(BrewlakeError):
    """The installation is incomplete (jars, packages); the message names the set-up command."""

    exit_code = 3


class SourceError(BrewlakeError):
    """The source API failed or answered something that cannot be ingested."""


class QualityBreach(BrewlakeError):
    """A quality gate failed; nothing from the offending input was committed."""

    def __init__(self, message: str, checks: list | None = None):
        super().__init__(message)
        self.checks = list(checks or [])


def _message(error: BaseException | str) -> str:
    """`str(error)`, or '' when the error cannot describe itself: Py4J fetches a Java exception's
    message from its JVM, which may have exited (an OutOfMemoryError in a local driver's task)."""
    try:
        return str(error)
    except Exception:
        return ""


def first_line(error: BaseException | str, limit: int = 500) -> str:
    """An error's first non-empty line, scrubbed and at most `limit` characters: what a log field,
    an alert or the CLI shows of it (never a traceback). An exception without a message (or one
    that cannot produce it) gives its class name; text without a line gives ''."""
    line = next((ln.strip() for ln in _message(error).splitlines() if ln.strip()), "")
    if not line and isinstance(error, BaseException):
        line = type(error).__name__
    return scrub(line)[:limit]


def unexpected_line(error: BaseException) -> str:
    """The one line an unexpected error becomes, with the fix where brewlake knows it: a Spark
    OutOfMemoryError, or a Py4J error that cannot even describe itself because the JVM behind it
    has exited (what an OutOfMemoryError in a task does to a local driver)."""
    text = _message(error)
    if "OutOfMemoryError" in text or (not text and type(error).__module__.startswith("py4j")):
        return (
            "the Spark JVM ran out of memory or exited mid-run; nothing half-written is visible "
            "(Delta commits are atomic). Raise BREWLAKE_SPARK_DRIVER_MEMORY (executor memory on "
            "a cluster) and rerun; Spark's log is in BREWLAKE_LOG_DIR"
        )
    return f"{type(error).__name__}: {first_line(text)}"


def guarded(fn: Callable[[], int], *, verbose: bool) -> int:
    """Run `fn`; turn errors into one line on stderr and an exit code (traceback if verbose)."""
    try:
        return fn()
    except BrewlakeError as exc:
        if verbose:
            raise
        print(f"brewlake: error: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("brewlake: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            raise
        print(
            f"brewlake: error: {unexpected_line(exc)} (rerun with --verbose for details)",
            file=sys.stderr,
        )
        return 1
