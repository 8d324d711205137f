"""A suite's structure, the properties PEPPP relies on (spec §8): low rank, correlated rows, frontiers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ..pareto import frontier_regret, frontier_scores, pareto_mask


def frontier_grouping(configurations: pd.DataFrame) -> tuple[str, np.ndarray] | None:
    """What to count among frontier configurations: Format-A total bits for the paper's configurations,
    the weights' format and scaling (e.g. `fp8_e4m3 mx`) for modern ones; None for other tables."""
    if "a_bits" in configurations:
        return "format_a_bits", configurations["a_bits"].to_numpy()
    if "weights_format" in configurations:
        return "weights_format", (configurations["weights_format"] + " " + configurations["weights_scaling"]).to_numpy()
    return None


def kendall_tau_pairs(rows: np.ndarray) -> np.ndarray:
    """Kendall's τ-b (scipy's default) of every pair of rows, all at once: each row's signs of its column
    differences, correlated; pairs with a constant row (τ undefined) are left out."""
    a, b = np.triu_indices(rows.shape[1], 1)
    signs = np.sign(rows[:, a] - rows[:, b])
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = (signs @ signs.T) / np.sqrt(np.outer((signs**2).sum(axis=1), (signs**2).sum(axis=1)))
    taus = tau[np.triu_indices(len(rows), 1)]
    return taus[np.isfinite(taus)]


def structure_report(
    error: np.ndarray, memory: np.ndarray, grouping: tuple[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """Singular-value decay, Kendall τ between dataset rows, Pareto frontier sizes, and the share of each
    group of columns among frontier configurations (`grouping`: a name and a label per column)."""
    s = np.linalg.svd(error, compute_uv=False)
    n = error.shape[0]
    taus = kendall_tau_pairs(error)
    fronts = [np.flatnonzero(pareto_mask(memory[i], error[i])) for i in range(n)]
    sizes = np.array([len(f) for f in fronts])
    on_front = np.concatenate(fronts)
    shares = None if grouping is None else frontier_shares(grouping[1], on_front)
    return {
        "singular_values_top5": [round(float(v), 3) for v in s[:5]],
        "top5_share_of_singular_value_sum": round(float(s[:5].sum() / s.sum()), 3),
        "kendall_tau_mean": round(float(taus.mean()), 3) if len(taus) else None,
        "kendall_tau_positive_share": round(float((taus > 0).mean()), 3) if len(taus) else None,
        "frontier_size_mean": round(float(sizes.mean()), 2),
        "frontier_size_min": int(sizes.min()),
        "frontier_size_max": int(sizes.max()),
        "datasets_with_frontier_of_3_or_more": round(float((sizes >= 3).mean()), 3),
        **({} if grouping is None else {f"{grouping[0]}_share_on_frontiers": shares}),
        "error_min": round(float(error.min()), 4),
        "error_max": round(float(error.max()), 4),
        "error_mean": round(float(error.mean()), 4),
        "datasets_whose_configurations_all_tie": int(sum(np.ptp(row) == 0 for row in error)),
    }


def frontier_shares(labels: np.ndarray, on_front: np.ndarray) -> dict[Any, float]:
    """The share of each label among the frontier configurations `on_front` (column indices, with repeats)."""
    labels = np.asarray(labels)
    key = int if np.issubdtype(labels.dtype, np.integer) else str
    return {key(b): round(float(np.mean(labels[on_front] == b)), 3) for b in sorted(set(labels.tolist()))}


def noise_report(
    error: np.ndarray, memory: np.ndarray, replicates: np.ndarray | None, max_memory: float
) -> dict[str, Any]:
    """How much of the matrix is seed noise, from re-trainings of some cells with other seeds.

    `replicates` (seeds × datasets × configurations) holds NaN where a cell was not re-trained; the
    matrix itself is seed 0. Reports the pooled seed-to-seed standard deviation of error, the share of
    each replicated row's variance that is noise (mean over rows), and, on the rows re-trained in every
    configuration, the HyperDiff of a replicate's frontier against the matrix row's: what seed noise alone
    costs a frontier (a reference, not a floor: a method that completes the matrix can score lower).
    """
    if replicates is None or np.isnan(replicates).all():
        return {
            "noise_replicated_cells": 0,
            "noise_note": "one seed per cell: seed-to-seed noise cannot be measured from this suite",
        }
    runs = np.concatenate([error[None], replicates])  # seeds × datasets × configurations
    replicated = ~np.isnan(replicates).all(axis=0)
    variance = np.full(error.shape, np.nan)
    variance[replicated] = np.nanvar(runs[:, replicated], axis=0, ddof=1)  # per cell, over the seeds that ran it
    rows = np.flatnonzero(replicated.any(axis=1))
    row_noise = np.array([variance[i][replicated[i]].mean() for i in rows])
    row_spread = error[rows].var(axis=1, ddof=1)
    shares = row_noise[row_spread > 0] / row_spread[row_spread > 0]
    by_seed = []
    for i in np.flatnonzero(replicated.all(axis=1)):
        for rep in replicates[:, i]:
            if not np.isnan(rep).any():
                front = pareto_mask(memory[i], rep)
                by_seed.append(frontier_scores(memory[i], error[i], memory[i][front], rep[front], max_memory).hyperdiff)
    return {
        "noise_replicated_cells": int(replicated.sum()),
        "noise_replicate_seeds": int((~np.isnan(replicates)).any(axis=(1, 2)).sum()),
        "noise_seed_std_of_error": round(float(np.sqrt(variance[replicated].mean())), 4),
        "noise_share_of_row_variance_mean": round(float(shares.mean()), 3) if len(shares) else None,
        "noise_share_of_row_variance_median": round(float(np.median(shares)), 3) if len(shares) else None,
        "noise_fully_replicated_datasets": int(replicated.all(axis=1).sum()),
        "seed_noise_hyperdiff": round(float(np.mean(by_seed)), 4) if by_seed else None,
    }


SEED_SPLIT_TAU = 0.5  # the structure criteria: a row's configuration order must hold up across seeds at least this well

# The structure criteria a suite that ranks methods meets, from its own seed replicates: (what, whether a
# structure report meets it). NaN (a suite of one task has no interaction) meets none.
STRUCTURE_CRITERIA: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("configuration main effect p < 1e-6", lambda s: s["two_way_configuration_p"] < 1e-6),
    ("task × configuration interaction ≥ 3× seed noise", lambda s: s["two_way_interaction_over_noise"] >= 3),
    (
        "configuration order holds across seed halves (τ ≥ 0.5) in ≥ 80 % of rows",
        lambda s: s["seed_split_tau_share_at_least_0_5"] >= 0.8,
    ),
    ("no configurations identical in every cell and seed", lambda s: s["duplicate_column_groups"] == 0),
)


def missed_criteria(structure: dict[str, Any]) -> list[str] | None:
    """The structure criteria a suite's report misses (empty: all met), or None where they cannot be measured:
    without several seeds of every cell there is no seed noise to measure effects against. A suite of several
    architectures must meet them pooled and on each network's own rows (missed ones are named by network)."""
    if "two_way_mean_squares" not in structure or "seed_split_tau_share_at_least_0_5" not in structure:
        return None
    missed = [what for what, met in STRUCTURE_CRITERIA if not met(structure)]
    for arch, own in structure.get("by_architecture", {}).items():
        missed += [f"{arch}: {what}" for what in missed_criteria(own) or []]
    return missed


def seed_report(
    cube: np.ndarray,
    error: np.ndarray,
    truth: np.ndarray,
    memory: np.ndarray,
    max_memory: float,
    seed: int = 0,
    scoring: Sequence[int] = (),
    seed_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Structure against seed noise in a suite with scoring seeds: `cube` holds every seed of every cell
    (seeds × datasets × configurations, seeds in order; `seed_ids` are their numbers, 0, 1, ... if not given),
    `error` the measured seeds' mean, `truth` the scoring seeds' mean errors.

    Reports the two-way analysis of all seeds (task, configuration, interaction, seed noise), the share of rows
    whose configuration order agrees between the first and second half of the seeds (Kendall τ ≥ 0.5), τ
    between what is measured and what is scored, and the measure-all reference: the frontier regret and HyperDiff
    of a method that knows the measured cells exactly, scored against the scoring seeds (setting I), with a 95 %
    bootstrap interval over datasets (`seed` draws the resamples): a reference, since completing the matrix
    averages seed noise away and a method can score lower. `scoring` (positions of the scoring seeds in `cube`)
    adds what seed noise alone costs a choice: the frontier of one scoring seed scored against the mean of the
    others, over every such split. Without scoring seeds (`truth` is `error`), the measured-against-scored
    entries are left out: they would be zero by construction."""
    by_task = np.moveaxis(cube, 0, 2)  # datasets × configurations × seeds
    k = by_task.shape[2]
    halves = (list(range(k // 2)), list(range(k // 2, k)))
    ids = list(range(k)) if seed_ids is None else list(seed_ids)
    split = seed_group_tau(by_task, halves)
    analysis = two_way(by_task)
    spread = error.var(axis=1, ddof=1)  # each row's variance across configurations, against its cells' seed variance
    shares = by_task.var(axis=2, ddof=1).mean(axis=1)[spread > 0] / spread[spread > 0]
    report = {
        "seeds_per_cell": k,
        "two_way_mean_squares": {key: round(v, 6) for key, v in analysis["mean_squares"].items()},
        "two_way_configuration_f": round(analysis["configuration_f"], 2),
        "two_way_configuration_p": float(f"{analysis['configuration_p']:.3g}"),
        "two_way_interaction_over_noise": round(analysis["interaction_over_noise"], 2),
        "two_way_row_shift_share_of_seed_noise": round(analysis["row_shift_share_of_seed_noise"], 3),
        "noise_share_of_row_variance_mean": round(float(shares.mean()), 3) if len(shares) else None,
        "noise_share_of_row_variance_median": round(float(np.median(shares)), 3) if len(shares) else None,
        "seed_split": [[int(ids[i]) for i in half] for half in halves],
        "seed_split_tau_median": _median(split),
        "seed_split_tau_share_at_least_0_5": round(float(np.mean(np.nan_to_num(split) >= SEED_SPLIT_TAU)), 3),
    }
    if scoring:
        report["measured_vs_scoring_tau_median"] = _median(np.array([_row_tau(e, t) for e, t in zip(error, truth)]))
    report["duplicate_column_groups"] = len(duplicate_columns(by_task, [str(j) for j in range(by_task.shape[1])]))
    if not scoring:
        return report
    regret = np.array([frontier_regret(m, t, e) for m, t, e in zip(memory, truth, error)])
    fronts = [pareto_mask(m, e) for m, e in zip(memory, error)]
    hyperdiff = np.array(
        [frontier_scores(m, t, m[f], e[f], max_memory).hyperdiff for m, t, e, f in zip(memory, truth, error, fronts)]
    )
    draws = np.random.default_rng(seed).integers(0, len(regret), (2000, len(regret)))
    lo, hi = np.percentile(regret[draws].mean(axis=1), [2.5, 97.5])
    report |= {
        "measure_all_frontier_regret": round(float(regret.mean()), 4),
        "measure_all_frontier_regret_ci95": [round(float(lo), 4), round(float(hi), 4)],
        "measure_all_hyperdiff": round(float(hyperdiff.mean()), 4),
    }
    if len(scoring) >= 2:
        report |= _seed_noise_regret(cube[list(scoring)], memory, draws)
    return report


def _seed_noise_regret(scored: np.ndarray, memory: np.ndarray, draws: np.ndarray) -> dict[str, Any]:
    """Frontier regret of choosing by one scoring seed, scored against the mean of the other scoring seeds,
    averaged over which seed chooses; mean over datasets with a 95 % interval from the resamples `draws`."""
    k = scored.shape[0]
    per_row = np.mean(
        [
            [
                frontier_regret(m, np.delete(scored, s, axis=0)[:, i].mean(axis=0), scored[s, i])
                for i, m in enumerate(memory)
            ]
            for s in range(k)
        ],
        axis=0,
    )
    lo, hi = np.percentile(per_row[draws].mean(axis=1), [2.5, 97.5])
    return {
        "seed_noise_frontier_regret": round(float(per_row.mean()), 4),
        "seed_noise_frontier_regret_ci95": [round(float(lo), 4), round(float(hi), 4)],
    }


def _median(values: np.ndarray) -> float | None:
    """The median of the finite values (τ is undefined on a constant row), or None when there are none."""
    finite = values[np.isfinite(values)]
    return round(float(np.median(finite)), 3) if len(finite) else None


def architecture_report(
    error: np.ndarray,
    memory: np.ndarray,
    tasks: Sequence[str],
    architectures: Sequence[str],
    grouping: tuple[str, np.ndarray] | None = None,
    of_rows: Callable[[np.ndarray], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A multi-architecture suite's structure: each architecture's own report (with `of_rows(its rows)` added,
    e.g. its seed report), and whether a task's configurations rank alike on different networks (Kendall τ
    between its rows, pooled over tasks)."""
    task_of, arch_of = np.asarray(tasks), np.asarray(architectures)
    per = {
        str(a): structure_report(error[arch_of == a], memory[arch_of == a], grouping)
        | ({} if of_rows is None else of_rows(np.flatnonzero(arch_of == a)))
        for a in dict.fromkeys(arch_of)
    }
    pairs: list[float] = []
    for t in dict.fromkeys(task_of):
        rows = np.flatnonzero(task_of == t)
        pairs += [kendalltau(error[i], error[j])[0] for k, i in enumerate(rows) for j in rows[k + 1 :]]
    taus = np.array([t for t in pairs if np.isfinite(t)])
    return {
        "by_architecture": per,
        "same_task_kendall_tau_across_architectures_mean": round(float(taus.mean()), 3) if len(taus) else None,
        "same_task_kendall_tau_across_architectures_positive_share": round(float((taus > 0).mean()), 3)
        if len(taus)
        else None,
    }


def _on_frontiers(s: dict[str, Any]) -> str:
    """The three groups of configurations most often on the frontiers (Format-A bits or weights formats)."""
    what = "Format A bits" if "format_a_bits_share_on_frontiers" in s else "weights"
    shares = s.get("format_a_bits_share_on_frontiers") or s.get("weights_format_share_on_frontiers") or {}
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:3]
    return f"{what}: " + ", ".join(f"{k} {v:.0%}" for k, v in top) if top else "–"


def _seed_std(s: dict[str, Any]) -> str:
    if "two_way_mean_squares" in s:
        return f"{np.sqrt(s['two_way_mean_squares']['seed_noise']):.3f} (every cell, {s['seeds_per_cell']} seeds)"
    if s.get("noise_seed_std_of_error") is None:
        return "unknown: one seed per cell"
    return f"{s['noise_seed_std_of_error']:.3f} ({s['noise_replicated_cells']} cells)"


def _noise_share(s: dict[str, Any]) -> str:
    if s.get("noise_share_of_row_variance_median") is None:
        return "unknown"
    return f"{s['noise_share_of_row_variance_median']:.0%}, {s['noise_share_of_row_variance_mean']:.0%}"


def _two_way(s: dict[str, Any]) -> str:
    if "two_way_mean_squares" not in s:
        return "not measured: not every cell has several seeds"
    return (
        f"F {s['two_way_configuration_f']:.1f} (p {s['two_way_configuration_p']:.2g}), "
        f"interaction {s['two_way_interaction_over_noise']:.2f}× seed noise"
    )


def _seed_split(s: dict[str, Any]) -> str:
    if "seed_split_tau_share_at_least_0_5" not in s:
        return "not measured"
    first, second = s["seed_split"]
    median = "–" if s["seed_split_tau_median"] is None else f"{s['seed_split_tau_median']:.2f}"
    return f"{s['seed_split_tau_share_at_least_0_5']:.0%} of rows (seeds {first} vs {second}; median τ {median})"


def _criteria(missed: list[str] | None) -> str:
    if missed is None:
        return "not measurable: not every cell has several seeds"
    return "met" if not missed else "missed: " + "; ".join(missed)


def _measure_all(s: dict[str, Any]) -> str:
    if "measure_all_frontier_regret" not in s:
        return "–"
    lo, hi = s["measure_all_frontier_regret_ci95"]
    return (
        f"frontier regret {s['measure_all_frontier_regret']:.3f} [{lo:.3f}, {hi:.3f}], HyperDiff "
        f"{s['measure_all_hyperdiff']:.3f}: the measured cells' frontier scored against the scoring seeds"
    )


def _seed_noise(s: dict[str, Any]) -> str:
    if "seed_noise_frontier_regret" in s:
        lo, hi = s["seed_noise_frontier_regret_ci95"]
        return (
            f"frontier regret {s['seed_noise_frontier_regret']:.3f} [{lo:.3f}, {hi:.3f}]: one scoring seed's frontier"
        )
    if s.get("seed_noise_hyperdiff") is None:
        return "unknown"
    datasets, seeds = s["noise_fully_replicated_datasets"], s["noise_replicate_seeds"]
    return f"HyperDiff {s['seed_noise_hyperdiff']:.3f} ({datasets} datasets × {seeds} seeds): a replicate's frontier"


# The rows of `comparison_table`: a label → how one suite's structure report shows it.
COMPARED: dict[str, Callable[[dict[str, Any]], str]] = {
    "top-5 singular values": lambda s: ", ".join(f"{v:.2f}" for v in s["singular_values_top5"]),
    "top-5 share of the singular-value sum": lambda s: f"{s['top5_share_of_singular_value_sum']:.2f}",
    "Kendall τ between rows: mean, share positive": lambda s: (
        f"{s['kendall_tau_mean']:.2f}, {s['kendall_tau_positive_share']:.0%}"
    ),
    "Pareto frontier size: mean (min–max)": lambda s: (
        f"{s['frontier_size_mean']:.1f} ({s['frontier_size_min']}–{s['frontier_size_max']})"
    ),
    "datasets with a frontier of ≥ 3 points": lambda s: f"{s['datasets_with_frontier_of_3_or_more']:.0%}",
    "most frequent on frontiers": _on_frontiers,
    "error range (mean)": lambda s: f"{s['error_min']:.3f}–{s['error_max']:.3f} ({s['error_mean']:.3f})",
    "seed-to-seed std of error (replicated cells)": _seed_std,
    "seed noise as a share of a row's variance: median, mean": _noise_share,
    "two-way analysis with seed replication: configuration effect, interaction": _two_way,
    "rows whose configuration order holds across seed halves (τ ≥ 0.5)": _seed_split,
    "groups of configurations identical in every cell and seed": lambda s: str(s.get("duplicate_column_groups", "–")),
    "structure criteria: configuration p < 1e-6, interaction ≥ 3× seed noise, τ ≥ 0.5 in ≥ 80 % of rows, "
    "no identical configurations": lambda s: _criteria(missed_criteria(s)),
    "measuring every configuration (scored against the scoring seeds)": _measure_all,
    "what seed noise alone costs a choice (a frontier chosen by one seed, scored against the others)": _seed_noise,
}


def comparison_table(reports: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of suites' structure reports side by side (suite name → its metadata["structure"]):
    the properties PEPPP relies on, and how much of each matrix is seed noise. A suite of several
    architectures adds a column per network, from its own rows."""
    columns = {f"`{name}`": s for name, s in reports.items()}
    for name, s in reports.items():
        columns |= {f"`{name}` {arch}": own for arch, own in s.get("by_architecture", {}).items()}
    lines = ["| property | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    lines += [
        f"| {row} | " + " | ".join(_shown(show, s) for s in columns.values()) + " |" for row, show in COMPARED.items()
    ]
    return "\n".join(lines)


def _shown(show: Callable[[dict[str, Any]], str], s: dict[str, Any]) -> str:
    """One cell of the comparison; – where the report does not hold it (an older suite's network)."""
    try:
        return show(s)
    except KeyError:
        return "–"


def two_way(errors: np.ndarray) -> dict[str, Any]:
    """Two-way analysis of errors with seed replication, `errors[task, configuration, seed]` (the structure
    criteria): the task, configuration and task × configuration mean squares against seed noise.

    Seed noise is every difference between seeds of a cell, the shift of a whole row by its seed (shared
    initial weights, data order and rounding bits) included: `row_shift_share_of_seed_noise` says how much.
    F and p of the configuration effect are against seed noise (fixed effects)."""
    from scipy.stats import f as f_dist

    t, c, s = errors.shape
    if s < 2:
        raise ValueError("a two-way analysis with replication needs at least 2 seeds per cell")
    cell = errors.mean(axis=2)
    grand, task, config = cell.mean(), cell.mean(axis=1), cell.mean(axis=0)
    ss = {
        "task": c * s * float(((task - grand) ** 2).sum()),
        "configuration": t * s * float(((config - grand) ** 2).sum()),
        "interaction": s * float(((cell - task[:, None] - config[None, :] + grand) ** 2).sum()),
        "seed_noise": float(((errors - cell[:, :, None]) ** 2).sum()),
    }
    df = {"task": t - 1, "configuration": c - 1, "interaction": (t - 1) * (c - 1), "seed_noise": t * c * (s - 1)}
    ms = {k: ss[k] / df[k] if df[k] else float("nan") for k in ss}
    rows = errors.mean(axis=1)  # each (task, seed) row's mean: its shift
    row_shift = c * float(((rows - rows.mean(axis=1, keepdims=True)) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # no seed noise at all (e.g. every run at chance): inf or NaN
        f_config = float(np.float64(ms["configuration"]) / ms["seed_noise"])
        interaction = float(np.float64(ms["interaction"]) / ms["seed_noise"])
    return {
        "tasks": t,
        "configurations": c,
        "seeds": s,
        "mean_squares": {k: float(v) for k, v in ms.items()},
        "degrees_of_freedom": df,
        "configuration_f": float(f_config),
        "configuration_p": float(f_dist.sf(f_config, df["configuration"], df["seed_noise"])),
        "interaction_over_noise": interaction,
        "row_shift_share_of_seed_noise": float(row_shift / ss["seed_noise"]) if ss["seed_noise"] else 0.0,
    }


def seed_group_tau(errors: np.ndarray, groups: tuple[Sequence[int], Sequence[int]]) -> np.ndarray:
    """Per task, Kendall's τ-b between the configuration orders of two disjoint groups of seeds (each group's
    mean error per configuration), `errors[task, configuration, seed]`; NaN where a group's row is constant."""
    if set(groups[0]) & set(groups[1]):
        raise ValueError(f"seed groups {groups} overlap")
    a, b = (errors[:, :, list(g)].mean(axis=2) for g in groups)
    return np.array([_row_tau(x, y) for x, y in zip(a, b)])


def _row_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's τ-b between two rows, NaN where either is constant (τ is undefined there)."""
    return float(kendalltau(x, y).statistic) if np.ptp(x) and np.ptp(y) else float("nan")


def duplicate_columns(errors: np.ndarray, ids: Sequence[str]) -> list[list[str]]:
    """Groups of configurations whose errors are identical in every task and seed, `errors[task,
    configuration, seed]`: the recipe cannot tell them apart (e.g. Format B exponents that never overflow)."""
    groups: dict[bytes, list[str]] = {}
    for j, cid in enumerate(ids):
        groups.setdefault(np.ascontiguousarray(errors[:, j, :]).tobytes(), []).append(cid)
    return [g for g in groups.values() if len(g) > 1]
