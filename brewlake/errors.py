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
        first = scrub(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
        print(
            f"brewlake: error: {type(exc).__name__}: {first} (rerun with --verbose for details)",
            file=sys.stderr,
        )
        return 1
