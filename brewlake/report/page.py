"""The report document as one self-contained HTML page: pure, no Spark, no I/O.

Charts are Plotly figures; plotly.js is inlined once (`plotly.offline.get_plotlyjs()`), with the
CSS and the few lines of script the page needs, so the file opens offline from a disk, a bucket or
a mail attachment. The map is a plain longitude/latitude scatter (no tiles, no topojson: nothing to
fetch). The document itself is embedded as JSON (`<script type="application/json"
id="brewlake-data">`): every number shown is in it, with the SQL that produced it.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

DATA_ELEMENT_ID = "brewlake-data"
TOP_COUNTRIES = 15
NONE_LABEL = "(none)"
# Okabe-Ito and Tableau hues: distinct, readable for colour-blind readers, stable per type.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#4E79A7",
    "#59A14F",
    "#B07AA1",
    "#9C755F",
    "#76B7B2",
    "#EDC948",
    "#FF9DA7",
    "#BAB0AC",
)
LAYER_COLOURS = {"bronze": "#B87333", "silver": "#8A939C", "gold": "#C9A227"}
MIN_RUN_SLOTS = 5  # the run-health chart keeps this many slots, so one run is not one wide bar
STATUS_OK = "succeeded"
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}
# The map keeps its zoom and pan buttons.
MAP_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "toImage"],
}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def _label(value: Any) -> str:
    return NONE_LABEL if value is None else str(value)


def _n(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _esc(value: Any) -> str:
    return html.escape(_label(value))


def _rows(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return doc["datasets"].get(name, {}).get("rows", [])


def type_colours(doc: dict[str, Any]) -> dict[str, str]:
    """One colour per brewery type, the commonest first, so a type looks the same everywhere."""
    types = [_label(r["brewery_type"]) for r in _rows(doc, "by_type")]
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}


def _layout(fig: go.Figure, height: int, **extra: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font={"family": FONT, "size": 12, "color": "#24292f"},
        hoverlabel={"font": {"family": FONT}},
        **extra,
    )
    return fig


# ---- figures (each a pure function of the document)


def figure_by_type(doc: dict[str, Any]) -> go.Figure:
    rows = list(reversed(_rows(doc, "by_type")))
    colours = type_colours(doc)
    labels = [_label(r["brewery_type"]) for r in rows]
    fig = go.Figure(
        go.Bar(
            x=[r["brewery_count"] for r in rows],
            y=labels,
            orientation="h",
            marker_color=[colours[t] for t in labels],
            text=[f"{r['brewery_count']:,}  ({r['share']:.1%})" for r in rows],
            textposition="auto",
            hovertemplate="%{y}: %{x:,} breweries<extra></extra>",
        )
    )
    return _layout(fig, max(260, 24 * len(rows) + 40), xaxis_title="active breweries")


def country_bars(rows: list[dict[str, Any]], top: int = TOP_COUNTRIES) -> list[tuple[str, int]]:
    """(country, count), the `top` largest then one "other (N countries)" bar."""
    head = [(_label(r["country"]), int(r["brewery_count"])) for r in rows[:top]]
    rest = rows[top:]
    if rest:
        head.append((f"other ({len(rest)} countries)", sum(int(r["brewery_count"]) for r in rest)))
    return head


def figure_by_country(doc: dict[str, Any]) -> go.Figure:
    bars = list(reversed(country_bars(_rows(doc, "by_country"))))
    largest = max((n for _, n in bars), default=1)
    fig = go.Figure(
        go.Bar(
            x=[n for _, n in bars],
            y=[c for c, _ in bars],
            orientation="h",
            marker_color=["#8A939C" if c.startswith("other (") else "#0072B2" for c, _ in bars],
            text=[f"{n:,}" for _, n in bars],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,} breweries<extra></extra>",
        )
    )
    return _layout(
        fig,
        max(260, 24 * len(bars) + 50),
        # Powers of ten only, and room on the right for the largest bar's label.
        xaxis={
            "type": "log",
            "title": "active breweries (log scale)",
            "dtick": 1,
            "range": [-0.1, math.log10(max(largest, 1)) + 0.6],
        },
    )


def map_range(values: list[float], inhabited: tuple[float, float], limit: float) -> list[float]:
    """The `inhabited` span, widened to every value (swapped coordinates land far south), within
    ±`limit`."""
    low = min([inhabited[0], *(v - 3 for v in values)])
    high = max([inhabited[1], *(v + 3 for v in values)])
    return [max(low, -limit), min(high, limit)]


def figure_map(doc: dict[str, Any]) -> go.Figure:
    points = _rows(doc, "map_points")
    colours = type_colours(doc)
    fig = go.Figure()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_type.setdefault(_label(p["brewery_type"]), []).append(p)
    order = [t for t in colours if t in by_type] + sorted(set(by_type) - set(colours))
    for kind in order:
        mine = by_type[kind]
        fig.add_trace(
            go.Scatter(
                x=[p["longitude"] for p in mine],
                y=[p["latitude"] for p in mine],
                mode="markers",
                name=kind,
                marker={"size": 6, "color": colours.get(kind, "#444"), "opacity": 0.8},
                customdata=[
                    [_label(p["name"]), _label(p["city"]), _label(p["country"])] for p in mine
                ],
                hovertemplate=(
                    "<b>%{customdata[0]}</b><br>%{customdata[1]}, %{customdata[2]}<br>"
                    + kind
                    + "<br>%{y:.4f}, %{x:.4f}<extra></extra>"
                ),
            )
        )
    suspect = [p for p in points if p["is_location_suspect"]]
    fig.add_trace(
        go.Scatter(
            x=[p["longitude"] for p in suspect],
            y=[p["latitude"] for p in suspect],
            mode="markers",
            name="suspect location",
            marker={"size": 11, "symbol": "circle-open", "color": "#C0392B", "line": {"width": 2}},
            customdata=[[_label(p["name"]), _label(p["country"])] for p in suspect],
            hovertemplate="<b>%{customdata[0]}</b> (%{customdata[1]})<br>suspect coordinates"
            "<br>%{y:.4f}, %{x:.4f}<extra></extra>",
        )
    )
    return _layout(
        fig,
        520,
        xaxis={
            "title": "longitude",
            "range": map_range([p["longitude"] for p in points], (-180, 180), 180),
            "dtick": 30,
            "zeroline": False,
        },
        yaxis={
            "title": "latitude",
            "range": map_range([p["latitude"] for p in points], (-60, 80), 90),
            "dtick": 20,
            "zeroline": False,
            "scaleanchor": "x",
        },
        legend={"itemsizing": "constant", "y": 0.9},
    )


CHANGE_KINDS = (
    ("new_count", "new", "#009E73"),
    ("changed_count", "changed", "#0072B2"),
    ("deactivated_count", "deactivated", "#D55E00"),
    ("reactivated_count", "reactivated", "#CC79A7"),
)


def figure_changes(doc: dict[str, Any]) -> go.Figure:
    rows = list(reversed(_rows(doc, "changes")))
    labels = [_label(r["brewery_type"]) for r in rows]
    fig = go.Figure(
        [
            go.Bar(
                x=[r[column] for r in rows],
                y=labels,
                orientation="h",
                name=name,
                marker_color=colour,
                hovertemplate="%{y}: %{x:,} " + name + "<extra></extra>",
            )
            for column, name, colour in CHANGE_KINDS
        ]
    )
    return _layout(
        fig,
        max(240, 26 * len(rows) + 70),
        barmode="stack",
        xaxis_title="breweries",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
    )


def layer_order(layer: str) -> tuple[int, str]:
    """Pipeline order (bronze, silver, gold), then any other layer by name."""
    known = list(LAYER_COLOURS)
    return (known.index(layer) if layer in known else len(known), layer)


def run_slot(index: int) -> str:
    """The x label of a layer's run `index` places before its latest (0 is the latest)."""
    return "latest" if index == 0 else f"−{index}"


def figure_runs(doc: dict[str, Any]) -> go.Figure:
    """Duration of each layer's last runs side by side, oldest left; failures red and hatched."""
    runs = _rows(doc, "runs")  # newest first within each layer
    layers = sorted({r["layer"] for r in runs}, key=layer_order)
    depth = max((sum(1 for r in runs if r["layer"] == layer) for layer in layers), default=0)
    depth = max(depth, MIN_RUN_SLOTS)
    fig = go.Figure()
    for layer in layers:
        mine = [r for r in runs if r["layer"] == layer]
        colour = LAYER_COLOURS.get(layer, "#444")
        ok = [r["status"] == STATUS_OK for r in mine]
        fig.add_trace(
            go.Bar(
                x=[run_slot(i) for i in range(len(mine))],
                y=[r["duration_s"] for r in mine],
                name=layer,
                marker={
                    "color": [colour if good else "#C0392B" for good in ok],
                    "pattern": {"shape": ["" if good else "x" for good in ok]},
                },
                customdata=[
                    [r["finished_at"], r["status"], r["rows_in"], r["rows_out"]] for r in mine
                ],
                hovertemplate=layer + " run finished %{customdata[0]} UTC<br>%{customdata[1]}, "
                "%{y:.1f} s<br>rows in %{customdata[2]:,}, out %{customdata[3]:,}<extra></extra>",
            )
        )
    order = [run_slot(i) for i in reversed(range(depth))]
    return _layout(
        fig,
        260,
        barmode="group",
        yaxis={"title": "duration (s)", "rangemode": "tozero"},
        xaxis={
            "title": "run, latest on the right",
            "categoryorder": "array",
            "categoryarray": order,
            "range": [-0.5, len(order) - 0.5],  # empty slots stay, so bars keep one width
        },
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
    )


def chart(fig: go.Figure, div_id: str, config: dict[str, Any] = CONFIG) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config=config, div_id=div_id)


# ---- HTML pieces


def _sql(doc: dict[str, Any], *names: str) -> str:
    blocks = "".join(
        f"<pre>{html.escape(doc['datasets'][n]['sql'])}</pre>"
        for n in names
        if n in doc["datasets"]
    )
    summary = "<summary>SQL (run it with <code>brewlake sql</code>)</summary>"
    return f'<details class="sql">{summary}{blocks}</details>'


def _card(title: str, body: str, *, note: str = "", wide: bool = False, sql: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    cls = "card wide" if wide else "card"
    return f'<section class="{cls}"><h2>{title}</h2>{note_html}{body}{sql}</section>'


def _table(header: list[str], rows: list[list[str]], *, table_id: str = "", numeric=()) -> str:
    head = "".join(
        f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(status: str) -> str:
    kind = "ok" if status in (STATUS_OK, "passed") else "bad"
    return f'<span class="badge {kind}">{html.escape(status)}</span>'


def kpis(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(value, label, tone) of the header's figures."""
    by_type = _rows(doc, "by_type")
    total = sum(int(r["brewery_count"]) for r in by_type)
    [loc] = _rows(doc, "locations") or [{"active": 0, "located": 0, "suspect": 0}]
    located = int(loc["located"] or 0)
    share = f"{located / total:.0%}" if total else "–"
    out = [
        (f"{total:,}", "active breweries", ""),
        (f"{len(_rows(doc, 'by_country')):,}", "countries", ""),
        (f"{len(by_type):,}", "brewery types", ""),
        (f"{located:,} ({share})", "with coordinates", ""),
        (f"{int(loc['suspect'] or 0):,}", "suspect locations", "warn" if loc["suspect"] else ""),
    ]
    changes = doc["datasets"].get("changes")
    if changes is not None and "error" not in changes:
        new = sum(int(r["new_count"]) for r in changes["rows"])
        gone = sum(int(r["deactivated_count"]) for r in changes["rows"])
        changed = sum(int(r["changed_count"]) for r in changes["rows"])
        out.append((f"+{new:,} / ~{changed:,} / −{gone:,}", "new / changed / gone", ""))
    runs = _rows(doc, "runs")
    if runs:
        latest: dict[str, dict[str, Any]] = {}
        for r in runs:  # newest first within each layer
            latest.setdefault(r["layer"], r)
        bad = [layer for layer, r in latest.items() if r["status"] != STATUS_OK]
        out.append(
            (
                "all ok" if not bad else "failed: " + ", ".join(bad),
                "last run per layer",
                "bad" if bad else "ok",
            )
        )
    return out


def section_states(doc: dict[str, Any]) -> str:
    rows = _rows(doc, "states")
    cells = [
        [_esc(r["country"]), _esc(r["state"]), _n(r["brewery_count"]), str(r["rank_in_country"])]
        for r in rows
    ]
    search = (
        '<input id="state-search" type="search" placeholder="filter by country or state…" '
        'aria-label="filter states">'
        f'<span id="state-count" class="note">{len(rows):,} states</span>'
    )
    table = _table(
        ["country", "state", "breweries", "rank in country"],
        cells,
        table_id="states",
        numeric=(2, 3),
    )
    return search + f'<div class="scroll">{table}</div>'


def section_runs(doc: dict[str, Any]) -> str:
    # Stable sort: newest first within each layer, as queried; layers in pipeline order.
    runs = sorted(_rows(doc, "runs"), key=lambda r: layer_order(r["layer"]))
    if not runs:
        return '<p class="empty">No runs recorded in ops.pipeline_runs yet.</p>'
    cells = [
        [
            html.escape(r["layer"]),
            html.escape(r["finished_at"] or ""),
            html.escape(r["logical_date"] or ""),
            _badge(r["status"]),
            f"{r['duration_s']:.1f}" if r["duration_s"] is not None else "–",
            _n(r["rows_in"]),
            _n(r["rows_out"]),
            _n(r["quarantined"]),
            f"{(r['checks_total'] or 0) - (r['checks_failed'] or 0)}/{r['checks_total'] or 0}",
            html.escape((r["error"] or "")[:160]),
        ]
        for r in runs
    ]
    header = [
        "layer",
        "finished (UTC)",
        "logical date",
        "status",
        "seconds",
        "rows in",
        "rows out",
        "quarantined",
        "checks passed",
        "error",
    ]
    return (
        chart(figure_runs(doc), "chart-runs")
        + '<div class="scroll short">'
        + _table(header, cells, numeric=(4, 5, 6, 7, 8))
        + "</div>"
    )


def section_checks(doc: dict[str, Any]) -> str:
    checks = sorted(_rows(doc, "checks"), key=lambda c: layer_order(c["layer"]))
    if not checks:
        return '<p class="empty">No quality checks recorded in ops.quality_checks yet.</p>'

    def num(v: Any) -> str:
        if v is None:
            return "–"
        return f"{int(v):,}" if float(v).is_integer() else f"{v:,.4g}"

    cells = [
        [
            html.escape(c["layer"]),
            html.escape(c["rule"]),
            _badge("passed" if c["passed"] else "failed"),
            num(c["observed"]),
            num(c["threshold"]),
            html.escape(c["checked_at"] or ""),
        ]
        for c in checks
    ]
    return _table(
        ["layer", "rule", "result", "observed", "threshold", "checked (UTC)"], cells, numeric=(3, 4)
    )


def section_changes(doc: dict[str, Any]) -> tuple[str, str]:
    versions = doc["versions"]
    changes = doc["datasets"].get("changes")
    silver = versions["silver.breweries"]
    if changes is None:
        return f"silver v{silver} is the first version: nothing to compare with.", ""
    note = f"silver.breweries v{versions['previous_silver']} → v{silver}"
    if "error" in changes:
        return note, f'<p class="empty">Not available: {html.escape(changes["error"])}</p>'
    if not changes["rows"]:
        return note, '<p class="empty">No brewery changed between these versions.</p>'
    return note, chart(figure_changes(doc), "chart-changes")


STYLE = """
:root { --ink:#24292f; --muted:#57606a; --line:#d8dee4; --bg:#f6f8fa; --gold:#C9A227; }
* { box-sizing: border-box; }
body { margin:0; font-family:FONT; color:var(--ink); background:var(--bg); }
header { background:#1f2328; color:#fff; padding:22px 32px 18px;
  border-bottom:4px solid var(--gold); }
header h1 { margin:0 0 4px; font-size:24px; font-weight:650; letter-spacing:.2px; }
header h1 span { color:var(--gold); }
header .meta { color:#c9d1d9; font-size:13px; }
header .meta b { color:#fff; font-weight:600; }
header .meta.sub { color:#8b949e; font-size:12px; margin-top:2px; }
.kpis { display:flex; flex-wrap:wrap; gap:12px; padding:18px 32px 0; }
.kpi { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 16px;
  min-width:150px; }
.kpi .v { font-size:20px; font-weight:650; }
.kpi .l { font-size:12px; color:var(--muted); }
.kpi.warn .v { color:#9a6700; } .kpi.bad .v { color:#C0392B; } .kpi.ok .v { color:#1a7f37; }
main { display:grid; grid-template-columns:repeat(2, minmax(0, 1fr)); gap:18px;
  padding:18px 32px 32px; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:16px 18px;
  min-width:0; }
.card.wide { grid-column:1 / -1; }
.card h2 { margin:0 0 2px; font-size:16px; font-weight:650; }
.note { color:var(--muted); font-size:12.5px; margin:0 0 8px; }
.empty { color:var(--muted); font-style:italic; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid #eaeef2; white-space:nowrap; }
th { position:sticky; top:0; background:#fff; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.scroll { max-height:360px; overflow:auto; border:1px solid #eaeef2; border-radius:6px; }
.scroll.short { max-height:300px; margin-top:10px; }
.badge { padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.badge.ok { background:#dafbe1; color:#1a7f37; } .badge.bad { background:#ffebe9; color:#C0392B; }
input[type=search] { width:260px; padding:6px 10px; border:1px solid var(--line); border-radius:6px;
  font:inherit; margin:0 10px 8px 0; }
details.sql { margin-top:8px; font-size:12px; color:var(--muted); }
details.sql pre { white-space:pre-wrap; background:var(--bg); padding:8px; border-radius:6px;
  color:var(--ink); }
footer { color:var(--muted); font-size:12px; padding:0 32px 28px; }
@media (max-width: 1000px) { main { grid-template-columns:1fr; } }
""".replace("FONT", FONT)

SCRIPT = """
(function () {
  var input = document.getElementById('state-search');
  if (!input) return;
  var rows = Array.prototype.slice.call(document.querySelectorAll('#states tbody tr'));
  var count = document.getElementById('state-count');
  input.addEventListener('input', function () {
    var needle = input.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var hit = !needle || row.textContent.toLowerCase().indexOf(needle) >= 0;
      row.style.display = hit ? '' : 'none';
      if (hit) shown += 1;
    });
    count.textContent = shown.toLocaleString() + ' states';
  });
})();
"""


def _embedded(doc: dict[str, Any]) -> str:
    # `</` cannot appear inside a script element; `<\\/` is the same JSON string.
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{DATA_ELEMENT_ID}">{text}</script>'


def gold_versions(versions: dict[str, Any]) -> str:
    """ "gold v3" when every gold table is at one version, else each table's."""
    gold = {t: n for t, n in versions.items() if t.startswith("gold.")}
    if len(set(gold.values())) == 1:
        return f"gold <b>v{next(iter(gold.values()))}</b>"
    return ", ".join(f"{html.escape(t)} <b>v{n}</b>" for t, n in gold.items())


def _header(doc: dict[str, Any]) -> str:
    v = doc["versions"]
    return (
        "<header><h1>brew<span>lake</span> · breweries report</h1>"
        f'<div class="meta">logical date <b>{_esc(doc["logical_date"])}</b> · '
        f"silver.breweries <b>v{v['silver.breweries']}</b> · {gold_versions(v)} "
        f"(committed {_esc(doc['gold_committed_at'])} UTC)</div>"
        f'<div class="meta sub">generated {_esc(doc["generated_at"])} · '
        f"lake {_esc(doc['lake'])} · brewlake {_esc(doc['brewlake_version'])}</div></header>"
    )


def render(doc: dict[str, Any]) -> str:
    """The whole page for a report document (see `brewlake.report.build.collect`)."""
    kpi_html = "".join(
        f'<div class="kpi {tone}"><div class="v">{html.escape(v)}</div>'
        f'<div class="l">{label}</div></div>'
        for v, label, tone in kpis(doc)
    )
    [loc] = _rows(doc, "locations") or [{"located": 0}]
    shown = len(_rows(doc, "map_points"))
    map_note = (
        f"{shown:,} breweries with coordinates, coloured by type; "
        "suspect coordinates circled in red."
        if shown >= int(loc["located"] or 0)
        else f"A stable sample of {shown:,} of {int(loc['located']):,} breweries with coordinates "
        "(BREWLAKE_REPORT_MAP_POINTS); suspect coordinates circled in red."
    )
    change_note, change_body = section_changes(doc)
    cards = [
        _card(
            "Breweries by type",
            chart(figure_by_type(doc), "chart-by-type"),
            note="Active breweries per brewery_type, with their share.",
            sql=_sql(doc, "by_type"),
        ),
        _card(
            "Breweries by country",
            chart(figure_by_country(doc), "chart-by-country"),
            note=f"The {TOP_COUNTRIES} largest countries, then the rest together; log scale.",
            sql=_sql(doc, "by_country"),
        ),
        _card(
            "Where they are",
            chart(figure_map(doc), "chart-map", MAP_CONFIG),
            note=map_note,
            wide=True,
            sql=_sql(doc, "locations", "map_points"),
        ),
        _card(
            "Top states per country",
            section_states(doc),
            note="Every state, ranked within its country; type to filter.",
            sql=_sql(doc, "states"),
        ),
        _card(
            "Change since the previous silver version",
            change_body,
            note=change_note,
            sql=_sql(doc, "changes"),
        ),
        _card(
            "Run health",
            section_runs(doc),
            wide=True,
            note="The last runs of each layer (ops.pipeline_runs); failed runs red and hatched.",
            sql=_sql(doc, "runs"),
        ),
        _card(
            "Quality checks",
            section_checks(doc),
            wide=True,
            note="Each rule a layer evaluates, with its latest result (ops.quality_checks).",
            sql=_sql(doc, "checks"),
        ),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>brewlake report · {_esc(doc['logical_date'])}</title>"
        f"<style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body>"
        + _header(doc)
        + f'<div class="kpis">{kpi_html}</div>'
        + "<main>"
        + "".join(cards)
        + "</main>"
        + "<footer>Every number on this page comes from the SQL under its chart, pinned to Delta "
        'versions: <code>brewlake sql "…"</code> gives the same result. The data is embedded in '
        f"this file as JSON (<code>#{DATA_ELEMENT_ID}</code>).</footer>"
        + _embedded(doc)
        + f"<script>{SCRIPT}</script>"
        + "</body></html>"
    )
