"""What every `brewlake` command shares: its typer app, the `--verbose` option, running from argv.

Each command is a one-command typer app next to the code it runs (`bronze/job.py`,
`brewlake/ops/status.py`, …): `brewlake <name>` (brewlake.cli) and the module's `main(argv)`
(`spark-submit bronze/job.py …`, tests) run the very same command, so its options are declared
once. A command ends with `raise typer.Exit(code)`; `run` turns that, `--help` and usage errors
(exit 2) into the code `main` returns.
"""

from __future__ import annotations

from typing import Annotated

import typer

from brewlake import log as logmod

# `brewlake -v sql …` and `brewlake sql … -v` mean the same: the flag is kept for the whole run.
_VERBOSE_KEY = "brewlake.verbose"


def app(**settings) -> typer.Typer:
    """A typer app as every brewlake command has it: plain help, no shell-completion options,
    Python's own traceback under --verbose."""
    return typer.Typer(
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["--help", "-h"]},
        **settings,
    )


def _merge_verbose(ctx: typer.Context, value: bool) -> bool:
    verbose = bool(value or ctx.meta.get(_VERBOSE_KEY, False))
    ctx.meta[_VERBOSE_KEY] = verbose
    if verbose:
        logmod.quiet_spark(False)  # Spark's output belongs on the terminal under --verbose
    return verbose


Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        callback=_merge_verbose,
        help="tracebacks, debug logs and Spark's output",
    ),
]


def run(command_app: typer.Typer, argv: list[str] | None, prog: str) -> int:
    """Run `command_app` on `argv` (default: sys.argv[1:]) and return its exit code."""
    try:
        typer.main.get_command(command_app).main(args=argv, prog_name=prog)
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        raise  # a message for Python to print, as `sys.exit("…")` means
    return 0
