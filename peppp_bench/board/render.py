"""Render the leaderboard: a Markdown README and a static, self-contained index.html.

Both are pure functions of the valid submissions and their verification marks, so a rebuild is
byte-identical. The page embeds its data as JSON and draws tables and charts with inline script:
it opens from disk with no server and no network.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..protocol.rules import SETTING_ORDER
from ..protocol.runner import summarize
from .leaderboard import BOARD_METRICS, COMPARED_WITH, SHOWN_BUDGETS, average_ranks, board, paired_versus

LABELS = {"convergence": "convergence", "hyperdiff": "HyperDiff", "regret": "regret", "relative_memory": "rel. memory"}


# Suites built from the authors' released arrays: their values are never embedded in a page.
NOT_EMBEDDED = ("paper", "paper-lr")


def frontier_views(bench: Any, n: int = 10) -> dict[str, Any]:
    """Per dataset: every configuration's (memory, error), the true frontier, and ED-MF's estimated frontier
    (setting I, n measurements, seed 0) with the configurations it measured."""
    from ..pareto import pareto_mask
    from ..protocol.registry import method_class
    from ..protocol.runner import estimated_frontier

    ed_mf = method_class("ed-mf")

    views = {}
    for i, dataset in enumerate(bench.dataset_ids):
        est = estimated_frontier(ed_mf(), bench, dataset, "I", n)
        views[dataset] = {
            "memory": [round(float(v), 3) for v in bench.M[i]],
            "error": [round(float(v), 5) for v in bench.E[i]],
            "true_frontier": [int(j) for j in np.flatnonzero(pareto_mask(bench.M[i], bench.E[i]))],
            "estimated_frontier": est["frontier"],
            "estimated_error": [round(v, 5) for v in est["predicted"]],
            "measured": est["measured"],
        }
    return views


def noise_sentence(noise: dict[str, Any] | None) -> str:
    """The suite's noise floor in words, from the noise_* entries of its structure report."""
    if not noise:
        return "Noise floor: unknown (the suite was not at hand when the board was built)."
    if not noise.get("noise_replicated_cells"):
        return "Noise floor: not measurable, the suite has one seed per cell."
    return (
        f"Noise floor: HyperDiff {noise['noise_floor_hyperdiff']} between seed replicates of the same row "
        f"({noise['noise_fully_replicated_datasets']} datasets re-trained in every configuration); seed-to-seed "
        f"standard deviation of error {noise['noise_seed_std_of_error']} over {noise['noise_replicated_cells']} "
        f"replicated cells: noise is {noise['noise_share_of_row_variance_median']:.0%} of a row's variance across "
        f"configurations (median over rows; mean {noise['noise_share_of_row_variance_mean']:.0%}). "
        "HyperDiff differences below the floor are within seed noise."
    )


def board_data(
    subs: list[dict[str, Any]],
    verified: dict[str, bool | None],
    frontiers: dict[str, dict[str, Any]] | None = None,
    noise: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the page and the README show, per suite and setting."""
    data: dict[str, Any] = {"suites": {}}
    for suite in sorted({s["suite"]["name"] for s in subs}):
        mine = [s for s in subs if s["suite"]["name"] == suite]
        folds = board(mine)
        entry: dict[str, Any] = {
            "data_sha256": mine[0]["suite"]["data_sha256"],
            "settings": {},
            "noise": noise_sentence((noise or {}).get(suite)),
            "frontiers": (frontiers or {}).get(suite, {}),
        }
        for setting in sorted(folds.setting.unique(), key=SETTING_ORDER.index):
            f = folds[folds.setting == setting]
            ranks = average_ranks(f)
            summary = summarize(f, BOARD_METRICS)
            methods = []
            for s in mine:
                name = s["method"]["name"]
                rows = summary[summary.method == name]
                if rows.empty:
                    continue
                curve = {
                    m: [
                        [int(r.n), _num(getattr(r, f"{m}_mean")), _num(getattr(r, f"{m}_se"))]
                        for r in rows.itertuples()
                    ]
                    for m in BOARD_METRICS
                }
                methods.append(
                    {
                        "name": name,
                        "authors": s["method"]["authors"],
                        "reference": s["method"]["reference"],
                        "verified": verified.get(name + "@" + suite),
                        "average_rank": _num(ranks.get(name)),
                        "failed": int(rows.failed.sum()),
                        "curves": curve,
                        "versus": {
                            ref: {str(n): paired_versus(f[f.n == n], name, ref) for n in sorted(set(f.n))}
                            for ref in COMPARED_WITH
                            if ref != name and ref in set(f.method)
                        },
                    }
                )
            methods.sort(
                key=lambda m: (m["reference"], m["average_rank"] if m["average_rank"] is not None else 1e9, m["name"])
            )
            entry["settings"][setting] = methods
        data["suites"][suite] = entry
    return data


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else round(float(x), 6)


def _cell(curve: list[list[Any]], n: int) -> str:
    for m, mean, se in curve:
        if m == n and mean is not None:
            return f"{mean:.4f} ± {se or 0:.4f}"
    return "–"


def render_markdown(data: dict[str, Any]) -> str:
    lines = [
        "# peppp-bench leaderboard",
        "",
        "Built by `peppp-bench leaderboard build` from `leaderboard/submissions/` (do not edit by hand). ",
        "Cells are mean ± standard error over folds. Lower is better for every metric. "
        "Average rank: by regret (best error on the estimated frontier) per fold and budget n = "
        "5…15, ties sharing the lowest rank. vs ed-mf, vs bo-full: at n = 5 / 10 / 15, the two-sided sign test's p "
        "on HyperDiff over paired folds, with the folds the method wins and loses (W/L). ✓ verified: re-run from the repository and reproduced. "
        "Reference bounds (they see the held-out row) are listed last and never ranked.",
        "",
    ]
    for suite, entry in data["suites"].items():
        lines += [f"## Suite `{suite}`", "", f"Data sha256 `{entry['data_sha256']}`.", "", entry["noise"], ""]
        for setting, methods in entry["settings"].items():
            lines += [f"### Setting {setting}", ""]
            header = ["method", "verified"] + [f"{LABELS[m]} n={n}" for m in BOARD_METRICS for n in SHOWN_BUDGETS]
            header += ["avg rank"] + [f"vs {ref} (p, W/L)" for ref in COMPARED_WITH]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for m in methods:
                name = m["name"] + (" (reference bound)" if m["reference"] else "")
                mark = {True: "✓", False: "✗", None: "–"}[m["verified"]]
                cells = [_cell(m["curves"][metric], n) for metric in BOARD_METRICS for n in SHOWN_BUDGETS]
                rank = "–" if m["reference"] or m["average_rank"] is None else f"{m['average_rank']:.2f}"
                vs = [
                    " · ".join(
                        f"{v['p']:.2g} ({v['wins']}/{v['losses']})"
                        for v in (m["versus"][ref][str(n)] for n in SHOWN_BUDGETS if str(n) in m["versus"][ref])
                    )
                    if ref in m["versus"]
                    else "–"
                    for ref in COMPARED_WITH
                ]
                lines.append("| " + " | ".join([name, mark, *cells, rank, *vs]) + " |")
            lines.append("")
    return "\n".join(lines)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>peppp-bench leaderboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none}
td:first-child,th:first-child{text-align:left}
tr.reference td{color:#777;font-style:italic}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{border:1px solid #ddd;padding:4px}
select{font-size:14px;margin-right:1em}
</style></head><body>
<h1>peppp-bench leaderboard</h1>
<p>Mean ± standard error over meta-LOOCV folds; lower is better. Click a column header to sort.
Average rank by regret (best error on the estimated frontier). Reference bounds see the held-out row and are not ranked.</p>
<label>Suite <select id="suite"></select></label>
<label>Setting <select id="setting"></select></label>
<label>Budget n <select id="budget"></select></label>
<p id="noise"></p>
<div id="table"></div>
<h2>Metrics versus budget n</h2><div class="charts" id="charts-n"></div>
<h2>Metrics versus relative memory used</h2><div class="charts" id="charts-mem"></div>
<div id="frontier-section"><h2>A dataset's true and estimated frontiers</h2>
<p>Grey: every configuration (true memory, true error). Red: the true Pareto frontier. Blue: ED-MF's estimated
frontier (true memory, predicted error) after 10 measurements in setting I (rings: the measured configurations).</p>
<label>Dataset <select id="dataset"></select></label><div id="frontier"></div></div>
<script id="board-data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("board-data").textContent);
const METRICS = ["convergence", "hyperdiff", "regret", "relative_memory"];
const COMPARED = __COMPARED__;
const LABELS = {convergence: "convergence", hyperdiff: "HyperDiff", regret: "regret", relative_memory: "relative memory"};
const COLORS = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf",
                "#aec7e8","#ff9896","#98df8a","#ffbb78","#c5b0d5","#c49c94","#f7b6d2","#dbdb8d"];
const $ = id => document.getElementById(id);
let sortKey = "average_rank", sortAsc = true;
function fill(sel, values) { sel.innerHTML = values.map(v => `<option value="${v}">${v}</option>`).join(""); }
function methods() { return DATA.suites[$("suite").value].settings[$("setting").value] || []; }
function at(curve, n) { const r = curve.find(p => p[0] === n); return r && r[1] !== null ? r : null; }
function value(m, key) {
  const n = +$("budget").value;
  if (key === "name") return m.name;
  if (key === "average_rank") return m.reference ? Infinity : (m.average_rank ?? Infinity);
  if (key === "verified") return m.verified === true ? 0 : (m.verified === false ? 2 : 1);
  const r = at(m.curves[key], n); return r ? r[1] : Infinity;
}
function renderTable() {
  const rows = methods().slice().sort((a, b) => {
    const x = value(a, sortKey), y = value(b, sortKey);
    if (x < y) return sortAsc ? -1 : 1; if (x > y) return sortAsc ? 1 : -1; return a.name < b.name ? -1 : 1;
  });
  const n = +$("budget").value;
  const refs = COMPARED;
  const head = ["name", "verified", ...METRICS, "average_rank", ...refs.map(r => "vs:" + r)];
  const titles = {name: "method", verified: "verified", average_rank: "avg rank"};
  refs.forEach(r => titles["vs:" + r] = `vs ${r} in HyperDiff (W/T/L, p; n=${n})`);
  let h = "<table id='board'><thead><tr>" + head.map(k => `<th data-key="${k}">${titles[k] || LABELS[k] + " (n=" + n + ")"}</th>`).join("") + "</tr></thead><tbody>";
  for (const m of rows) {
    const cells = [m.name + (m.reference ? " (reference bound)" : ""), m.verified === true ? "✓" : (m.verified === false ? "✗" : "–")];
    for (const k of METRICS) { const r = at(m.curves[k], n); cells.push(r ? r[1].toFixed(4) + " ± " + (r[2] ?? 0).toFixed(4) : "–"); }
    cells.push(m.reference || m.average_rank === null ? "–" : m.average_rank.toFixed(2));
    for (const r of refs) { const v = m.versus[r] && m.versus[r][n];
      cells.push(v ? `${v.wins}/${v.ties}/${v.losses}, p=${v.p.toPrecision(2)}` : "–"); }
    h += `<tr class="${m.reference ? "reference" : ""}" data-method="${m.name}">` + cells.map(c => `<td>${c}</td>`).join("") + "</tr>";
  }
  $("table").innerHTML = h + "</tbody></table>";
  document.querySelectorAll("#board th").forEach(th => th.onclick = () => {
    const k = th.dataset.key; if (k.startsWith("vs:")) return;
    sortAsc = sortKey === k ? !sortAsc : true; sortKey = k; renderTable();
  });
}
function chart(series, xLabel, yLabel) {
  const W = 330, H = 220, L = 48, B = 34, pts = series.flatMap(s => s.points);
  if (!pts.length) return "";
  const xs = pts.map(p => p[0]), ys = pts.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1, y0 = Math.min(0, ...ys), y1 = Math.max(...ys) || 1;
  const sx = x => L + (W - L - 8) * (x - x0) / ((x1 - x0) || 1), sy = y => H - B - (H - B - 8) * (y - y0) / ((y1 - y0) || 1);
  let s = `<svg class="chart" width="${W}" height="${H}" role="img"><text x="${W / 2}" y="${H - 4}" text-anchor="middle" font-size="11">${xLabel}</text>`;
  s += `<text x="10" y="${H / 2}" transform="rotate(-90 10 ${H / 2})" text-anchor="middle" font-size="11">${yLabel}</text>`;
  s += `<line x1="${L}" y1="${H - B}" x2="${W - 8}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="8" x2="${L}" y2="${H - B}" stroke="#999"/>`;
  s += `<text x="${L - 4}" y="${sy(y1) + 4}" text-anchor="end" font-size="10">${y1.toPrecision(2)}</text><text x="${L - 4}" y="${sy(y0)}" text-anchor="end" font-size="10">${y0.toPrecision(2)}</text>`;
  s += `<text x="${sx(x0)}" y="${H - B + 12}" font-size="10">${x0.toPrecision(2)}</text><text x="${sx(x1)}" y="${H - B + 12}" text-anchor="end" font-size="10">${x1.toPrecision(2)}</text>`;
  series.forEach((ser, i) => {
    const c = COLORS[i % COLORS.length];
    s += `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${ser.points.map(p => sx(p[0]) + "," + sy(p[1])).join(" ")}"><title>${ser.name}</title></polyline>`;
    s += `<text x="${W - 10}" y="${14 + 11 * i}" text-anchor="end" font-size="10" fill="${c}">${ser.name}</text>`;
  });
  return s + "</svg>";
}
function renderCharts() {
  const ms = methods();
  $("charts-n").innerHTML = METRICS.map(k => chart(ms.map(m => ({name: m.name, points: m.curves[k].filter(p => p[1] !== null).map(p => [p[0], p[1]])})), "budget n", LABELS[k])).join("");
  $("charts-mem").innerHTML = ["convergence", "hyperdiff", "regret"].map(k => chart(ms.filter(m => !m.reference).map(m => ({name: m.name,
    points: m.curves[k].map((p, i) => [m.curves.relative_memory[i][1], p[1]]).filter(p => p[0] !== null && p[1] !== null).sort((a, b) => a[0] - b[0])})), "relative memory used", LABELS[k])).join("");
}
function renderFrontier() {
  const f = DATA.suites[$("suite").value].frontiers[$("dataset").value];
  if (!f) { $("frontier").innerHTML = ""; return; }
  const W = 520, H = 340, L = 52, B = 36, xs = f.memory, ys = f.error.concat(f.estimated_error);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = x => L + (W - L - 10) * (x - x0) / ((x1 - x0) || 1), sy = y => H - B - (H - B - 10) * (y - y0) / ((y1 - y0) || 1);
  let s = `<svg id="frontier-svg" width="${W}" height="${H}" role="img">`;
  s += `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="#999"/>`;
  s += `<text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">memory (MB)</text><text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle" font-size="11">test error</text>`;
  s += `<text x="${L - 4}" y="${sy(y1) + 4}" text-anchor="end" font-size="10">${y1.toFixed(3)}</text><text x="${L - 4}" y="${sy(y0)}" text-anchor="end" font-size="10">${y0.toFixed(3)}</text>`;
  s += `<text x="${sx(x0)}" y="${H - B + 12}" font-size="10">${x0.toFixed(1)}</text><text x="${sx(x1)}" y="${H - B + 12}" text-anchor="end" font-size="10">${x1.toFixed(1)}</text>`;
  xs.forEach((x, j) => { s += `<circle cx="${sx(x)}" cy="${sy(f.error[j])}" r="2.5" fill="#bbb"/>`; });
  const line = (idx, err, c) => { const p = idx.map((j, k) => [xs[j], err(j, k)]).sort((a, b) => a[0] - b[0]);
    return `<polyline fill="none" stroke="${c}" stroke-width="2" points="${p.map(q => sx(q[0]) + "," + sy(q[1])).join(" ")}"/>` +
      p.map(q => `<circle cx="${sx(q[0])}" cy="${sy(q[1])}" r="3.5" fill="${c}"/>`).join(""); };
  s += line(f.true_frontier, j => f.error[j], "#d62728");
  s += line(f.estimated_frontier, (j, k) => f.estimated_error[k], "#1f77b4");
  f.measured.forEach(j => { s += `<circle cx="${sx(xs[j])}" cy="${sy(f.error[j])}" r="6" fill="none" stroke="#1f77b4"/>`; });
  $("frontier").innerHTML = s + "</svg>";
}
function renderSettings() {
  fill($("setting"), Object.keys(DATA.suites[$("suite").value].settings));
  const ns = [...new Set(methods().flatMap(m => m.curves.regret.map(p => p[0])))].sort((a, b) => a - b);
  fill($("budget"), ns); $("budget").value = ns.includes(10) ? 10 : ns[0];
  const datasets = Object.keys(DATA.suites[$("suite").value].frontiers);
  $("frontier-section").style.display = datasets.length ? "" : "none";
  fill($("dataset"), datasets);
  render(); renderFrontier();
}
function render() { $("noise").textContent = DATA.suites[$("suite").value].noise; renderTable(); renderCharts(); }
fill($("suite"), Object.keys(DATA.suites));
$("suite").onchange = renderSettings; $("setting").onchange = render; $("budget").onchange = render;
$("dataset").onchange = renderFrontier;
renderSettings();
</script></body></html>
"""


def render_html(data: dict[str, Any]) -> str:
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    return PAGE.replace("__DATA__", payload).replace("__COMPARED__", json.dumps(list(COMPARED_WITH)))


def render(
    subs: list[dict[str, Any]],
    verified: dict[str, bool | None],
    frontiers: dict[str, dict[str, Any]] | None = None,
    noise: dict[str, dict[str, Any]] | None = None,
    apart: Sequence[str] = (),
) -> tuple[str, str]:
    """The board's Markdown and page; `apart` names valid submissions not on the standard protocol (not ranked)."""
    data = board_data(subs, verified, frontiers, noise)
    markdown = render_markdown(data)
    if apart:
        markdown += "\n## Not ranked: not on the standard protocol (settings I–VI, n = 5…15, seed 0)\n\n"
        markdown += "".join(f"- `{p}`\n" for p in apart)
    return markdown, render_html(data)
