"""Figures: the study's curves and ranking from leaderboard submissions (paper Figures 11, 12, 18), and
views of a suite's data (Figures 1a, 1b, 6a, 6b). Each function writes PNG and SVG files and returns them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..pareto import pareto_mask
from ..protocol.rules import SETTING_ORDER
from ..protocol.runner import PRIMARY_METRIC, summarize
from ..suites.structure import frontier_grouping, frontier_shares
from ..suites.suite import Benchmark
from .leaderboard import BOARD_METRICS, board
from .statistics import average_ranks

LABELS = {
    PRIMARY_METRIC: "frontier regret",
    "convergence": "convergence",
    "hyperdiff": "HyperDiff",
    "regret": "regret",
    "relative_memory": "relative memory",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "peppp-bench", "font.size": 9})  # stable SVG ids
    return plt


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        p = out / f"{stem}.{ext}"
        fig.savefig(p, dpi=120, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else {"Software": None})
        paths.append(p)
    _plt().close(fig)
    return paths


def study_figures(
    subs: Sequence[dict[str, Any]], out: Path, seed_noise: dict[str, float | None] | None = None
) -> list[Path]:
    """Per suite: frontier regret and HyperDiff versus n and versus relative memory (mean ± s.e.) for every
    setting, and a critical-difference view of the methods' average ranks by frontier regret in each setting (one
    comparison of methods per setting, as in Demšar's diagrams).

    The metric axes are logarithmic (linear below 1e-3, where the reference bound sits at 0) so that
    differences of a few thousandths between good methods show; what seed noise alone costs a frontier (the
    HyperDiff of a seed replicate's frontier against its row) is drawn as a dashed reference where it is known."""
    plt = _plt()
    paths: list[Path] = []
    for suite in sorted({s["suite"]["name"] for s in subs}):
        folds = board([s for s in subs if s["suite"]["name"] == suite])
        settings = [s for s in SETTING_ORDER if s in set(folds.setting)]
        summary = summarize(folds, BOARD_METRICS)
        methods = list(dict.fromkeys(folds.method))
        colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(methods), 2)))
        noise = (seed_noise or {}).get(suite)
        for x_axis in ("n", "relative_memory"):
            fig, axes = plt.subplots(
                2, len(settings), figsize=(2.6 * len(settings), 4.8), squeeze=False, layout="constrained"
            )
            for col, setting in enumerate(settings):
                for row, metric in enumerate((PRIMARY_METRIC, "hyperdiff")):
                    ax = axes[row][col]
                    for method in methods:
                        s = summary[(summary.method == method) & (summary.setting == setting)]
                        x = s.n if x_axis == "n" else s.relative_memory_mean
                        color = colors[methods.index(method)]
                        ax.plot(x, s[f"{metric}_mean"], label=method, lw=1.2, color=color)
                        ax.fill_between(
                            x,
                            s[f"{metric}_mean"] - s[f"{metric}_se"],
                            s[f"{metric}_mean"] + s[f"{metric}_se"],
                            alpha=0.15,
                            color=color,
                        )
                    if metric == "hyperdiff" and noise is not None:
                        ax.axhline(noise, color="k", ls="--", lw=0.8, label="seed noise (a replicate's frontier)")
                    ax.set_yscale("symlog", linthresh=1e-3)
                    ax.set_ylim(bottom=0)
                    ax.set_title(f"setting {setting}" if row == 0 else "")
                    ax.set_xlabel("measurements n" if x_axis == "n" else "relative memory used")
                    if col == 0:
                        ax.set_ylabel(LABELS[metric])
            handles, labels = axes[1][-1].get_legend_handles_labels()
            fig.legend(handles, labels, fontsize=7, loc="outside right center")
            fig.suptitle(f"suite {suite}: mean ± s.e. over folds")
            paths += _save(fig, out, f"{suite}-metrics-vs-{'n' if x_axis == 'n' else 'memory'}")
        ranked = set(folds[~folds.reference].method)
        columns = min(3, len(settings))
        rows = -(-len(settings) // columns)
        fig, axes = plt.subplots(
            rows,
            columns,
            figsize=(4.2 * columns, (0.26 * len(ranked) + 1.3) * rows),
            squeeze=False,
            layout="constrained",
        )
        for k, setting in enumerate(settings):  # one comparison of methods per setting, as in a CD diagram
            ax = axes[k // columns][k % columns]
            ranks, cd, blocks = average_ranks(folds[folds.setting == setting], PRIMARY_METRIC, ranked)
            y = np.arange(len(ranks))[::-1]
            best = ranks.values[0]
            close = ranks.values - best <= cd  # not significantly worse than the best by the Nemenyi test
            ax.errorbar(ranks.values, y, xerr=cd / 2, fmt="none", ecolor="#999", capsize=2)
            ax.scatter(ranks.values, y, c=np.where(close, "#4c72b0", "#bbb"), zorder=3, s=16)
            ax.axvspan(best, best + cd, color="#4c72b0", alpha=0.08)
            ax.set_yticks(y, ranks.index, fontsize=7)
            ax.set_title(f"setting {setting}: CD {cd:.2f} ({blocks} datasets)", fontsize=9)
            ax.set_xlabel("average rank by frontier regret", fontsize=8)
        for k in range(len(settings), rows * columns):
            axes[k // columns][k % columns].axis("off")
        fig.suptitle(
            f"suite {suite}: average ranks over n and datasets (seed means), per setting; bars: Nemenyi critical "
            "difference at α = 0.05; shaded: within one CD of the best",
            fontsize=9,
        )
        paths += _save(fig, out, f"{suite}-ranking")
    return paths


def frontier_figure(bench: Benchmark, dataset_id: str, out: Path) -> list[Path]:
    """Error versus memory of every configuration of one dataset, its true Pareto frontier marked (Figure 1a)."""
    if dataset_id not in bench.dataset_ids:
        raise KeyError(f"unknown dataset {dataset_id!r} in suite {bench.name}: e.g. {', '.join(bench.dataset_ids[:5])}")
    i = bench.dataset_ids.index(dataset_id)
    m, e = bench.M[i], bench.E[i]
    front = pareto_mask(m, e)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.scatter(m[~front], e[~front], s=12, c="#999", label="configurations")
    order = np.argsort(m[front])
    ax.plot(m[front][order], e[front][order], "o-", c="#d62728", ms=5, label="Pareto frontier")
    ax.set_xlabel("memory (MB)")
    ax.set_ylabel("test error")
    ax.set_title(f"{bench.name}: {dataset_id}")
    ax.legend()
    return _save(fig, out, f"{bench.name}-frontier-{dataset_id}")


def spectrum_figure(bench: Benchmark, out: Path) -> list[Path]:
    """Singular values of the error matrix (Figure 6b)."""
    s = np.linalg.svd(bench.E, compute_uv=False)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.semilogy(np.arange(1, len(s) + 1), s, "o-", ms=3)
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.set_title(f"{bench.name}: top 5 hold {s[:5].sum() / s.sum():.0%} of the sum")
    return _save(fig, out, f"{bench.name}-spectrum")


def kendall_figure(bench: Benchmark, out: Path) -> list[Path]:
    """Kendall τ between the datasets' error rows (Figure 6a)."""
    from scipy.stats import kendalltau

    n = bench.E.shape[0]
    tau = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            tau[i, j] = tau[j, i] = kendalltau(bench.E[i], bench.E[j])[0]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    im = ax.imshow(tau, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, label="Kendall τ")
    off = tau[np.triu_indices(n, 1)]
    ax.set_title(f"{bench.name}: mean τ {off.mean():.2f}, {np.mean(off > 0):.0%} positive")
    ax.set_xlabel("dataset")
    ax.set_ylabel("dataset")
    return _save(fig, out, f"{bench.name}-kendall")


def bits_figure(bench: Benchmark, out: Path) -> list[Path]:
    """Share of each Format-A width (paper configurations; Figure 1b) or each weights format and scaling
    (modern configurations) among the non-dominated configurations of all datasets."""
    grouping = frontier_grouping(bench.configurations)
    if grouping is None:
        raise ValueError(
            f"suite {bench.name!r}: its configurations have neither Format A bits nor a weights format; "
            "the bits figure needs one of them"
        )
    name, labels = grouping
    on_front = np.concatenate([np.flatnonzero(pareto_mask(bench.M[i], bench.E[i])) for i in range(bench.E.shape[0])])
    shares = frontier_shares(labels, on_front)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2 if name == "format_a_bits" else 6.4, 3.2))
    ax.bar([str(b) for b in shares], list(shares.values()), color="#4c72b0")
    ax.set_xlabel("Format A total bits" if name == "format_a_bits" else "weights: format and scaling")
    ax.set_ylabel("share of frontier configurations")
    if name != "format_a_bits":
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_title(bench.name)
    return _save(fig, out, f"{bench.name}-bits")
