"""The benchmarks' landing streams: chunks of generated records become one complete batch whose
pages hold every record once, and one chunk is exactly `generate_records`. No Spark."""

from __future__ import annotations

import datetime as dt
import json

from benchmarks.cases import land_batches
from benchmarks.land import record_chunks
from brewlake.batches import list_batches
from brewlake.devkit.synth import generate_records
from brewlake.lake import Lake
from brewlake.storage import open_store


def test_chunked_landing_is_one_complete_batch_of_distinct_ids(lake_settings):
    assert next(record_chunks(900, seed=3, chunk_rows=1000)) == generate_records(900, seed=3)
    land_batches(lake_settings, record_chunks(2500, seed=3, chunk_rows=1000), dt.date(2026, 1, 1))

    store = open_store(lake_settings)
    [batch] = list_batches(store, Lake(lake_settings))
    assert batch.manifest.total_records == 2500
    assert len(batch.manifest.pages) == 5 + 5 + 3  # 200 a page, chunk by chunk
    ids = [r["id"] for key in batch.page_keys() for r in json.loads(store.get(key))]
    assert len(ids) == len(set(ids)) == 2500
