"""Tables for people: the one renderer `brewlake sql`, `brewlake status` and `brewlake run` share;
and the JSON form of query results `brewlake sql --format json` and the report share.

Rendered with rich to plain text (no colour, no markup, never wrapped): the same characters on a
terminal, in a pipe or in a log file.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def render_table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Iterable[int] = (),
    boxed: bool = False,
) -> str:
    """`rows` under `header`, columns as wide as their widest cell, one line per row.

    `boxed`: ASCII rules around the header and the rows (`+---+`, `| a |`), as SQL shells print
    results; otherwise columns two spaces apart with no rule. Columns in `numeric` are
    right-aligned. Lines end without trailing spaces.
    """
    right = set(numeric)
    table = Table(
        box=box.ASCII2 if boxed else None,
        show_edge=boxed,
        pad_edge=boxed,
        padding=(0, 1) if boxed else (0, 2, 0, 0),
        header_style=None,
        highlight=False,
    )
    for i, name in enumerate(header):
        table.add_column(Text(name), justify="right" if i in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    out = io.StringIO()
    # As wide as the table needs: a result is never wrapped or cut to fit a terminal.
    Console(file=out, width=1_000_000, color_system=None, markup=False, emoji=False).print(table)
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())


def plain(value: Any) -> Any:
    """A JSON-friendly form of a Spark value."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "asDict"):
        return plain(value.asDict(recursive=True))
    return value


def json_records(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Result rows as JSON-ready objects, one per row (`brewlake sql --format json`)."""
    return [dict(zip(columns, (plain(v) for v in row), strict=True)) for row in rows]
