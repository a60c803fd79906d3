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
