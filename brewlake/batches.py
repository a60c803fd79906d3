"""Bronze raw batches: the on-lake contract between bronze (writer) and silver (reader).

A batch is a folder `bronze/breweries/ingest_date=YYYY-MM-DD/batch_id=<id>/` holding the API's
page bodies byte for byte (`page-00001.json`, …) and, written last, `_manifest.json`. A batch
without a manifest is incomplete and is never read. Batches are immutable: a rerun makes a new one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from brewlake import __version__
from brewlake.errors import BrewlakeError
from brewlake.lake import MANIFEST_NAME, Lake
from brewlake.storage import ObjectStore

MANIFEST_VERSION = 1


class BatchError(BrewlakeError):
    """A batch is malformed or its pages do not match its manifest."""


def new_batch_id(now: dt.datetime | None = None) -> str:
    """Sortable by creation time, unique across concurrent writers."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}"


def page_file(page: int) -> str:
    return f"page-{page:05d}.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PageEntry:
    page: int
    file: str
    records: int
    sha256: str
    bytes: int
    url: str = ""
    status: int = 200
    attempts: int = 1
    seconds: float = 0.0


@dataclass(frozen=True)
class Manifest:
    batch_id: str
    logical_date: str
    source_url: str
    pages: tuple[PageEntry, ...]
    total_records: int
    api_meta: dict[str, Any] = field(default_factory=dict)
    duplicate_ids: tuple[str, ...] = ()
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    client_version: str = __version__
    manifest_version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """The bytes of the batch's pages."""
        return sum(page.bytes for page in self.pages)

    def to_json(self) -> bytes:
        body = asdict(self)
        return json.dumps(body, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str = "") -> Manifest:
        try:
            body = json.loads(data)
            pages = tuple(PageEntry(**p) for p in body.pop("pages"))
            body["duplicate_ids"] = tuple(body.get("duplicate_ids", ()))
            return cls(pages=pages, **body)
        except (ValueError, TypeError, KeyError) as exc:
            raise BatchError(f"unreadable manifest {where}: {exc}") from None


@dataclass(frozen=True)
class BatchInfo:
    """A complete batch found in the lake."""

    ingest_date: dt.date
    batch_id: str
    key: str
    manifest: Manifest

    def page_keys(self) -> list[str]:
        return [f"{self.key}/{p.file}" for p in self.manifest.pages]


class BatchWriter:
    """Writes one batch: pages first (each atomically), the manifest last."""

    def __init__(
        self, store: ObjectStore, lake: Lake, logical_date: dt.date, batch_id: str | None = None
    ):
        self.store = store
        self.logical_date = logical_date
        self.batch_id = batch_id or new_batch_id()
        self.key = lake.batch_key(logical_date, self.batch_id)
        self.pages: dict[int, PageEntry] = {}
        self.committed = False

    @property
    def location(self) -> str:
        return f"{self.store.description}/{self.key}"

    def write_page(self, page: int, body: bytes, records: int, **meta: Any) -> PageEntry:
        if self.committed:
            raise BatchError(f"batch {self.batch_id} is committed; batches are immutable")
        entry = PageEntry(
            page=page,
            file=page_file(page),
            records=records,
            sha256=sha256_hex(body),
            bytes=len(body),
            **meta,
        )
        self.store.put(f"{self.key}/{entry.file}", body, content_type="application/json")
        self.pages[page] = entry
        return entry

    def commit(self, **manifest_fields: Any) -> Manifest:
        """Write `_manifest.json`: from this moment the batch exists for readers."""
        pages = tuple(self.pages[p] for p in sorted(self.pages))
        manifest = Manifest(
            batch_id=self.batch_id,
            logical_date=self.logical_date.isoformat(),
            pages=pages,
            total_records=sum(p.records for p in pages),
            **manifest_fields,
        )
        self.store.put(
            f"{self.key}/{MANIFEST_NAME}", manifest.to_json(), content_type="application/json"
        )
        self.committed = True
        return manifest


def _parse_batch_key(key: str) -> tuple[dt.date, str] | None:
    parts = key.split("/")
    try:
        date_part, batch_part = parts[-2], parts[-1]
        if not (date_part.startswith("ingest_date=") and batch_part.startswith("batch_id=")):
            return None
        return dt.date.fromisoformat(date_part.split("=", 1)[1]), batch_part.split("=", 1)[1]
    except (IndexError, ValueError):
        return None


def _complete_batches(store: ObjectStore, lake: Lake) -> list[tuple[dt.date, str, str]]:
    """(ingest_date, batch_id, key) of every batch whose manifest is present, oldest first."""
    found = []
    for obj in store.list(lake.raw_dataset_key() + "/"):
        if not obj.endswith("/" + MANIFEST_NAME):
            continue
        key = obj.rsplit("/", 1)[0]
        parsed = _parse_batch_key(key)
        if parsed is not None:
            found.append((*parsed, key))
    return sorted(found)


def _batch_info(store: ObjectStore, ingest_date: dt.date, batch_id: str, key: str) -> BatchInfo:
    where = f"{key}/{MANIFEST_NAME}"
    return BatchInfo(ingest_date, batch_id, key, Manifest.from_json(store.get(where), where=where))


def list_batches(store: ObjectStore, lake: Lake) -> list[BatchInfo]:
    """Every complete batch (manifest present), oldest first by (ingest_date, batch_id)."""
    return [_batch_info(store, *found) for found in _complete_batches(store, lake)]


def newest_batch(store: ObjectStore, lake: Lake) -> BatchInfo | None:
    """The newest complete batch (one manifest read), or None when bronze holds none."""
    found = _complete_batches(store, lake)
    return _batch_info(store, *found[-1]) if found else None
