"""The benchmark results: a partial run (`--only`) replaces its own cases in latest.json and
latest.md and keeps every other case's last figures; its timestamped file holds only itself."""

from __future__ import annotations

import json

from benchmarks.measure import machine
from benchmarks.run import save


def _report(started_at: str, **cases: float) -> dict:
    return {
        "started_at": started_at,
        "quick": False,
        "machine": machine(),
        "cases": {name: {"seconds": s, "measured_at": started_at} for name, s in cases.items()},
        "targets": [
            {"case": name, "name": f"{name} time", "measured": f"{s} s", "target": "-", "met": True}
            for name, s in cases.items()
        ],
    }


def test_a_partial_run_keeps_the_other_cases_figures(tmp_path):
    save(_report("2026-12-01T10:00:00+00:00", ingest=1.0, scale=2.0), tmp_path, partial=False)
    save(_report("2026-12-02T10:00:00+00:00", scale=3.0), tmp_path, partial=True)
    save(_report("2026-12-03T10:00:00+00:00", cluster=4.0), tmp_path, partial=True)

    latest = json.loads((tmp_path / "latest.json").read_text())
    assert {name: body["seconds"] for name, body in latest["cases"].items()} == {
        "ingest": 1.0,
        "scale": 3.0,
        "cluster": 4.0,
    }
    assert latest["cases"]["ingest"]["measured_at"] == "2026-12-01T10:00:00+00:00"
    assert [t["measured"] for t in latest["targets"]] == ["1.0 s", "3.0 s", "4.0 s"]
    table = (tmp_path / "latest.md").read_text()
    assert "| scale time | 3.0 s | - | met | 2026-12-02T10:00 |" in table
    assert "| ingest time | 1.0 s | - | met | 2026-12-01T10:00 |" in table
    run = json.loads((tmp_path / "20261203T100000Z.json").read_text())
    assert list(run["cases"]) == ["cluster"]
