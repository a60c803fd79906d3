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


class _GoneJvmError(Exception):
    """What py4j raises once its JVM has exited: its message must be fetched from the JVM."""

    __module__ = "py4j.protocol"

    def __str__(self) -> str:
        raise ConnectionRefusedError(111, "Connection refused")


def test_guarded_names_the_memory_setting_when_spark_ran_out_of_memory(capsys):
    def out_of_memory() -> int:
        raise RuntimeError(
            "An error occurred while calling o84.count.\n: org.apache.spark.SparkException: "
            "Job aborted: java.lang.OutOfMemoryError: Java heap space"
        )

    def jvm_gone() -> int:
        raise _GoneJvmError()

    # Wherever an error becomes a line (the pipeline's summary, ops rows, alerts), one whose
    # message is gone with its JVM gives its class name instead of raising.
    assert first_line(_GoneJvmError()) == "_GoneJvmError"
    for fn in (out_of_memory, jvm_gone):
        assert guarded(fn, verbose=False) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "BREWLAKE_SPARK_DRIVER_MEMORY" in err
        assert "str() failed" not in err
