"""An error's one line: what logs, alerts and the CLI show of it, and `guarded`'s exit."""

from __future__ import annotations

from brewlake.errors import ConfigError, first_line, guarded


def test_first_line_is_the_first_non_empty_line_scrubbed_and_bounded():
    assert first_line(ValueError("\n  boom at https://user:hunter2@host/x  \nTraceback…")) == (
        first_line("boom at https://user:hunter2@host/x")
    )
    assert "hunter2" not in first_line(ValueError("boom at https://user:hunter2@host/x"))
    assert first_line(RuntimeError("x" * 900)) == "x" * 500
    assert first_line("Ärger\nmore", 3) == "Ärg"


def test_an_exception_without_a_message_gives_its_class_and_text_nothing():
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(str(TimeoutError())) == ""
    assert first_line(" \n ") == ""


def test_guarded_prints_one_line_and_the_errors_exit_code(capsys):
    def bad_setting() -> int:
        raise ConfigError("BREWLAKE_X='y': not a number")

    def crash() -> int:
        raise RuntimeError("\nboom\n  at line 2")

    assert guarded(bad_setting, verbose=False) == 2
    assert capsys.readouterr().err == "brewlake: error: BREWLAKE_X='y': not a number\n"
    assert guarded(crash, verbose=False) == 1
    assert capsys.readouterr().err == (
        "brewlake: error: RuntimeError: boom (rerun with --verbose for details)\n"
    )
