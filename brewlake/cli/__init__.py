"""`brewlake` command line: one typer app; each sub-command's module is imported only when used.

Every command is declared next to its code as a one-command app (`app` in bronze/job.py,
brewlake/ops/status.py, …; see brewlake.command). This app lists them from COMMANDS without
importing them, so `brewlake --help` starts no Spark and loads no layer.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer
from typer.core import TyperGroup

from brewlake import __version__, command
from brewlake import log as logmod

# name -> (module whose `app` holds the command, one-line help for the listing).
COMMANDS: dict[str, tuple[str, str]] = {
    "bronze": ("bronze.job", "ingest the API into a new immutable raw batch"),
    "silver": ("silver.job", "apply complete bronze batches to silver.breweries"),
    "gold": ("gold.job", "recompute the gold aggregate tables"),
    "run": ("brewlake.runtime.pipeline", "bronze, silver and gold in one process"),
    "sql": ("brewlake.cli.sql", "query the lake's tables with Spark SQL"),
    "report": ("brewlake.report.build", "gold and the recent runs as one HTML page"),
    "status": ("brewlake.ops.status", "freshness and last runs per layer"),
    "maintain": ("brewlake.ops.maintain", "OPTIMIZE, REORG (purge) and VACUUM the tables"),
    "events": ("brewlake.ops.events", "run-event trail tools (archive from SQS)"),
    "serve-api": ("brewlake.devkit.replay", "serve a dataset with the Open Brewery DB API rules"),
    "generate": ("brewlake.devkit.synth", "generate realistic synthetic breweries"),
    "spark-conf": ("brewlake.cli.spark_conf", "print spark-defaults / catalog SQL for spark-sql"),
}


class LazyCommands(TyperGroup):
    """The sub-commands of COMMANDS, each imported when it is run or asked for its help."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str):
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return typer.main.get_command(module.app)

    def format_commands(self, ctx: typer.Context, formatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in COMMANDS.items()])


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit(0)


app = command.app(
    cls=LazyCommands,
    invoke_without_command=True,
    help="The brewlake lakehouse. `brewlake COMMAND --help` shows a command's options.",
)


@app.callback()
def brewlake(
    ctx: typer.Context,
    verbose: command.Verbose = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="print the version and exit"
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)
    if not verbose:
        logmod.quiet_spark()  # until a `--verbose` after the sub-command says otherwise


def main(argv: list[str] | None = None) -> int:
    return logmod.report_run_log(command.run(app, argv, "brewlake"))
