"""Silver test helpers: inline API records and bronze batches written with the real BatchWriter."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

from brewlake.batches import BatchWriter
from brewlake.catalog import SILVER_BREWERIES
from brewlake.lake import Lake
from brewlake.storage import open_store


def brewery(id_: str | None, **fields) -> dict:
    """One API record, field order as the API emits it; keyword arguments override."""
    record = {
        "id": id_,
        "name": f"Brewery {id_}",
        "brewery_type": "micro",
        "address_1": "1 Main St",
        "address_2": None,
        "address_3": None,
        "city": "Portland",
        "state_province": "Oregon",
        "postal_code": "97201",
        "country": "United States",
        "longitude": -122.67,
        "latitude": 45.52,
        "phone": "5035550100",
        "website_url": None,
        "state": "Oregon",
        "street": "1 Main St",
    }
    record.update(fields)
    if "state_province" in fields and "state" not in fields:
        record["state"] = fields["state_province"]
    return record


def write_batch(settings, day: dt.date, *pages: list, batch_id: str | None = None) -> str:
    """A complete bronze batch whose pages are the given JSON arrays; returns its id."""
    writer = BatchWriter(open_store(settings), Lake(settings), day, batch_id)
    for number, page in enumerate(pages, start=1):
        body = json.dumps(page, ensure_ascii=False).encode("utf-8")
        writer.write_page(number, body, len(page) if isinstance(page, list) else 0)
    writer.commit(source_url="test://inline")
    return writer.batch_id


def breweries_location(settings) -> str:
    return Lake(settings).table_location(SILVER_BREWERIES)


def local_files(root: str | Path) -> list[str]:
    """Every file under a local folder, relative, sorted."""
    out = []
    for folder, _, names in os.walk(root):
        for name in names:
            out.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(out)


AS_OF_DAY = "DATE'2025-03-01'"  # the day of docs/silver.md's example


def as_of(history, day: dt.date):
    """The rows of `history` that the as-of query of docs/silver.md returns for `day`."""
    docs = (Path(__file__).parents[2] / "docs" / "silver.md").read_text()
    (condition,) = re.findall(r"^WHERE (valid_from .*)$", docs, re.MULTILINE)
    return history.where(condition.replace(AS_OF_DAY, f"DATE'{day}'"))
