"""Lake layout: the one place that turns names into locations.

Every table lives at `<lake_root>/<database>/<table>`; bronze raw batches live at
`<lake_root>/bronze/breweries/ingest_date=YYYY-MM-DD/batch_id=<id>/`. Nothing else in brewlake
formats a lake path: callers ask `Lake` for a location (Spark URI) or a key (object-store key
relative to the lake root).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from brewlake.config import Settings

DATABASES = ("bronze", "silver", "gold", "ops")
RAW_DATASET = ("bronze", "breweries")
MANIFEST_NAME = "_manifest.json"
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$")


@dataclass(frozen=True)
class TableRef:
    """A table's catalog identity: `database.name`."""

    database: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    def __str__(self) -> str:
        return self.qualified


def _check_segment(segment: str) -> str:
    # Keys are built from our own identifiers and dates only; refuse anything that could
    # escape the lake (`..`, `/`) instead of trying to sanitise it.
    if not _SEGMENT.match(segment) or ".." in segment:
        raise ValueError(f"illegal lake path segment {segment!r}")
    return segment


@dataclass(frozen=True)
class Lake:
    settings: Settings

    # ---- the single path function
    def key(self, *parts: str) -> str:
        """Object key relative to the lake root, e.g. `silver/breweries`."""
        return "/".join(_check_segment(p) for p in parts)

    def uri(self, *parts: str) -> str:
        """Location as Spark sees it (`s3a://…` or an absolute local path)."""
        root = self.settings.spark_lake_root
        return f"{root}/{self.key(*parts)}" if parts else root

    def uri_of_key(self, key: str) -> str:
        """Spark location of an object key that `key()` produced."""
        return self.uri(*key.split("/"))

    # ---- tables
    def table_location(self, table: TableRef) -> str:
        return self.uri(table.database, table.name)

    def table_key(self, table: TableRef) -> str:
        """The table's folder as an object key (its Delta log is under `<key>/_delta_log/`)."""
        return self.key(table.database, table.name)

    def database_location(self, database: str) -> str:
        return self.uri(database)

    # ---- bronze raw batches
    def raw_dataset_key(self) -> str:
        return self.key(*RAW_DATASET)

    def batch_key(self, ingest_date: dt.date, batch_id: str) -> str:
        return self.key(
            *RAW_DATASET, f"ingest_date={ingest_date.isoformat()}", f"batch_id={batch_id}"
        )
