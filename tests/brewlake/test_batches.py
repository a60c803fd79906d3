"""The raw-batch contract: pages then manifest, only manifested batches exist, pages hashed as
written (silver's tests prove a changed page is refused: tests/silver/test_job.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from brewlake.batches import (
    BatchError,
    BatchWriter,
    Manifest,
    list_batches,
    new_batch_id,
    newest_batch,
    page_file,
    sha256_hex,
)
from brewlake.lake import MANIFEST_NAME, Lake
from brewlake.storage import open_store

DAY = dt.date(2025, 6, 1)
PAGE_1 = '[{"id":"a","name":"Brauerei Müller","city":"Kempten (Allgäu)"}]'.encode()
PAGE_2 = b'[{"id":"b","name":"O\'Malley\'s","longitude":"-8.1","latitude":null}]'


@pytest.fixture(params=["local", "s3"])
def settings(request, lake_settings):
    if request.param == "s3":
        return request.getfixturevalue("s3_settings")
    return lake_settings


def write_batch(settings, day=DAY, commit=True):
    writer = BatchWriter(open_store(settings), Lake(settings), day)
    writer.write_page(2, PAGE_2, 1, url="http://x/v1/breweries?page=2", attempts=3)
    writer.write_page(1, PAGE_1, 1, url="http://x/v1/breweries?page=1")
    if commit:
        writer.commit(source_url="http://x", api_meta={"total": 2}, duplicate_ids=("b",))
    return writer


def test_only_batches_with_a_manifest_exist(settings):
    store = open_store(settings)
    incomplete = write_batch(settings, commit=False)
    assert list_batches(store, Lake(settings)) == []
    assert store.exists(f"{incomplete.key}/{page_file(1)}")
    assert not store.exists(f"{incomplete.key}/{MANIFEST_NAME}")

    complete = write_batch(settings)
    (batch,) = list_batches(store, Lake(settings))
    assert batch.batch_id == complete.batch_id and batch.ingest_date == DAY
    assert [p.page for p in batch.manifest.pages] == [1, 2]  # sorted, whatever the write order
    assert batch.manifest.total_records == 2
    assert batch.manifest.duplicate_ids == ("b",)
    assert batch.manifest.pages[1].attempts == 3
    assert [store.get(k) for k in batch.page_keys()] == [PAGE_1, PAGE_2]
    assert [p.sha256 for p in batch.manifest.pages] == [sha256_hex(PAGE_1), sha256_hex(PAGE_2)]
    assert batch.manifest.total_bytes == len(PAGE_1) + len(PAGE_2)


def test_the_newest_batch_is_read_from_its_manifest_alone(settings):
    store, lake = open_store(settings), Lake(settings)
    assert newest_batch(store, lake) is None
    write_batch(settings, day=DAY + dt.timedelta(days=1))
    newest = write_batch(settings, day=DAY + dt.timedelta(days=2))
    write_batch(settings, day=DAY)
    write_batch(settings, day=DAY + dt.timedelta(days=3), commit=False)  # incomplete: not a batch
    assert newest_batch(store, lake) == list_batches(store, lake)[-1]
    assert newest_batch(store, lake).batch_id == newest.batch_id


def test_pages_are_hashed_and_sized_as_written(lake_settings):
    write_batch(lake_settings)
    (batch,) = list_batches(open_store(lake_settings), Lake(lake_settings))
    assert [(p.sha256, p.bytes) for p in batch.manifest.pages] == [
        (sha256_hex(PAGE_1), len(PAGE_1)),
        (sha256_hex(PAGE_2), len(PAGE_2)),
    ]


def test_a_committed_batch_is_immutable(lake_settings):
    writer = write_batch(lake_settings)
    with pytest.raises(BatchError, match="immutable"):
        writer.write_page(3, b"[]", 0)


def test_batches_list_oldest_first_and_reruns_add_batches(lake_settings):
    later = write_batch(lake_settings, day=DAY + dt.timedelta(days=1))
    first = write_batch(lake_settings)
    rerun = write_batch(lake_settings)
    ids = [b.batch_id for b in list_batches(open_store(lake_settings), Lake(lake_settings))]
    assert ids == [first.batch_id, rerun.batch_id, later.batch_id]


def test_manifest_round_trips_and_rejects_garbage():
    writer_manifest = Manifest(
        batch_id=new_batch_id(),
        logical_date=DAY.isoformat(),
        source_url="http://x",
        pages=(),
        total_records=0,
        api_meta={"total": 0, "by_country": {"Österreich": 0}},
        duplicate_ids=("z",),
    )
    assert Manifest.from_json(writer_manifest.to_json()) == writer_manifest
    with pytest.raises(BatchError, match="unreadable manifest"):
        Manifest.from_json(b'{"batch_id": 1}', where="x")


def test_batch_ids_sort_by_creation_and_are_unique():
    t = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ids = [new_batch_id(t + dt.timedelta(microseconds=i)) for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert len({new_batch_id(t) for _ in range(50)}) == 50
