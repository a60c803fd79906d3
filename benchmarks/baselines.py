"""The obvious approach, implemented honestly (no artificial sleeps), to measure brewlake against.

What public solutions of this case do: a sequential page loop with plain `requests.get`, and a
silver/gold that overwrite whole tables on every run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests


def sequential_ingest(api_url: str, out_dir: Path, per_page: int = 200) -> dict[str, Any]:
    """GET page 1, 2, … until an empty page; write each body to a file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page, records, requests_made = 1, 0, 0
    with requests.Session() as session:  # keep-alive: kinder to the baseline than bare get()
        while True:
            resp = session.get(
                f"{api_url}/v1/breweries",
                params={"page": page, "per_page": per_page},
                timeout=30,
            )
            requests_made += 1
            resp.raise_for_status()
            rows = json.loads(resp.content)
            if not rows:
                break
            (out_dir / f"page-{page:05d}.json").write_bytes(resp.content)
            records += len(rows)
            page += 1
    return {"records": records, "requests": requests_made}


def bronze_batches(settings):
    from brewlake.batches import list_batches
    from brewlake.lake import Lake
    from brewlake.storage import open_store

    return list_batches(open_store(settings), Lake(settings))


def overwrite_silver(spark, settings, batch, location: str) -> None:
    """brewlake's silver parsing, cleansing and validation (its own functions), then overwrite the
    whole table instead of merging the changes."""
    import datetime as dt

    from brewlake import delta
    from brewlake.catalog import SILVER_BREWERIES
    from brewlake.schemas import SILVER_PARTITION_COLUMNS
    from silver import merge
    from silver.job import Places, read_pages
    from silver.locations import load_aliases
    from silver.transforms import (
        cleanse,
        conform,
        is_record,
        raw_location_profile,
        select_accepted,
        to_silver_rows,
        with_parsed_record,
    )

    records = (
        read_pages(spark, settings, batch)
        .transform(with_parsed_record)
        .transform(cleanse)
        .where(is_record())
    )
    pairs = [
        (r["country_raw"], r["state_raw"], r["count"])
        for r in records.transform(raw_location_profile).collect()
    ]
    # Overwriting keeps no silver.locations: every run maps its places afresh.
    places = Places(load_aliases(settings.conf_dir), location="", known={})
    mapping = places.as_frame(spark, places.mapping(pairs))
    validated = records.transform(conform, mapping, places.aliases.bounds)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = to_silver_rows(select_accepted(validated), batch.batch_id, batch.ingest_date, now)
    # The table brewlake defines (its statistics columns, `merge.STATS_COLUMNS`): the comparison
    # is the MERGE against the overwrite, not one table definition against another.
    merge.ensure_table(spark, SILVER_BREWERIES, location)
    delta.replace(rows, location, partitions=SILVER_PARTITION_COLUMNS)
