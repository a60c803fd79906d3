"""`brewlake status`: per layer, the last run, the last successful run, its age, counts and the
latest quality results — from `ops.pipeline_runs`/`ops.quality_checks` plus runs still buffered.

Exit code 0 when healthy; 1 when gold's last success is older than `BREWLAKE_GOLD_SLA_HOURS`
(or gold never succeeded) or the last run of any layer did not succeed — usable from cron or an
Airflow sensor. Spark starts only when the ops tables exist.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from brewlake import command, delta
from brewlake.catalog import OPS_PIPELINE_RUNS, OPS_QUALITY_CHECKS
from brewlake.config import Settings
from brewlake.console import render_table
from brewlake.lake import Lake
from brewlake.ops import tables
from brewlake.storage import open_store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LAYERS = ("bronze", "silver", "gold")
SLA_LAYER = "gold"
_RUN_FIELDS = (
    "event_id",
    "run_id",
    "layer",
    "logical_date",
    "status",
    "finished_at",
    "duration_s",
    "rows_in",
    "rows_out",
    "quarantined",
    "duplicates",
    "error_class",
    "error",
)


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def ops_tables_exist(settings: Settings) -> bool:
    store, lake = open_store(settings), Lake(settings)
    return delta.has_log(store, lake.table_key(OPS_PIPELINE_RUNS))


def _from_delta(spark: SparkSession, settings: Settings) -> tuple[list[dict], list[dict]]:
    """Every run and check row, narrow: a few rows per layer per day, so plain collects beat
    shuffles (one Spark job per table)."""
    from pyspark.sql import functions as F

    def collect(table, columns, time_column):
        frame = tables.read_table(spark, settings, table)
        if frame is None:
            return []
        # Timestamps leave Spark as epoch micros: collect() would render them in local time.
        rows = frame.select(*columns, F.unix_micros(time_column).alias("_us")).collect()
        out = []
        for row in rows:
            doc = row.asDict()
            doc["at"] = dt.datetime.fromtimestamp(doc.pop("_us") / 1e6, dt.UTC)
            out.append(doc)
        return out

    run_columns = [c for c in _RUN_FIELDS if c not in ("finished_at", "logical_date")]
    runs = collect(
        OPS_PIPELINE_RUNS,
        [*run_columns, F.col("logical_date").cast("string").alias("logical_date")],
        "finished_at",
    )
    for run in runs:
        run["finished_at"] = run.pop("at")
    check_columns = ["layer", "event_id", "rule", "passed", "observed", "threshold"]
    return runs, collect(OPS_QUALITY_CHECKS, check_columns, "checked_at")


def _from_buffer(settings: Settings) -> tuple[list[dict], list[dict]]:
    runs, checks = [], []
    for _, body in tables.pending(settings):
        run = {k: body["run"].get(k) for k in _RUN_FIELDS}
        run["finished_at"] = _utc(run["finished_at"])
        runs.append(run)
        checks += [{**c, "at": run["finished_at"]} for c in body.get("checks", [])]
    return runs, checks


def collect_status(
    settings: Settings,
    spark: SparkSession | None = None,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The status document `brewlake status --format json` prints."""
    now = now or dt.datetime.now(dt.UTC)
    runs, checks = [], []
    if spark is not None:
        runs, checks = _from_delta(spark, settings)
    buffered_runs, buffered_checks = _from_buffer(settings)
    # A buffered run already ingested (crash before its file was deleted) counts once.
    runs = list({r["event_id"]: r for r in runs + buffered_runs}.values())
    checks += buffered_checks

    layers = list(LAYERS) + sorted({r["layer"] for r in runs} - set(LAYERS))
    report: list[dict[str, Any]] = []
    problems: list[str] = []
    for layer in layers:
        mine = sorted(
            (r for r in runs if r["layer"] == layer), key=lambda r: r["finished_at"], reverse=True
        )
        last = mine[0] if mine else None
        ok = next((r for r in mine if r["status"] == "succeeded"), None)
        age_h = (now - ok["finished_at"]).total_seconds() / 3600 if ok else None
        # The latest quality results: every check of the layer's most recent checked run.
        layer_checks = [c for c in checks if c["layer"] == layer]
        newest = max(layer_checks, key=lambda c: c["at"])["event_id"] if layer_checks else None
        latest_checks = [c for c in layer_checks if c["event_id"] == newest]
        entry = {
            "layer": layer,
            "last_run": _run_doc(last),
            "last_success": _run_doc(ok),
            "age_hours": None if age_h is None else round(age_h, 2),
            "checks": [
                {k: c.get(k) for k in ("rule", "passed", "observed", "threshold")}
                for c in sorted(latest_checks, key=lambda c: c["rule"])
            ],
        }
        report.append(entry)
        if last is not None and last["status"] != "succeeded":
            problems.append(
                f"{layer}: last run {last['run_id']} {last['status']}"
                + (f" ({last['error_class']}: {last['error']})" if last.get("error") else "")
            )
        if layer == SLA_LAYER:
            if ok is None:
                problems.append(f"{layer}: no successful run recorded")
            elif age_h > settings.gold_sla_hours:
                problems.append(
                    f"{layer}: last success {age_h:.1f} h ago, over the "
                    f"{settings.gold_sla_hours:g} h SLA"
                )
    return {
        "checked_at": now.isoformat(timespec="seconds"),
        "gold_sla_hours": settings.gold_sla_hours,
        "healthy": not problems,
        "problems": problems,
        "layers": report,
    }


def _run_doc(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    doc = {k: run.get(k) for k in _RUN_FIELDS if k not in ("event_id", "layer")}
    doc["finished_at"] = run["finished_at"].isoformat(timespec="seconds")
    return doc


def status_table(doc: dict[str, Any]) -> str:
    """The status document as a table per layer, then the verdict and the problems."""
    header = (
        "layer",
        "last run",
        "status",
        "last success",
        "age h",
        "in",
        "out",
        "quar.",
        "checks",
    )
    rows = []
    for entry in doc["layers"]:
        last, ok = entry["last_run"] or {}, entry["last_success"] or {}
        checks = entry["checks"]
        failed = [c["rule"] for c in checks if not c["passed"]]
        check_text = (
            "-"
            if not checks
            else f"{len(checks) - len(failed)}/{len(checks)} passed"
            + (f" (failed: {', '.join(failed)})" if failed else "")
        )
        rows.append(
            (
                entry["layer"],
                last.get("finished_at", "never"),
                last.get("status", "-"),
                ok.get("finished_at", "never"),
                "-" if entry["age_hours"] is None else f"{entry['age_hours']:.1f}",
                str(ok.get("rows_in", "-")),
                str(ok.get("rows_out", "-")),
                str(ok.get("quarantined", "-")),
                check_text,
            )
        )
    verdict = "healthy" if doc["healthy"] else "UNHEALTHY"
    out = [
        render_table(header, rows).rstrip("\n"),
        "",
        f"{verdict} (gold SLA {doc['gold_sla_hours']:g} h, checked {doc['checked_at']})",
    ]
    out += [f"  - {p}" for p in doc["problems"]]
    return "\n".join(out)


app = command.app()


@app.command(
    "status",
    help="freshness and last runs per layer; exit 1 when gold is stale or a run failed",
)
def status_command(
    fmt: Annotated[Literal["table", "json"], typer.Option("--format")] = "table",
    verbose: command.Verbose = False,
) -> None:
    from brewlake import log as logmod
    from brewlake.config import load_settings
    from brewlake.errors import guarded

    def go() -> int:
        settings = load_settings()
        logmod.configure("DEBUG" if verbose else "WARNING", settings.log_format)
        spark = None
        if ops_tables_exist(settings):
            from brewlake.spark import build_session

            # The ops tables are read by path: a probe should not wait for every name to register.
            spark = build_session(settings, "brewlake-status", register_tables=False)
        doc = collect_status(settings, spark)
        if fmt == "json":
            print(json.dumps(doc, indent=2, default=str, ensure_ascii=False))
        else:
            print(status_table(doc))
        return 0 if doc["healthy"] else 1

    raise typer.Exit(guarded(go, verbose=verbose))


def main(argv: list[str] | None = None) -> int:
    return command.run(app, argv, "brewlake status")
