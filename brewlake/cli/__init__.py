"""`brewlake` command line: one dispatcher, each sub-command's code imported only when used."""

from __future__ import annotations

import importlib
import itertools
import sys

from brewlake import __version__
from brewlake import log as logmod

# name -> (module, function, one-line help). Each function takes argv and returns an exit code.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "bronze": ("bronze.job", "main", "ingest the API into a new immutable raw batch"),
    "silver": ("silver.job", "main", "apply complete bronze batches to silver.breweries"),
    "gold": ("gold.job", "main", "recompute the gold aggregate tables"),
    "run": ("brewlake.runtime.pipeline", "main", "bronze, silver and gold in one process"),
    "sql": ("brewlake.cli.sql", "main", "query the lake's tables with Spark SQL"),
    "status": ("brewlake.ops.status", "main", "freshness and last runs per layer"),
    "maintain": ("brewlake.ops.maintain", "main", "OPTIMIZE, REORG (purge) and VACUUM the tables"),
    "events": ("brewlake.ops.events", "main", "run-event trail tools (archive from SQS)"),
    "serve-api": (
        "brewlake.devkit.replay",
        "main",
        "serve a dataset with the Open Brewery DB API rules",
    ),
    "generate": ("brewlake.devkit.synth", "main", "generate realistic synthetic breweries"),
    "spark-conf": (
        "brewlake.cli.spark_conf",
        "main",
        "print spark-defaults / catalog SQL for spark-sql",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: brewlake <command> [options]   (brewlake {__version__})", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "`brewlake <command> --help` for a command's options."]
    return "\n".join(lines)


def wants_verbose(argv: list[str]) -> bool:
    """The sub-command got `--verbose`/`-v` (every command has it): Spark may print then."""
    options = itertools.takewhile(lambda arg: arg != "--", argv)
    return any(arg in ("--verbose", "-v") for arg in options)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"brewlake: error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, function, _ = COMMANDS[name]
    if not wants_verbose(rest):
        logmod.quiet_spark()
    code = int(getattr(importlib.import_module(module), function)(rest) or 0)
    return logmod.report_run_log(code)


if __name__ == "__main__":
    sys.exit(main())
