"""`brewlake sql "QUERY"`: query the lake's tables with Spark SQL from the shell.

    brewlake sql "SELECT * FROM gold.brewery_counts ORDER BY brewery_count DESC LIMIT 10"
    brewlake sql "SELECT count(*) FROM silver.breweries" --as-of 3 --format json

Results go to stdout and nothing else does: the process's stdout file descriptor is pointed at
stderr while Spark runs, so JVM and log output can never corrupt a `--format json|csv` stream.
Query errors are one line on stderr and exit code 2.

Read-only by default: the statement is parsed by Spark's own parser and refused unless every node
of the parsed plan is a query or a known read-only command (SHOW, DESCRIBE, EXPLAIN, …);
`--allow-write` lifts that. `--as-of VERSION|TIMESTAMP` replaces each lake table the query names
by a view over that table's Delta version (`VERSION AS OF n` / `TIMESTAMP AS OF '…'`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TextIO

import typer

from brewlake import command, delta
from brewlake import log as logmod
from brewlake.catalog import (
    TABLES,
    forget_name,
    quote_identifier,
    quoted_name,
    register_databases,
)
from brewlake.config import Settings, load_settings
from brewlake.console import json_records, render_table
from brewlake.console import plain as _plain
from brewlake.errors import BrewlakeError, first_line, guarded
from brewlake.lake import Lake, TableRef

if TYPE_CHECKING:
    from pyspark.sql import Row, SparkSession

Format = Literal["table", "csv", "json"]
# Parsed-plan nodes that are commands yet only read.
READ_ONLY_COMMANDS = frozenset(
    {
        "ShowTables",
        "ShowTablesExtended",
        "ShowTableExtended",
        "ShowNamespaces",
        "ShowNamespacesCommand",
        "ShowColumns",
        "ShowCreateTable",
        "ShowTableProperties",
        "ShowPartitions",
        "ShowFunctions",
        "ShowViews",
        "ShowCatalogs",
        "DescribeRelation",
        "DescribeColumn",
        "DescribeNamespace",
        "DescribeFunction",
        "DescribeQueryCommand",
        "DescribeDeltaDetailCommand",
        "DescribeDeltaHistory",
        "DescribeDeltaHistoryCommand",
        "ExplainCommand",
    }
)
# Statements that are not `Command`s in Spark's tree yet write (or run procedures).
_WRITE_NODE = re.compile(
    r"Insert|Merge|Update|Delete|Restore|Write|Overwrite|Append|Replace|Create|Drop|Alter|"
    r"Truncate|Call|Vacuum|Optimize|Convert|Clone|Refresh|Cache|Procedure"
)
_COMMAND_TRAIT = "org.apache.spark.sql.catalyst.plans.logical.Command"


class QueryError(BrewlakeError):
    """The query failed to parse or run, or was refused."""

    exit_code = 2


@dataclass(frozen=True)
class AsOf:
    """A point in each table's history: a Delta version or a UTC timestamp."""

    version: int | None = None
    timestamp: dt.datetime | None = None

    @classmethod
    def parse(cls, text: str) -> AsOf:
        text = text.strip()
        if text.isdigit():
            return cls(version=int(text))
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(
                f"--as-of {text!r}: give a Delta version (e.g. 3) or a timestamp "
                "(e.g. 2025-01-02 or 2025-01-02T03:04:05Z)"
            ) from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return cls(timestamp=moment)

    @property
    def clause(self) -> str:
        if self.version is not None:
            return f"VERSION AS OF {self.version}"
        assert self.timestamp is not None
        return f"TIMESTAMP AS OF '{self.timestamp.isoformat(sep=' ')}'"


# ---- statement kind -------------------------------------------------------------------------


def plan_nodes(spark: SparkSession, query: str) -> list[str]:
    """Simple class names of every node of the parsed (unresolved) plan, root first.

    Nodes that are Spark `Command`s are suffixed with `!`.
    """
    jvm = spark.sparkContext._jvm
    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(query)
    except Exception as exc:
        raise QueryError(first_line(exc)) from None
    command = jvm.java.lang.Class.forName(_COMMAND_TRAIT)
    names: list[str] = []
    stack = [plan]
    while stack:
        node = stack.pop()
        name = node.getClass().getSimpleName()
        names.append(name + ("!" if command.isInstance(node) else ""))
        children = node.children()
        stack.extend(children.apply(i) for i in reversed(range(children.size())))
    return names


def is_read_only(nodes: list[str]) -> bool:
    """True when no node of the parsed plan can modify a table or the session's catalog."""
    for node in nodes:
        name = node.rstrip("!")
        if name in READ_ONLY_COMMANDS:
            continue
        if node.endswith("!") or _WRITE_NODE.search(name):
            return False
    return True


def check_statement(spark: SparkSession, query: str, *, allow_write: bool) -> None:
    nodes = plan_nodes(spark, query)
    if not allow_write and not is_read_only(nodes):
        statement = nodes[0].rstrip("!") if nodes else "?"
        raise QueryError(
            f"refused: the statement modifies tables or the session ({statement}); "
            "rerun with --allow-write if that is intended"
        )


# ---- time travel ----------------------------------------------------------------------------


def register_as_of(
    spark: SparkSession, settings: Settings, query: str, as_of: AsOf
) -> dict[TableRef, str]:
    """Point each lake table the query names at a view of its state `as_of`.

    Returns the tables that have no such state, with Delta's reason.
    """
    register_databases(spark, settings)
    lake = Lake(settings)
    unavailable: dict[TableRef, str] = {}
    for table in TABLES:
        if not re.search(rf"(?<![\w$]){re.escape(table.name)}(?![\w$])", query, re.IGNORECASE):
            continue
        location = lake.table_location(table)
        if not delta.is_delta(spark, location):
            continue
        name = quoted_name(table)
        forget_name(spark, name)
        try:
            source = f"delta.{quote_identifier(location)} {as_of.clause}"
            spark.sql(f"CREATE VIEW {name} AS SELECT * FROM {source}")
        except Exception as exc:
            unavailable[table] = first_line(exc)
    return unavailable


# ---- output ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    plain = _plain(value)
    if isinstance(plain, dict | list):
        return json.dumps(plain, ensure_ascii=False)
    return str(plain)


def format_rows(columns: list[str], rows: list[Row] | list[tuple], fmt: str) -> str:
    """Render result rows as an aligned table, CSV (header + rows) or a JSON array of objects."""
    values = [tuple(r) for r in rows]
    if fmt == "json":
        return json.dumps(json_records(columns, values), ensure_ascii=False, indent=None) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in values:
            writer.writerow(["" if v is None else _cell(v) for v in row])
        return buffer.getvalue()
    cells = [[_cell(v) for v in row] for row in values]
    footer = f"({len(cells)} row{'s' if len(cells) != 1 else ''})\n"
    return render_table(columns, cells, boxed=True) + footer


# ---- running --------------------------------------------------------------------------------


def execute(
    spark: SparkSession,
    settings: Settings,
    query: str,
    *,
    fmt: str = "table",
    as_of: AsOf | None = None,
    allow_write: bool = False,
) -> str:
    """Check, (optionally) time-travel, run `query`, and return its rendered result."""
    check_statement(spark, query, allow_write=allow_write)
    unavailable = register_as_of(spark, settings, query, as_of) if as_of else {}
    try:
        frame = spark.sql(query)
        columns = frame.columns
        rows = frame.collect()
    except Exception as exc:
        message = first_line(exc)
        if unavailable:
            message += " (not available " + as_of.clause.lower() + ": "
            message += "; ".join(f"{t}: {why}" for t, why in unavailable.items()) + ")"
        raise QueryError(message) from None
    return format_rows(columns, rows, fmt)


@contextmanager
def stdout_reserved_for_results() -> Iterator[TextIO]:
    """Yield a stream on the real stdout; meanwhile fd 1 (JVM, stray prints) goes to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    results = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    try:
        yield results
    finally:
        results.flush()
        results.close()
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


app = command.app()


@app.command("sql", help="Run one Spark SQL statement against the lake's tables.")
def sql_command(
    query: Annotated[
        str,
        typer.Argument(metavar="QUERY", help='e.g. "SELECT * FROM gold.brewery_counts LIMIT 10"'),
    ],
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = "table",
    as_of: Annotated[
        str | None,
        typer.Option(
            metavar="VERSION|TIMESTAMP",
            help="read every lake table the query names as of this Delta version or UTC timestamp",
        ),
    ] = None,
    allow_write: Annotated[
        bool, typer.Option("--allow-write", help="permit statements that modify tables")
    ] = False,
    verbose: command.Verbose = False,
) -> None:
    def go() -> int:
        point = AsOf.parse(as_of) if as_of else None
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else "WARNING", settings.log_format)
        from brewlake.spark import build_session

        with stdout_reserved_for_results() as results:
            # Every existing table by name; with --as-of, `register_as_of` registers instead a
            # view at that version of each table the query names.
            spark = build_session(settings, "brewlake-sql", register_tables=point is None)
            text = execute(spark, settings, query, fmt=fmt, as_of=point, allow_write=allow_write)
            results.write(text)
        return 0

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake sql")


if __name__ == "__main__":
    sys.exit(main())
