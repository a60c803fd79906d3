"""Land generated records as one complete bronze batch, in a process of its own.

    python -m benchmarks.land --lake-root DIR --rows 1000000 --seed 4 --date 2026-01-01 \
        [--changed 0.01]

The benchmark process never holds the generated records, so they cannot inflate the peak RSS it
measures for brewlake's own runs. Records are generated and landed in chunks of at most
`CHUNK_ROWS` (10 M rows never sit in memory as one list); up to one chunk the records are exactly
`generate_records(rows, seed)`, so the 1 M figures stay comparable with earlier runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmarks.measure import settle
from brewlake.config import load_settings
from brewlake.devkit.synth import generate_records


def changed_snapshot(records: list[dict], share: float) -> list[dict]:
    """A new snapshot in which `share` of the breweries changed name and phone."""
    step = round(1 / share)
    out = []
    for i, record in enumerate(records):
        if i % step == 0:
            record = {**record, "name": f"{record['name']} Taproom", "phone": "5550100"}
        out.append(record)
    return out


CHUNK_ROWS = 1_000_000


def record_chunks(rows: int, seed: int, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[dict]]:
    """`rows` generated records, `chunk_rows` at a time (chunk k after the first uses its own
    seed, so ids stay random and distinct; each chunk has its ~1 % duplicate breweries)."""
    for k, start in enumerate(range(0, rows, chunk_rows)):
        yield generate_records(min(chunk_rows, rows - start), seed if k == 0 else seed * 7919 + k)


def land_in_subprocess(
    lake_root: Path, rows: int, seed: int, day: dt.date, changed: float | None = None
) -> None:
    cmd = [sys.executable, "-m", "benchmarks.land", "--lake-root", str(lake_root)]
    cmd += ["--rows", str(rows), "--seed", str(seed), "--date", day.isoformat()]
    if changed:
        cmd += ["--changed", str(changed)]
    subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])
    settle()


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cases import land_batches

    parser = argparse.ArgumentParser(prog="python -m benchmarks.land", description=__doc__)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--changed", type=float, default=None)
    args = parser.parse_args(argv)
    chunks = record_chunks(args.rows, args.seed)
    if args.changed:
        chunks = (changed_snapshot(chunk, args.changed) for chunk in chunks)
    land_batches(load_settings(lake_root=args.lake_root), chunks, args.date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
