"""`brewlake spark-conf`: make plain `spark-sql` / `pyspark` sessions see the lake."""

from __future__ import annotations

from typing import Annotated

import typer

from brewlake import command
from brewlake.catalog import catalog_init_sql
from brewlake.config import load_settings
from brewlake.errors import guarded
from brewlake.spark import spark_defaults_text

app = command.app()


@app.command(
    "spark-conf",
    help="Print spark-defaults.conf (default) or catalog init SQL for spark-sql -i.",
)
def spark_conf_command(
    catalog_sql: Annotated[
        bool, typer.Option("--catalog-sql", help="print the catalog init SQL")
    ] = False,
    verbose: command.Verbose = False,
) -> None:
    def go() -> int:
        settings = load_settings()
        text = catalog_init_sql(settings) if catalog_sql else spark_defaults_text(settings)
        print(text, end="")
        return 0

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake spark-conf")
