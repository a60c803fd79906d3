"""`brewlake spark-conf`: make plain `spark-sql` / `pyspark` sessions see the lake."""

from __future__ import annotations

import argparse

from brewlake.catalog import catalog_init_sql
from brewlake.config import load_settings
from brewlake.errors import guarded
from brewlake.spark import spark_defaults_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="brewlake spark-conf",
        description="Print spark-defaults.conf (default) or catalog init SQL for spark-sql -i.",
    )
    parser.add_argument("--catalog-sql", action="store_true", help="print the catalog init SQL")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)

    def go() -> int:
        settings = load_settings()
        text = catalog_init_sql(settings) if args.catalog_sql else spark_defaults_text(settings)
        print(text, end="")
        return 0

    return guarded(go, verbose=args.verbose)
