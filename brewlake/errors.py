"""Exceptions a user can act on. The CLI prints their message as one line and exits non-zero."""


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
