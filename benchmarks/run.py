"""brewlake benchmarks: brewlake vs the obvious approach, measured side by side in one run.

    make bench          # full sizes (1 M rows; ~15-25 min on 2 cores)
    make bench-quick    # small sizes, a few minutes

Writes `benchmarks/results/<timestamp>.json`, `latest.json` and `latest.md`. Data come
from `brewlake generate` (brewlake.devkit.synth) and are served by `brewlake serve-api` in its
own process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import cases
from benchmarks.measure import HostSteal, machine

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / "work"

CASES: dict[str, Callable[[Path, bool], list[dict[str, Any]]]] = {
    "ingest": cases.ingest,
    "end_to_end": cases.end_to_end,
    "scale": cases.scale,
    "incremental": cases.incremental,
    "cluster": cases.cluster,
    "scale_10m": cases.scale_10m,
}


def summary_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    kind = "quick" if report["quick"] else "full"
    lines = [
        f"# brewlake benchmarks — {report['started_at']} ({kind})",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GiB, {m['platform']}; "
        f"Python {m['python']}, {m['java']}, pyspark {m['pyspark']}, "
        f"delta-spark {m['delta_spark']}, brewlake {m['brewlake']}.",
        "",
        "Host steal: the share of CPU time the hypervisor gave to other guests while the case "
        "ran; the higher, the slower the same work (docs/benchmarks.md).",
        "",
        "| case | measured | target | met | measured at (UTC) | host steal |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["targets"]:
        met = {True: "met", False: "**missed**", None: "n/a"}[row["met"]]
        case = report["cases"].get(row["case"], {})
        when = case.get("measured_at", report["started_at"])
        steal = case.get("cpu_steal_pct")
        steal_text = "—" if steal is None else f"{steal}%"
        lines.append(
            f"| {row['name']} | {row['measured']} | {row['target']} | {met} | {when[:16]} "
            f"| {steal_text} |"
        )
    lines += ["", "## Details", ""]
    for name, body in report["cases"].items():
        lines.append(f"### {name}")
        lines.append("")
        lines.append("```json")
        lines.append(json.dumps(_strip_runs(body), indent=2, default=str))
        lines.append("```")
        lines.append("")
    return "\n".join(lines)


def _strip_runs(body: Any) -> Any:
    # The Markdown shows medians; every run stays in the JSON.
    if isinstance(body, dict):
        return {k: _strip_runs(v) for k, v in body.items() if k not in ("runs", "stdout", "stderr")}
    if isinstance(body, list):
        return [_strip_runs(v) for v in body]
    return body


def _merged_into_latest(report: dict[str, Any], results: Path) -> dict[str, Any]:
    """`latest` after a partial run (`--only`): the cases just measured replace theirs, every
    other case keeps its last figures (each case says when it was measured)."""
    latest = results / "latest.json"
    if not latest.exists():
        return report
    old = json.loads(latest.read_text())
    if old.get("quick") != report["quick"]:
        return report
    ran = set(report["cases"])
    cases = {
        k: {"measured_at": old["started_at"], **v}
        for k, v in old.get("cases", {}).items()
        if k not in ran
    }
    cases.update(report["cases"])
    targets = [t for t in old.get("targets", []) if t["case"] not in ran] + report["targets"]
    order = list(CASES)
    return {
        **report,
        "cases": dict(
            sorted(cases.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
        ),
        "targets": sorted(
            targets, key=lambda t: order.index(t["case"]) if t["case"] in order else 99
        ),
    }


def save(report: dict[str, Any], results: Path, *, partial: bool) -> None:
    """`<started>.json` holds this run as measured; `latest.json` and `latest.md` every case's
    newest figures (after a partial run, the others' from the runs before)."""
    results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromisoformat(report["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    (results / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    latest = _merged_into_latest(report, results) if partial else report
    (results / "latest.json").write_text(json.dumps(latest, indent=2, default=str))
    (results / "latest.md").write_text(summary_markdown(latest))
    print(f"wrote {results / (stamp + '.json')}, latest.json, latest.md", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--only", choices=sorted(CASES), action="append", help="run only these")
    parser.add_argument("--no-save", action="store_true", help="print, do not write results/")
    args = parser.parse_args(argv)

    started = dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "cases": {},
        "targets": [],
    }
    shutil.rmtree(WORK, ignore_errors=True)
    for name in args.only or list(CASES):
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        work = WORK / name
        work.mkdir(parents=True, exist_ok=True)
        with HostSteal() as steal:
            try:
                body = CASES[name](work, args.quick)
            except Exception as exc:  # one broken case must not throw away the others' figures
                traceback.print_exc()
                failed = {"case": name, "name": f"{name} case ran", "target": "completes"}
                body = {
                    "error": repr(exc),
                    "targets": [{**failed, "measured": "error", "met": False}],
                }
        body["case_seconds"] = round(time.perf_counter() - t0, 1)
        body["cpu_steal_pct"] = steal.pct
        body["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report["cases"][name] = body
        report["targets"].extend(body.pop("targets", []))
        for row in report["targets"]:
            if row["case"] == name:
                print(f"   {row['name']}: {row['measured']} (target {row['target']})", flush=True)
    report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.no_save:
        print(json.dumps(report, indent=2, default=str))
        return 0
    save(report, RESULTS, partial=bool(args.only))
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
