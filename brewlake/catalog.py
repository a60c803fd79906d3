"""The lake's tables and their registration in Spark's session catalog.

brewlake keeps no metastore service: every session the builder creates registers the databases
`bronze`, `silver`, `gold`, `ops` at their lake locations and every known Delta table that exists,
by location. Any number of processes can do this at once (nothing is locked), on a local lake
and on S3, and `SELECT … FROM gold.brewery_counts` works in each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brewlake import delta
from brewlake.config import Settings
from brewlake.lake import DATABASES, Lake, TableRef
from brewlake.log import get_logger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = get_logger(__name__)

# ---- every table brewlake writes; layers import these names, never format their own.
SILVER_BREWERIES = TableRef("silver", "breweries")
SILVER_HISTORY = TableRef("silver", "breweries_history")
SILVER_QUARANTINE = TableRef("silver", "breweries_quarantine")
SILVER_APPLIED_BATCHES = TableRef("silver", "applied_batches")
SILVER_LOCATIONS = TableRef("silver", "locations")
GOLD_BREWERY_COUNTS = TableRef("gold", "brewery_counts")
GOLD_COUNTS_BY_COUNTRY_TYPE = TableRef("gold", "brewery_counts_by_country_type")
GOLD_COUNTS_BY_TYPE = TableRef("gold", "brewery_counts_by_type")
GOLD_OPERATING_STATUS = TableRef("gold", "brewery_operating_status")
OPS_PIPELINE_RUNS = TableRef("ops", "pipeline_runs")
OPS_QUALITY_CHECKS = TableRef("ops", "quality_checks")

TABLES: tuple[TableRef, ...] = (
    SILVER_BREWERIES,
    SILVER_HISTORY,
    SILVER_QUARANTINE,
    SILVER_APPLIED_BATCHES,
    SILVER_LOCATIONS,
    GOLD_BREWERY_COUNTS,
    GOLD_COUNTS_BY_COUNTRY_TYPE,
    GOLD_COUNTS_BY_TYPE,
    GOLD_OPERATING_STATUS,
    OPS_PIPELINE_RUNS,
    OPS_QUALITY_CHECKS,
)


def quote_identifier(name: str) -> str:
    """`name` as a Spark SQL identifier (a database, a table, or a path in delta.`…`)."""
    return "`" + name.replace("`", "``") + "`"


def sql_string(text: str) -> str:
    """`text` as a Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted_name(table: TableRef) -> str:
    """`database`.`name`, quoted for Spark SQL."""
    return f"{quote_identifier(table.database)}.{quote_identifier(table.name)}"


def register_table(spark: SparkSession, settings: Settings, table: TableRef) -> bool:
    """Register `table` by location if its Delta log exists; True when it is now queryable."""
    location = Lake(settings).table_location(table)
    if not delta.is_delta(spark, location):
        return False
    name = quoted_name(table)
    create_database(spark, settings, table.database)
    # Re-point rather than trust an earlier registration: one session may serve several lakes
    # (tests, `brewlake run` after a settings change). Tables are EXTERNAL, so DROP only forgets
    # the name and never touches data. Databases are never dropped: the in-memory catalog would
    # delete their folder.
    forget_name(spark, name)
    spark.sql(f"CREATE TABLE {name} USING delta LOCATION {sql_string(location)}")
    return True


def forget_name(spark: SparkSession, name: str) -> None:
    """Drop a quoted `db`.`name` from the session catalog, whether a table or a view.

    Tables are EXTERNAL and views hold no data, so this never touches the lake.
    """
    from pyspark.errors import AnalysisException

    try:
        spark.sql(f"DROP TABLE IF EXISTS {name}")
    except AnalysisException:
        # `brewlake sql --as-of` registers views under table names; DROP TABLE refuses views.
        spark.sql(f"DROP VIEW IF EXISTS {name}")


def create_database(spark: SparkSession, settings: Settings, database: str) -> None:
    """Create `database` at its lake location unless the session already has it."""
    # Spark 4.2 logs `WARN CreateNamespaceExec: Namespace … was created concurrently` for every
    # CREATE DATABASE IF NOT EXISTS of a database that exists, even from a single thread: ask first.
    if spark.catalog.databaseExists(database):
        return
    spark.sql(_create_database_sql(Lake(settings), database))


def _create_database_sql(lake: Lake, database: str) -> str:
    location = sql_string(lake.database_location(database))
    return f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)} LOCATION {location}"


def register_databases(spark: SparkSession, settings: Settings) -> None:
    """Create the four databases at their lake locations (idempotent)."""
    for database in DATABASES:
        create_database(spark, settings, database)


def register_catalog(spark: SparkSession, settings: Settings) -> list[TableRef]:
    """Create the four databases and register every existing brewlake table; return those."""
    register_databases(spark, settings)
    registered = [t for t in TABLES if register_table(spark, settings, t)]
    log.debug("catalog.registered", tables=",".join(map(str, registered)) or "none")
    return registered


def table_version(spark: SparkSession, settings: Settings, table: TableRef) -> int | None:
    """The latest committed Delta version of `table`, or None when it does not exist yet.

    Read from a listing of the table's log (no Spark job: a layer asks this of every table it
    writes, before and after)."""
    from brewlake.storage import open_store

    head = delta.head_commit(open_store(settings), Lake(settings).table_key(table))
    return None if head is None else head[0]


def existing_tables(settings: Settings) -> list[TableRef]:
    """Known tables that have a Delta log in the lake, found by listing storage (no Spark)."""
    from brewlake.storage import open_store

    store = open_store(settings)
    lake = Lake(settings)
    found = []
    for table in TABLES:
        if delta.has_log(store, lake.table_key(table)):
            found.append(table)
    return found


def catalog_init_sql(settings: Settings) -> str:
    """SQL that registers the lake in a plain `spark-sql`/`pyspark` session (`-i` init file).

    Only tables that exist when it is generated are listed: `CREATE TABLE … USING delta LOCATION`
    on an empty location fails (Delta has no schema to read). Regenerate it after new tables appear.
    """
    lake = Lake(settings)
    lines = [_create_database_sql(lake, d) + ";" for d in DATABASES]
    lines += [
        f"CREATE TABLE IF NOT EXISTS {quoted_name(t)} USING delta "
        f"LOCATION {sql_string(lake.table_location(t))};"
        for t in existing_tables(settings)
    ]
    return "\n".join(lines) + "\n"
