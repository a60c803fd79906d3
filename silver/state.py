"""The last applied batch, as one small object beside the silver tables (no Delta, no Spark).

`silver/_state/last_applied.json` holds the batch silver applied last, its pages' sha256s, the
silver.breweries version that holds its data and the silver.applied_batches version that holds
its audit row. It is written after every applied batch, and read
before a Spark session starts: when every pending batch's pages equal its pages (the API served
the same content), the batches are recorded here and silver needs no Spark work and commits
nothing (`silver.job.plan_without_spark`).

silver.breweries stays the authority. The object counts only while the table's newest version is
the one it records (checked by listing the table's log), and it is written only after a batch's
commits and audit row, so it can lag behind the table but never run ahead of it: a stale or
missing object sends the run down the Spark path, which is always correct. A rebuild empties it
before it empties the tables.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace

from brewlake import delta
from brewlake.batches import BatchInfo, Manifest
from brewlake.catalog import SILVER_APPLIED_BATCHES, SILVER_BREWERIES
from brewlake.lake import Lake, TableRef
from brewlake.log import get_logger
from brewlake.storage import ObjectStore, StorageError

log = get_logger(__name__)

STATE_PARTS = ("silver", "_state", "last_applied.json")
# Bump when silver's transforms change what a batch becomes: the old state then no longer
# vouches that an identical batch would change nothing, and the next batch goes through Spark.
LOGIC_VERSION = 1


def page_prints(manifest: Manifest) -> tuple[tuple[str, str, int], ...]:
    """(file, sha256, records) of every page: equal prints, byte-identical batches."""
    return tuple((p.file, p.sha256, p.records) for p in manifest.pages)


@dataclass(frozen=True)
class AppliedState:
    batch_id: str
    ingest_date: str
    pages: tuple[tuple[str, str, int], ...]
    breweries_version: int
    alias_map_sha256: str
    quarantine_share: float
    logic_version: int = LOGIC_VERSION
    # silver.applied_batches' version after the batch's audit row (None: written by a release
    # that did not record it). While that table's head is still this version, no batch was
    # applied after this one, so the run needs no recovery (`is_settled`).
    applied_version: int | None = None
    # Batches recorded here without Spark since the last batch applied with it, oldest first:
    # (ingest_date, batch_id, the batch whose data they repeat).
    repeats: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def position(self) -> tuple[dt.date, str]:
        return dt.date.fromisoformat(self.ingest_date), self.batch_id

    @classmethod
    def of_batch(
        cls,
        batch: BatchInfo,
        *,
        breweries_version: int,
        alias_map_sha256: str,
        quarantine_share: float,
        applied_version: int | None = None,
    ) -> AppliedState:
        return cls(
            batch_id=batch.batch_id,
            ingest_date=batch.ingest_date.isoformat(),
            pages=page_prints(batch.manifest),
            breweries_version=breweries_version,
            alias_map_sha256=alias_map_sha256,
            quarantine_share=quarantine_share,
            applied_version=applied_version,
        )

    def repeated_by(self, batch: BatchInfo) -> AppliedState:
        """This state after `batch`, whose pages equal these, was recorded without Spark."""
        source = self.repeats[-1][2] if self.repeats else self.batch_id
        repeat = (batch.ingest_date.isoformat(), batch.batch_id, source)
        return replace(
            self,
            batch_id=batch.batch_id,
            ingest_date=batch.ingest_date.isoformat(),
            repeats=(*self.repeats, repeat),
        )


def _key(lake: Lake) -> str:
    return lake.key(*STATE_PARTS)


def breweries_head(store: ObjectStore, lake: Lake) -> int | None:
    """silver.breweries' newest version, by listing its log (None: no table)."""
    return _head(store, lake, SILVER_BREWERIES)


def applied_head(store: ObjectStore, lake: Lake) -> int | None:
    """silver.applied_batches' newest version, by listing its log (None: no table)."""
    return _head(store, lake, SILVER_APPLIED_BATCHES)


def _head(store: ObjectStore, lake: Lake, table: TableRef) -> int | None:
    head = delta.head_commit(store, lake.table_key(table))
    return None if head is None else head[0]


def read(store: ObjectStore, lake: Lake) -> AppliedState | None:
    """The recorded state, or None (none written, emptied by a rebuild, or unreadable)."""
    try:
        body = json.loads(store.get(_key(lake)))
        if not body:
            return None
        body["pages"] = tuple(tuple(p) for p in body["pages"])
        body["repeats"] = tuple(tuple(r) for r in body.get("repeats", ()))
        return AppliedState(**body)
    except StorageError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("silver.state_unreadable", key=_key(lake), error=str(exc))
        return None


def current(store: ObjectStore, lake: Lake, alias_map_sha256: str) -> AppliedState | None:
    """The recorded state when it still describes silver: same breweries version, same logic,
    same location alias map; None otherwise."""
    state = read(store, lake)
    if state is None or state.logic_version != LOGIC_VERSION:
        return None
    if state.alias_map_sha256 != alias_map_sha256:
        return None
    if breweries_head(store, lake) != state.breweries_version:
        return None
    return state


def is_settled(store: ObjectStore, lake: Lake, state: AppliedState | None) -> bool:
    """Whether `state` (`current`) still accounts for every audit row: silver.applied_batches is
    at the version recorded with it. Then every batch silver committed has its audit row and
    history (the state is written after both), and none was applied after it: nothing to
    recover. False after a crash between a batch's audit row and its state, and for a state
    written without `applied_version`."""
    if state is None or state.applied_version is None:
        return False
    return applied_head(store, lake) == state.applied_version


def write(store: ObjectStore, lake: Lake, state: AppliedState) -> None:
    body = json.dumps(asdict(state), indent=1, sort_keys=True).encode("utf-8")
    store.put(_key(lake), body, content_type="application/json")


def clear(store: ObjectStore, lake: Lake) -> None:
    """Forget the state (a rebuild is about to empty the tables it describes)."""
    store.put(_key(lake), b"{}", content_type="application/json")
