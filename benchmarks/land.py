"""Land generated records as one complete bronze batch, in a process of its own.

    python -m benchmarks.land --lake-root DIR --rows 1000000 --seed 4 --date 2026-01-01 \
        [--changed 0.01]

The benchmark process never holds the generated records, so they cannot inflate the peak RSS it
measures for brewlake's own runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

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


def land_in_subprocess(
    lake_root: Path, rows: int, seed: int, day: dt.date, changed: float | None = None
) -> None:
    cmd = [sys.executable, "-m", "benchmarks.land", "--lake-root", str(lake_root)]
    cmd += ["--rows", str(rows), "--seed", str(seed), "--date", day.isoformat()]
    if changed:
        cmd += ["--changed", str(changed)]
    subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.cases import land_batch

    parser = argparse.ArgumentParser(prog="python -m benchmarks.land", description=__doc__)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--changed", type=float, default=None)
    args = parser.parse_args(argv)
    records = generate_records(args.rows, args.seed)
    if args.changed:
        records = changed_snapshot(records, args.changed)
    land_batch(load_settings(lake_root=args.lake_root), records, args.date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
