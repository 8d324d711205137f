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

from ..protocol.rules import SETTING_ORDER, SETTINGS
from ..protocol.runner import PRIMARY_METRIC, PROTOCOL_VERSION
from .leaderboard import board
from .statistics import ALPHA, RESAMPLES, SEED, board_statistics, compare, setting_differences

LABELS = {PRIMARY_METRIC: "frontier regret", "hyperdiff": "HyperDiff", "convergence": "convergence"}
REPORTED = ("hyperdiff", "convergence")  # the paper's metrics, kept for fidelity (each method's completed folds)
NEGATIVE_CONTROLS = ("constant", "task-mean-memory")  # a sanity check: no structure of the configurations at all
PRIOR = "prior"  # no measurement, the meta-training rows alone: what measuring must beat
# Paired comparisons the README's claims rest on: each method against `prior` (what its measurements buy) and
# against ED-MF (the paper's method), and Bayes-ED-MF against the plug-in variant of ED-MF.
REFERENCES = (PRIOR, "ed-mf")
EXTRA_PAIRS = (("bayes-ed-mf", "ed-mf-plugin"),)
VS_PRIOR = ["suite", "setting", "n", "method", "difference", "ci_low", "ci_high", "p_holm"]  # of a comparison
PRIOR_COLUMNS = ["vs_prior", "vs_prior_ci_low", "vs_prior_ci_high", "vs_prior_p_holm"]  # as a cell's columns
# A cross-architecture setting beside the within-architecture one that differs only in where its meta-training
# rows come from (as many rows, the same observations and cap): X beside I, XII beside II.
WITHIN = {
    s.name: w.name
    for s in SETTINGS.values()
    for w in SETTINGS.values()
    if s.architectures != "same"
    and w.architectures == "same"
    and (s.observation, s.capped) == (w.observation, w.capped)
}


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
            "error": [round(float(v), 5) for v in bench.truth[i]],  # what frontiers are scored against
            "true_frontier": [int(j) for j in np.flatnonzero(pareto_mask(bench.M[i], bench.truth[i]))],
            "estimated_frontier": est["frontier"],
            "estimated_error": [round(v, 5) for v in est["predicted"]],
            "measured": est["measured"],
        }
    return views


NEGATIVE_CONTROL_SUITE = (
    "Negative control suite: its rankings are not evidence about methods or formats, only a check that a method "
    "finds no structure where there is little."
)


def noise_sentence(noise: dict[str, Any] | None) -> str:
    """The suite's seed noise and references in words, from the noise, two-way and seed entries of its structure report."""
    if not noise:
        return "Seed noise: unknown (the suite was not at hand when the board was built)."
    if "measure_all_frontier_regret" in noise:
        lo, hi = noise["measure_all_frontier_regret_ci95"]
        split = ""
        if "seed_noise_frontier_regret" in noise:
            s_lo, s_hi = noise["seed_noise_frontier_regret_ci95"]
            split = (
                f"What seed noise alone costs a choice: a frontier chosen by one scoring seed, scored against the "
                f"others, has frontier regret {noise['seed_noise_frontier_regret']:.3f} (95 % interval "
                f"{s_lo:.3f}–{s_hi:.3f}). "
            )
        return (
            f"Scored against seeds kept apart from what methods measure. Measuring every configuration (on the "
            f"measured seeds) and choosing by it scores frontier regret {noise['measure_all_frontier_regret']:.3f} "
            f"(95 % interval {lo:.3f}–{hi:.3f}): a reference, not a floor, since completing the matrix averages "
            f"seed noise away and a method can score lower. {split}"
            f"Two-way analysis of {noise['seeds_per_cell']} seeds per cell: configuration F "
            f"{noise['two_way_configuration_f']:.1f}, interaction {noise['two_way_interaction_over_noise']:.2f}× "
            f"seed noise; configuration orders agree across seed halves (τ ≥ 0.5) in "
            f"{noise['seed_split_tau_share_at_least_0_5']:.0%} of rows."
        )
    if "two_way_configuration_f" in noise:
        return (
            f"Every seed measured, none kept apart: frontiers are scored against the matrix itself. Two-way analysis "
            f"of {noise['seeds_per_cell']} seeds per cell: configuration F {noise['two_way_configuration_f']:.1f}, "
            f"interaction {noise['two_way_interaction_over_noise']:.2f}× seed noise; configuration orders agree "
            f"across seed halves (τ ≥ 0.5) in {noise['seed_split_tau_share_at_least_0_5']:.0%} of rows."
        )
    if not noise.get("noise_replicated_cells"):
        return "Seed noise: not measurable, the suite has one seed per cell."
    return (
        f"Seed noise: standard deviation of error {noise['noise_seed_std_of_error']} between seeds over "
        f"{noise['noise_replicated_cells']} replicated cells, {noise['noise_share_of_row_variance_median']:.0%} of a "
        "row's variance across configurations (median over rows)."
    )


def pairs_of(methods: set[str]) -> list[tuple[str, str]]:
    """The board's paired comparisons among `methods`."""
    pairs = [(m, ref) for ref in REFERENCES if ref in methods for m in sorted(methods) if m != ref]
    return pairs + [p for p in EXTRA_PAIRS if set(p) <= methods]


def board_tables(subs: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The long table of cells (suite, setting, n, method, metric, mean, interval, P(best), group, folds), the
    paired comparisons of methods, and each cross-architecture cell against its within-architecture setting
    (`transfer`): everything the board shows, as data (leaderboard/board.json)."""
    folds = board(subs)
    if folds.empty:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    ranked = set(folds[~folds.reference.astype(bool)].method)
    cells = [board_statistics(folds, PRIMARY_METRIC, ranked).assign(metric=PRIMARY_METRIC)]
    ok = folds[folds.status == "ok"]
    for metric in REPORTED:
        cells.append(board_statistics(ok, metric, set(), own_folds=True).assign(metric=metric))
    table = pd.concat(cells, ignore_index=True)
    comparisons = compare(folds, PRIMARY_METRIC, pairs_of(set(folds.method)))
    vs_prior = comparisons[comparisons.versus == PRIOR] if not comparisons.empty else pd.DataFrame(columns=VS_PRIOR)
    vs_prior = vs_prior.rename(columns=dict(zip(VS_PRIOR[4:], PRIOR_COLUMNS)))[VS_PRIOR[:4] + PRIOR_COLUMNS]
    table = table.merge(vs_prior.assign(metric=PRIMARY_METRIC), on=[*VS_PRIOR[:4], "metric"], how="left")
    table["group"] = np.where(table.top_group, "top", np.where(table.method.isin(ranked), "", "not ranked"))
    table.loc[table.metric != PRIMARY_METRIC, "group"] = None
    counts = folds.groupby(["suite", "setting", "n", "method"]).status.agg(
        folds_ok=lambda s: int((s == "ok").sum()), folds_failed=lambda s: int((s == "failed").sum())
    )
    table = table.merge(counts, left_on=["suite", "setting", "n", "method"], right_index=True)
    order = {s: i for i, s in enumerate(SETTING_ORDER)}
    table = table.sort_values(
        ["suite", "setting", "n", "metric", "mean", "method"], key=lambda c: c.map(order) if c.name == "setting" else c
    )
    columns = ["suite", "setting", "n", "method", "metric", "mean", "ci_low", "ci_high", "p_best", "group"]
    table = table[columns + ["folds_ok", "folds_failed", "p_vs_best", "p_vs_best_holm", "datasets", *PRIOR_COLUMNS]]
    return table.reset_index(drop=True), comparisons, setting_differences(folds, PRIMARY_METRIC, WITHIN.items())


def board_json(subs: list[dict[str, Any]], verified: dict[str, bool | None]) -> dict[str, Any]:
    """leaderboard/board.json: the board as data, with how every number was computed."""
    table, comparisons, transfer = board_tables(subs)
    return {
        "protocol_version": PROTOCOL_VERSION,
        "primary_metric": PRIMARY_METRIC,
        "reported_metrics": list(REPORTED),
        "negative_controls": list(NEGATIVE_CONTROLS),
        "statistics": {
            "interval": f"95 % bootstrap percentile interval, {RESAMPLES} resamples of held-out datasets and of "
            f"seeds (independently, with replacement), seed {SEED}",
            "p_best": "share of bootstrap resamples in which the method has the lowest mean among ranked methods",
            "group": f"top: the cell's best ranked method and every ranked method whose two-sided Wilcoxon "
            f"signed-rank test against it (per-dataset means over seeds) has a Holm-adjusted p ≥ {ALPHA}; the "
            "family of the Holm correction is the cell (one setting × n on one suite), as in critical-difference "
            "analyses; 'not ranked': reference bounds",
            "failed_folds": f"a failed fold scores the worst case in {PRIMARY_METRIC} (the truly worst "
            "configuration within every memory budget) and stays in every mean, rank and test; the reported "
            "metrics are each method's own completed folds (folds_ok), so one method's failures never change "
            "another method's numbers",
            "comparisons": "per cell, method − versus (mean difference of the primary metric, paired bootstrap "
            "interval, datasets won/lost, Wilcoxon p, Holm-adjusted over the cell's comparisons)",
            "vs_prior": f"what measuring buys: the method's {PRIMARY_METRIC} minus that of `{PRIOR}` (no "
            "measurement; the meta-training rows' mean), with its paired bootstrap interval and Holm-adjusted "
            f"Wilcoxon p from `comparisons`; a method beats `{PRIOR}` in a cell where the difference is negative "
            f"and p < {ALPHA}",
            "transfer": "per cross-architecture cell, each method's primary metric there minus in the "
            "within-architecture setting that differs only in where the meta-training rows come from (X − I, "
            "XII − II: the same held-out rows, seeds, number of meta-training rows, observations and cap): paired "
            "bootstrap interval, datasets won/lost, Wilcoxon p, Holm-adjusted over the cell's methods; the cells "
            "of X and XII show it beside their other numbers",
            "ties": "means, the bootstrap's resampled means (summed through BLAS, whose kernels differ by CPU) and the "
            "per-dataset means every Wilcoxon test compares are rounded to 32 significant bits, so scores that "
            "differ only by the order a sum took are equal: tied methods are ordered by name, zeros and tied ranks "
            "and with them every p and interval are the same on every CPU",
        },
        "verified": {k: verified[k] for k in sorted(verified)},
        "cells": _records(table),
        "comparisons": _records(comparisons),
        "transfer": _records(transfer),
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _value(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def _value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(f"{float(v):.6g}")
    return v


def board_data(
    data_json: dict[str, Any],
    subs: list[dict[str, Any]],
    frontiers: dict[str, dict[str, Any]] | None = None,
    noise: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the page and the README show, per suite and setting, from board.json's cells."""
    cells = pd.DataFrame(data_json["cells"])
    # a cross-architecture cell's difference from its within-architecture setting
    transfer = {(t["suite"], t["setting"], t["n"], t["method"]): t for t in data_json.get("transfer", [])}
    verified = data_json["verified"]
    data: dict[str, Any] = {"primary_metric": PRIMARY_METRIC, "suites": {}}
    for suite in sorted({s["suite"]["name"] for s in subs}):
        mine = {s["method"]["name"]: s for s in subs if s["suite"]["name"] == suite}
        entry: dict[str, Any] = {
            "data_sha256": next(iter(mine.values()))["suite"]["data_sha256"],
            "settings": {},
            "noise": noise_sentence((noise or {}).get(suite)),
            "negative_control": (noise or {}).get(suite, {}).get("negative_control"),
            "frontiers": (frontiers or {}).get(suite, {}),
        }
        here = cells[cells.suite == suite]
        for setting in sorted(set(here.setting), key=SETTING_ORDER.index):
            rows = here[here.setting == setting]
            methods = []
            for name, sub in mine.items():
                mine_rows = rows[rows.method == name]
                if mine_rows.empty:
                    continue
                per_n: dict[str, Any] = {}
                for r in mine_rows.itertuples():
                    cell = per_n.setdefault(str(r.n), {})
                    cell[r.metric] = [_num(r.mean), _num(r.ci_low), _num(r.ci_high)]
                    if r.metric == PRIMARY_METRIC:
                        cell.update(p_best=_num(r.p_best), top=r.group == "top", failed=int(r.folds_failed))
                        if not pd.isna(r.vs_prior):
                            cell["vs_prior"] = [_num(r.vs_prior), _num(r.vs_prior_ci_low), _num(r.vs_prior_ci_high)]
                            cell["beats_prior"] = bool(r.vs_prior < 0 and r.vs_prior_p_holm < ALPHA)
                        if (t := transfer.get((suite, setting, r.n, name))) is not None:
                            cell["vs_within"] = [_num(t["difference"]), _num(t["ci_low"]), _num(t["ci_high"])]
                            cell["within_differs"] = bool(t["p_holm"] < ALPHA)
                methods.append(
                    {
                        "name": name,
                        "authors": sub["method"]["authors"],
                        "reference": sub["method"]["reference"],
                        "control": name in NEGATIVE_CONTROLS,
                        "verified": verified.get(name + "@" + suite),
                        "cells": per_n,
                    }
                )
            mid = str(sorted({int(n) for m in methods for n in m["cells"]})[len(methods[0]["cells"]) // 2])
            methods.sort(key=lambda m: (m["reference"], (m["cells"].get(mid, {}).get(PRIMARY_METRIC) or [9])[0]))
            entry["settings"][setting] = methods
            if setting in WITHIN:
                entry.setdefault("within", {})[setting] = WITHIN[setting]
        data["suites"][suite] = entry
    return data


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else round(float(x), 6)


def _cell(values: list[Any] | None, top: bool = False) -> str:
    if not values or values[0] is None:
        return "–"
    mean, low, high = values
    return f"{'**' if top else ''}{mean:.4f}{'**' if top else ''} [{low:.4f}, {high:.4f}]"


def _versus(cell: dict[str, Any], key: str = "vs_prior") -> str:
    """A cell's difference from `prior` (or, `vs_within`, from its within-architecture setting) [interval]; ✓ when
    significantly lower, ✗ when significantly higher."""
    if not cell.get(key) or cell[key][0] is None:
        return "–"
    diff, low, high = cell[key]
    significant = cell.get("beats_prior") if key == "vs_prior" else cell.get("within_differs")
    mark = (" ✓" if diff < 0 else " ✗") if significant else (" ✗" if low > 0 else "")
    return f"{diff:+.4f} [{low:+.4f}, {high:+.4f}]{mark}"


def render_markdown(data: dict[str, Any]) -> str:
    lines = [
        "# peppp-bench leaderboard",
        "",
        "Built by `peppp-bench leaderboard build` from `leaderboard/submissions/` (do not edit by hand); the same "
        "numbers as data in `board.json`, with how each was computed. Protocol 3.0: ten mask seeds, every held-out "
        "dataset. Primary metric: **frontier regret** (the mean, over memory budgets, of the excess true error of "
        "the configuration the predicted frontier picks within the budget; lower is better; a failed fold counts "
        "at its worst case). Cells: mean [95 % bootstrap interval over held-out datasets and seeds]; **bold**: in "
        "the cell's top group (not significantly worse than its best: Wilcoxon signed-rank over datasets, Holm "
        "within the cell, as in critical-difference analyses). P(best): share of bootstrap resamples in which the "
        "method is best. vs prior: the method's frontier regret minus that of `prior`, which measures nothing and "
        "predicts the meta-training rows' mean [paired 95 % interval]; ✓ where it is significantly lower (what "
        "measuring buys), ✗ where significantly higher. `prior-best-plugin` measures the configurations best on "
        "average in meta-training and plugs them in: the second reference a method must beat. Negative controls "
        "(`constant`, `task-mean-memory`) are a sanity check. HyperDiff: each method's own completed folds. "
        "✓ verified: re-run from the repository and reproduced. Reference bounds (they see the held-out row) are "
        "listed last and never ranked.",
        "",
    ]
    for suite, entry in data["suites"].items():
        lines += [f"## Suite `{suite}`", "", f"Data sha256 `{entry['data_sha256']}`.", ""]
        if entry["negative_control"]:
            lines += [f"**{NEGATIVE_CONTROL_SUITE}** {entry['negative_control']}", ""]
        lines += [entry["noise"], ""]
        for setting, methods in entry["settings"].items():
            budgets = sorted({int(n) for m in methods for n in m["cells"]})
            lines += [f"### Setting {setting}", ""]
            within = entry.get("within", {}).get(setting)
            if within:
                lines += [
                    f"Meta-trained on the other networks' rows. vs {within}: the method's frontier regret here minus "
                    f"in setting {within}, which meta-trains on as many rows of the held-out row's own network (same "
                    "held-out rows, seeds, observations and cap) [paired 95 % interval]: what transfer across "
                    "networks costs; ✗ where significantly higher, ✓ where significantly lower (Wilcoxon, Holm "
                    "within the cell).",
                    "",
                ]
            header = ["method", "verified"] + [f"frontier regret n={n}" for n in budgets]
            header += [f"vs prior n={n}" for n in budgets]
            header += [f"vs {within} n={n}" for n in budgets] if within else []
            header += [f"P(best) n={n}" for n in budgets] + ["failed folds"] + [f"HyperDiff n={n}" for n in budgets]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for m in methods:
                name = m["name"] + (
                    " (reference bound)" if m["reference"] else " (negative control)" if m["control"] else ""
                )
                mark = {True: "✓", False: "✗", None: "–"}[m["verified"]]
                c = [m["cells"].get(str(n), {}) for n in budgets]
                row = [name, mark] + [_cell(x.get(PRIMARY_METRIC), bool(x.get("top"))) for x in c]
                row += [_versus(x) for x in c]
                row += [_versus(x, "vs_within") for x in c] if within else []
                row += ["–" if x.get("p_best") is None else f"{x['p_best']:.2f}" for x in c]
                row += [str(sum(x.get("failed", 0) for x in c))]
                row += [_cell(x.get("hyperdiff")) for x in c]
                lines.append("| " + " | ".join(row) + " |")
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
.chart-box{display:flex;gap:6px;border:1px solid #ddd;padding:4px}
.legend{list-style:none;margin:0;padding:0;font-size:11px;max-width:190px;line-height:1.35}
select{font-size:14px;margin-right:1em}
</style></head><body>
<h1>peppp-bench leaderboard</h1>
<p>Frontier regret (primary; lower is better) and the paper's HyperDiff and convergence: mean [95 % bootstrap
interval over held-out datasets and seeds]. Group "top": not significantly worse than the cell's best (Wilcoxon
signed-rank over datasets, Holm within the cell, as in critical-difference analyses). vs prior: frontier regret
minus that of <code>prior</code>, which measures nothing [paired interval]; ✓ significantly lower (what measuring
buys). In the cross-architecture settings X and XII (meta-training on the other networks' rows), vs I and vs II:
frontier regret minus that of the setting that meta-trains on as many rows of the held-out row's own network
[paired interval], what transfer across networks costs; ✗ significantly higher. P(best): share of bootstrap
resamples in which the method is best. Click a column header to sort. Reference bounds see the held-out row and
are not ranked; negative controls are a sanity check.</p>
<label>Suite <select id="suite"></select></label>
<label>Setting <select id="setting"></select></label>
<label>Budget n <select id="budget"></select></label>
<p id="noise"></p>
<div id="table"></div>
<h2>Metrics versus budget n</h2><div class="charts" id="charts-n"></div>
<div id="frontier-section"><h2>A dataset's true and estimated frontiers</h2>
<p>Grey: every configuration (true memory, true error). Red: the true Pareto frontier. Blue: ED-MF's estimated
frontier (true memory, predicted error) after 10 measurements in setting I (rings: the measured configurations).</p>
<label>Dataset <select id="dataset"></select></label><div id="frontier"></div></div>
<script id="board-data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("board-data").textContent);
const METRICS = ["frontier_regret", "hyperdiff", "convergence"];
const LABELS = {frontier_regret: "frontier regret", hyperdiff: "HyperDiff", convergence: "convergence"};
const COLORS = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf",
                "#aec7e8","#ff9896","#98df8a","#ffbb78","#c5b0d5","#c49c94","#f7b6d2","#dbdb8d"];
const $ = id => document.getElementById(id);
let sortKey = "frontier_regret", sortAsc = true;
function fill(sel, values) { sel.innerHTML = values.map(v => `<option value="${v}">${v}</option>`).join(""); }
function methods() { return DATA.suites[$("suite").value].settings[$("setting").value] || []; }
function cell(m) { return m.cells[$("budget").value] || {}; }
function value(m, key) {
  if (key === "name") return m.name;
  if (key === "verified") return m.verified === true ? 0 : (m.verified === false ? 2 : 1);
  if (key === "p_best") return m.reference ? Infinity : -(cell(m).p_best ?? -1);
  if (key === "group") return m.reference ? 2 : (cell(m).top ? 0 : 1);
  if (key === "failed") return cell(m).failed ?? 0;
  if (key === "vs_prior" || key === "vs_within") return cell(m)[key] ? cell(m)[key][0] : Infinity;
  const v = cell(m)[key]; return v && v[0] !== null ? v[0] + (m.reference && key === "frontier_regret" ? 1e9 : 0) : Infinity;
}
function renderTable() {
  const rows = methods().slice().sort((a, b) => {
    const x = value(a, sortKey), y = value(b, sortKey);
    if (x < y) return sortAsc ? -1 : 1; if (x > y) return sortAsc ? 1 : -1; return a.name < b.name ? -1 : 1;
  });
  const n = $("budget").value;
  const within = (DATA.suites[$("suite").value].within || {})[$("setting").value];
  const shown = [METRICS[0], "vs_prior", ...(within ? ["vs_within"] : []), ...METRICS.slice(1)];
  const head = ["name", "verified", ...shown, "p_best", "group", "failed"];
  const titles = {name: "method", verified: "verified", vs_prior: "vs prior (n=" + n + ")", vs_within: "vs " + within + " (n=" + n + ")", p_best: "P(best)", group: "group", failed: "failed folds"};
  const signed = x => (x >= 0 ? "+" : "") + x.toFixed(4);
  const marked = (v, significant) => significant ? (v[0] < 0 ? " ✓" : " ✗") : (v[1] > 0 ? " ✗" : "");
  let h = "<table id='board'><thead><tr>" + head.map(k => `<th data-key="${k}">${titles[k] || LABELS[k] + " (n=" + n + ")"}</th>`).join("") + "</tr></thead><tbody>";
  for (const m of rows) {
    const c = cell(m);
    const cells = [m.name + (m.reference ? " (reference bound)" : (m.control ? " (negative control)" : "")),
                   m.verified === true ? "✓" : (m.verified === false ? "✗" : "–")];
    for (const k of shown) {
      const v = c[k];
      if (k === "vs_prior" || k === "vs_within") { cells.push(v ? `${signed(v[0])} [${signed(v[1])}, ${signed(v[2])}]` + marked(v, k === "vs_prior" ? c.beats_prior : c.within_differs) : "–"); continue; }
      cells.push(v && v[0] !== null ? `${v[0].toFixed(4)} [${v[1].toFixed(4)}, ${v[2].toFixed(4)}]` : "–");
    }
    cells.push(c.p_best === null || c.p_best === undefined ? "–" : c.p_best.toFixed(2));
    cells.push(m.reference ? "not ranked" : (c.top ? "top" : ""));
    cells.push(String(c.failed ?? 0));
    h += `<tr class="${m.reference ? "reference" : ""}" data-method="${m.name}">` + cells.map(x => `<td>${x}</td>`).join("") + "</tr>";
  }
  $("table").innerHTML = h + "</tbody></table>";
  document.querySelectorAll("#board th").forEach(th => th.onclick = () => {
    const k = th.dataset.key; sortAsc = sortKey === k ? !sortAsc : true; sortKey = k; renderTable();
  });
}
function ticks(lo, hi, count) {
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count || 1))), nice = [1, 2, 2.5, 5, 10].map(f => f * step);
  const size = nice.find(s => (hi - lo) / s <= count) || nice[nice.length - 1], out = [];
  for (let v = Math.ceil(lo / size) * size; v <= hi + size * 1e-9; v += size) out.push(+v.toPrecision(12));
  return out;
}
function chart(series, xLabel, yLabel, id) {
  // y runs over the ranked methods (controls and bounds are dashed reference lines); a line far above the
  // rest is clipped at the top and says so in the legend, which sits beside the plot, never on it.
  const W = 370, H = 240, L = 62, B = 36, T = 10, R = 10;  // L: room for ticks such as 0.0775 beside the axis label
  const top = s => Math.max(...s.points.map(p => p[1]));
  const scaled = series.filter(s => !s.reference && !s.control && s.points.length);
  const tops = scaled.map(top).sort((a, b) => a - b);
  if (!tops.length) return "";
  const median = tops[Math.floor(tops.length / 2)], within = scaled.filter(s => top(s) <= 3 * median);
  const ys = within.flatMap(s => s.points.map(p => p[1])), xs = series.flatMap(s => s.points.map(p => p[0]));
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.1 || 0.01;
  y0 = Math.max(0, y0 - pad); y1 = y1 + pad;
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const sx = x => L + (W - L - R) * (x - x0) / ((x1 - x0) || 1), sy = y => H - B - (H - B - T) * (y - y0) / ((y1 - y0) || 1);
  let s = `<svg class="chart" width="${W}" height="${H}" role="img"><defs><clipPath id="clip-${id}"><rect x="${L}" y="${T}" width="${W - L - R}" height="${H - B - T}"/></clipPath></defs>`;
  s += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" font-size="11">${xLabel}</text>`;
  s += `<text x="12" y="${(H - B + T) / 2}" transform="rotate(-90 12 ${(H - B + T) / 2})" text-anchor="middle" font-size="11">${yLabel}</text>`;
  s += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>`;
  for (const v of ticks(y0, y1, 5)) s += `<line x1="${L - 3}" y1="${sy(v)}" x2="${W - R}" y2="${sy(v)}" stroke="#eee"/><text class="tick" x="${L - 5}" y="${sy(v) + 3}" text-anchor="end" font-size="10">${v}</text>`;
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) s += `<text class="tick" x="${sx(v)}" y="${H - B + 13}" text-anchor="middle" font-size="10">${v}</text>`;
  const legend = [];
  series.forEach((ser, i) => {
    const quiet = ser.reference || ser.control, c = quiet ? "#999" : COLORS[i % COLORS.length];
    s += `<polyline clip-path="url(#clip-${id})" fill="none" stroke="${c}" stroke-width="1.5"${quiet ? ' stroke-dasharray="4 3"' : ""} points="${ser.points.map(p => sx(p[0]) + "," + sy(p[1])).join(" ")}"><title>${ser.name}</title></polyline>`;
    const off = ser.points.some(p => p[1] > y1) ? " (above the chart)" : "";
    legend.push(`<li style="color:${c}">${quiet ? "- - " : "— "}${ser.name}${off}</li>`);
  });
  return `<div class="chart-box">${s}</svg><ul class="legend">${legend.join("")}</ul></div>`;
}
function renderCharts() {
  const ms = methods();
  $("charts-n").innerHTML = METRICS.map(k => chart(ms.map(m => ({name: m.name, reference: m.reference, control: m.control, points: Object.keys(m.cells)
    .map(n => [+n, (m.cells[n][k] || [null])[0]]).filter(p => p[1] !== null).sort((a, b) => a[0] - b[0])})), "budget n", LABELS[k], k)).join("");
}
function renderFrontier() {
  const f = DATA.suites[$("suite").value].frontiers[$("dataset").value];
  if (!f) { $("frontier").innerHTML = ""; return; }
  const W = 520, H = 340, L = 52, B = 36, xs = f.memory, ys = f.error.concat(f.estimated_error.map(e => Math.max(e, 0)));
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.max(0, Math.min(...ys)), y1 = Math.max(...ys);
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
  const ns = [...new Set(methods().flatMap(m => Object.keys(m.cells).map(Number)))].sort((a, b) => a - b);
  fill($("budget"), ns); $("budget").value = ns.includes(10) ? 10 : ns[0];
  const datasets = Object.keys(DATA.suites[$("suite").value].frontiers);
  $("frontier-section").style.display = datasets.length ? "" : "none";
  fill($("dataset"), datasets);
  render(); renderFrontier();
}
function render() {
  const s = DATA.suites[$("suite").value];
  $("noise").textContent = (s.negative_control ? DATA.negative_control_suite + " " + s.negative_control + " " : "") + s.noise;
  renderTable(); renderCharts();
}
fill($("suite"), Object.keys(DATA.suites));
$("suite").onchange = renderSettings; $("setting").onchange = render; $("budget").onchange = render;
$("dataset").onchange = renderFrontier;
renderSettings();
</script></body></html>
"""


def render_html(data: dict[str, Any]) -> str:
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    return PAGE.replace("__DATA__", payload)


def render(
    subs: list[dict[str, Any]],
    verified: dict[str, bool | None],
    frontiers: dict[str, dict[str, Any]] | None = None,
    noise: dict[str, dict[str, Any]] | None = None,
    apart: Sequence[str] = (),
    kept: dict[str, Any] | None = None,
) -> tuple[str, str, str]:
    """The board's Markdown, page and board.json; `apart` names valid submissions not on the standard protocol
    (not ranked). `kept` is the committed board.json's part for suites not present here (`kept_from`), with
    the submissions on them in `kept["subs"]`: shown as they were."""
    kept = kept or {}
    as_json = board_json(subs, verified)
    noise = {**kept.get("suite_notes", {}), **(noise or {})}
    for part in ("cells", "comparisons", "transfer"):
        as_json[part] = sorted(as_json[part] + kept.get(part, []), key=lambda r: r["suite"])  # stable within a suite
    as_json["verified"] = dict(sorted({**as_json["verified"], **kept.get("verified", {})}.items()))
    as_json["suite_notes"] = {name: noise[name] for name in sorted(noise)}
    labelled = {name: n["negative_control"] for name, n in noise.items() if n.get("negative_control")}
    as_json["negative_control_suites"] = {name: labelled[name] for name in sorted(labelled)}
    data = board_data(as_json, [*subs, *kept.get("subs", [])], frontiers, noise)
    data["negative_control_suite"] = NEGATIVE_CONTROL_SUITE
    markdown = render_markdown(data)
    if apart:
        markdown += (
            "\n## Not ranked: not on the standard protocol (settings I–VI, n = 5, 10, 15, seeds 0–9, hold-out auto)\n\n"
        )
        markdown += "".join(f"- `{p}`\n" for p in apart)
    return markdown, render_html(data), json.dumps(as_json, indent=1, sort_keys=True) + "\n"


RESULTS_BEGIN, RESULTS_END = "<!-- results: written by `peppp-bench leaderboard build` -->", "<!-- end of results -->"


def kept_from(committed: dict[str, Any], suites: set[str]) -> dict[str, Any]:
    """The part of a committed board.json that belongs to `suites` (absent here): cells, comparisons, verdicts and
    suite notes, to be shown unchanged."""
    return {
        "cells": [c for c in committed.get("cells", []) if c.get("suite") in suites],
        "comparisons": [c for c in committed.get("comparisons", []) if c.get("suite") in suites],
        "transfer": [c for c in committed.get("transfer", []) if c.get("suite") in suites],
        "verified": {k: v for k, v in committed.get("verified", {}).items() if k.rpartition("@")[2] in suites},
        "suite_notes": {k: v for k, v in committed.get("suite_notes", {}).items() if k in suites},
    }


def results_block(as_json: dict[str, Any], suite: str = "paper") -> str:
    """The README's result table and claims, from board.json alone: per setting and n on `suite`, the top
    group, ED-MF and `prior`; in how many cells each method beats `prior`; Bayes-ED-MF against the plug-in ED-MF."""
    cells = pd.DataFrame(as_json["cells"])
    cells = cells[(cells.suite == suite) & (cells.metric == PRIMARY_METRIC)]
    if cells.empty:
        return f"No results on `{suite}` on the board."
    lines = [
        f"Suite `{suite}`, protocol {as_json['protocol_version']}, frontier regret (lower is better): mean [95 % "
        "bootstrap interval over held-out datasets and ten mask seeds]. Top group: not significantly worse than "
        "the cell's best (Wilcoxon signed-rank over datasets, Holm within the cell). `prior` measures nothing: it "
        "predicts the meta-training rows' mean.",
        "",
        "| setting | n | top group | ed-mf | prior |",
        "| --- | --- | --- | --- | --- |",
    ]
    fmt = lambda r: f"{r['mean']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"  # noqa: E731
    for (setting, n), c in sorted(
        cells.groupby(["setting", "n"]), key=lambda x: (SETTING_ORDER.index(x[0][0]), x[0][1])
    ):
        by = c.set_index("method")
        top = ", ".join(c[c.group == "top"].sort_values("mean").method)
        shown = [fmt(by.loc[m]) if m in by.index else "–" for m in ("ed-mf", PRIOR)]
        lines.append(f"| {setting} | {n} | {top} | {shown[0]} | {shown[1]} |")
    measured = cells[cells.vs_prior.notna() & (cells.group != "not ranked")] if "vs_prior" in cells else cells.iloc[:0]
    if len(measured):
        better = measured.vs_prior.lt(0) & measured.vs_prior_p_holm.lt(ALPHA)
        worse = measured.vs_prior.gt(0) & measured.vs_prior_p_holm.lt(ALPHA)
        tally = measured.assign(better=better, worse=worse).groupby("method")[["better", "worse"]].sum()
        tally = tally.sort_values(["better", "worse"], ascending=[False, True])
        cells_per_method = measured.groupby("method").size()
        lines += [
            "",
            f"What measuring buys: in how many of the {cells.groupby(['setting', 'n']).ngroups} cells each method's "
            f"frontier regret is significantly lower than `{PRIOR}`'s (better) or higher (worse), Wilcoxon "
            f"signed-rank over datasets, Holm within the cell, p < {ALPHA}.",
            "",
            "| method | better than prior | worse | not distinguishable |",
            "| --- | --- | --- | --- |",
        ]
        for method, row in tally.iterrows():
            rest = int(cells_per_method[method] - row.better - row.worse)
            lines.append(f"| {method} | {int(row.better)} | {int(row.worse)} | {rest} |")
        lines.append("")
    comparisons = pd.DataFrame(as_json["comparisons"])
    if not comparisons.empty:
        pair = comparisons[
            (comparisons.suite == suite)
            & (comparisons.method == "bayes-ed-mf")
            & (comparisons.versus == "ed-mf-plugin")
        ]
        if len(pair):
            better = int(((pair.p_holm < ALPHA) & (pair.difference < 0)).sum())
            worse = int(((pair.p_holm < ALPHA) & (pair.difference > 0)).sum())
            lines.append(
                f"Bayes-ED-MF against ED-MF with the measured errors plugged in (`ed-mf-plugin`): significantly "
                f"better in {better}, worse in {worse}, not distinguishable in {len(pair) - better - worse} of "
                f"{len(pair)} cells (Holm-adjusted p < {ALPHA})."
            )
    return "\n".join(lines)


def with_results(readme: str, block: str) -> str:
    """`readme` with the text between the results markers replaced by `block` (unchanged without markers)."""
    if RESULTS_BEGIN not in readme or RESULTS_END not in readme:
        return readme
    head, rest = readme.split(RESULTS_BEGIN, 1)
    return head + RESULTS_BEGIN + "\n" + block + "\n" + RESULTS_END + rest.split(RESULTS_END, 1)[1]
