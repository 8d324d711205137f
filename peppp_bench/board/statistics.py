"""The board's statistics, a pure function of the long table of folds: per (suite, setting, n, method) the
mean with a 95 % bootstrap interval, the probability of being best, the top group, and paired tests with a
Holm correction within each cell.

The random draws that matter are the held-out datasets and the mask seeds, so the bootstrap resamples both
(datasets and seeds independently, with replacement, the same draw for every method of a cell: paired).
A method's score on a dataset is its mean over seeds; paired tests are Wilcoxon signed-rank tests over
datasets. The family of a multiple-comparison correction is one cell (one setting × n on one suite): one
comparison of methods on one set of datasets, as in critical-difference analyses. The top group of a cell
is its best method and every method not significantly worse than it (Holm over the cell's tests against its
best, α = 0.05). Reference bounds are shown, never ranked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import studentized_range, wilcoxon

from ..numerics import snap

ALPHA = 0.05
RESAMPLES = 2000
SEED = 20220425  # the bootstrap's seed (the paper's ICLR 2022 publication date), fixed so the board is reproducible
CELL = ["suite", "setting", "n"]


@dataclass(frozen=True)
class Cube:
    """One cell's scores: datasets × seeds × methods (NaN nowhere: skipped folds are dropped for everyone)."""

    methods: list[str]
    datasets: list[str]
    values: np.ndarray

    @functools.cached_property
    def per_dataset(self) -> np.ndarray:
        """Each method's score on each dataset, its mean over seeds (datasets × methods): what the tests compare."""
        return self.values.mean(axis=1)


def cube(folds: pd.DataFrame, metric: str) -> Cube:
    """The cell's folds as a cube. A (dataset, seed) that some method was not scored on (a skipped fold) is
    dropped for every method, and so is a dataset that then lacks a seed. Methods and datasets in sorted order."""
    if folds.duplicated(["dataset_id", "seed", "method"]).any():
        raise ValueError("a cell holds two folds of one method on the same dataset and seed")
    (d, datasets), (s, seeds), (m, methods) = (
        pd.factorize(folds[k], sort=True) for k in ("dataset_id", "seed", "method")
    )
    grid = np.full((len(datasets), len(seeds), len(methods)), np.nan)
    grid[d, s, m] = folds[metric].to_numpy(dtype=float)
    scored = ~np.isnan(grid).all(axis=(0, 1))  # a method with no score in the cell is not in its cube
    grid = grid[:, :, scored]
    whole = ~np.isnan(grid).any(axis=2)  # (dataset, seed) scored for every method
    kept_seeds = whole.any(axis=0)
    complete = whole[:, kept_seeds].all(axis=1)
    values = grid[complete][:, kept_seeds]
    return Cube([str(x) for x in np.asarray(methods)[scored]], [str(x) for x in np.asarray(datasets)[complete]], values)


@functools.cache
def _weights(datasets: int, seeds: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each dataset and each seed is drawn in each resample, as weights summing to 1."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, datasets, (resamples, datasets))
    cols = rng.integers(0, seeds, (resamples, seeds))
    w_rows = (rows[:, :, None] == np.arange(datasets)).sum(axis=1) / datasets
    w_cols = (cols[:, :, None] == np.arange(seeds)).sum(axis=1) / seeds
    return w_rows, w_cols


def bootstrap_means(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Means over resampled datasets and seeds (datasets × seeds × methods in): resamples × methods.

    A resample's mean is the cube's mean with each dataset and seed weighted by how often it was drawn. The sums
    run through BLAS, whose kernels differ by CPU: the means are snapped, so that every CPU draws the same
    intervals and two methods with the same scores the same means (a difference of exactly 0)."""
    w_rows, w_cols = _weights(values.shape[0], values.shape[1], resamples, seed)
    return snap(np.einsum("bi,bj,ijm->bm", w_rows, w_cols, values, optimize=True))


def p_best(draws: np.ndarray) -> np.ndarray:
    """Share of bootstrap draws in which each method has the lowest mean (ties shared)."""
    low = draws.min(axis=1, keepdims=True)
    winners = np.isclose(draws, low, rtol=0, atol=1e-12)
    return (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of per-dataset scores a vs b (1 when they never differ). The scores are
    first rounded to 32 significant bits (`snap`): two methods' scores, or two datasets' differences, that are
    equal but for the order a mean summed them in are equal, so ties and zeros, and with them the ranks, are
    the same however the scores were computed."""
    sa, sb = snap(np.stack([a, b]))
    if np.array_equal(sa, sb):
        return 1.0
    return float(wilcoxon(sa, sb, zero_method="zsplit").pvalue)


def holm(p: Iterable[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (same order as given)."""
    p = np.asarray(list(p), dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def cell_statistics(folds: pd.DataFrame, metric: str, ranked: set[str]) -> pd.DataFrame:
    """Per method of one cell: mean, 95 % interval, P(best) among `ranked` methods, and the raw p of the
    test against the cell's best ranked method (NaN for the best itself and for methods not ranked)."""
    c = cube(folds, metric)
    if not len(c.datasets):
        return pd.DataFrame()
    draws = bootstrap_means(c.values)
    means = snap(c.values.mean(axis=(0, 1)))  # equal but for summation order: tied, ordered by name
    is_ranked = np.array([m in ranked for m in c.methods])
    best_prob = np.full(len(c.methods), np.nan)
    p_vs_best = np.full(len(c.methods), np.nan)
    if is_ranked.any():
        best_prob[is_ranked] = p_best(draws[:, is_ranked])
        best = int(np.flatnonzero(is_ranked)[np.argmin(means[is_ranked])])
        per_dataset = c.per_dataset
        for j in np.flatnonzero(is_ranked):
            if j != best:
                p_vs_best[j] = paired_p(per_dataset[:, j], per_dataset[:, best])
    return pd.DataFrame(
        {
            "method": c.methods,
            "mean": means,
            "ci_low": np.percentile(draws, 2.5, axis=0),
            "ci_high": np.percentile(draws, 97.5, axis=0),
            "p_best": best_prob,
            "p_vs_best": p_vs_best,
            "datasets": len(c.datasets),
        }
    )


def board_statistics(folds: pd.DataFrame, metric: str, ranked: set[str], own_folds: bool = False) -> pd.DataFrame:
    """Every cell's statistics, with the Holm-adjusted p against the cell's best (Holm within the cell) and the
    top group. `own_folds`: each method's numbers from its own folds alone (for metrics a failed fold leaves
    undefined), so that one method's failures never change another's; nothing is then ranked or tested."""
    frames = []
    for key, f in folds.groupby(CELL, sort=True):
        parts = [g for _, g in f.groupby("method", sort=True)] if own_folds else [f]
        for part in parts:
            stats = cell_statistics(part, metric, set() if own_folds else ranked)
            if not stats.empty:
                frames.append(stats.assign(**dict(zip(CELL, key))))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["p_vs_best_holm"] = np.nan
    for _, cell in out[out.p_vs_best.notna()].groupby(CELL):
        out.loc[cell.index, "p_vs_best_holm"] = holm(cell.p_vs_best)
    ranked_rows = out.method.isin(ranked)
    out["top_group"] = ranked_rows & (out.p_vs_best.isna() | (out.p_vs_best_holm >= ALPHA))
    return out


def compare(folds: pd.DataFrame, metric: str, pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Paired tests of method a against method b in every cell where both ran: mean difference (a − b) with a
    bootstrap interval, wins/losses over datasets, Wilcoxon p and Holm-adjusted p over the cell's pairs."""
    rows = []
    pairs = list(pairs)
    for key, f in folds.groupby(CELL, sort=True):
        c = cube(f, metric)
        if not len(c.datasets):
            continue
        means = bootstrap_means(c.values)  # a difference of weighted means is the weighted mean of differences
        for a, b in pairs:
            if a in c.methods and b in c.methods:
                paired = _paired(c, means, c.methods.index(a), c.methods.index(b))
                rows.append({**dict(zip(CELL, key)), "method": a, "versus": b, **paired})
    return _holm_within_cells(pd.DataFrame(rows))


def setting_differences(folds: pd.DataFrame, metric: str, pairs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Each method's score in setting a minus its score in setting b on the same held-out datasets and seeds, per
    (suite, a, n): mean difference with a paired bootstrap interval, datasets won/lost, Wilcoxon p, and Holm over
    the methods of that cell. What a setting costs against another, such as meta-training on other networks (X)
    against the same number of rows of the held-out row's own network (I)."""
    rows = []
    pairs = list(pairs)
    for (suite, n), f in folds.groupby(["suite", "n"], sort=True):
        for a, b in pairs:
            for method, g in f[f.setting.isin([a, b])].groupby("method", sort=True):
                c = cube(g.assign(method=g.setting), metric)  # the two settings as the cube's two columns
                if c.methods == sorted([a, b]) and len(c.datasets):
                    paired = _paired(c, bootstrap_means(c.values), c.methods.index(a), c.methods.index(b))
                    rows.append({"suite": suite, "setting": a, "n": n, "method": method, "versus": b, **paired})
    return _holm_within_cells(pd.DataFrame(rows))


def _paired(c: Cube, means: np.ndarray, ia: int, ib: int) -> dict[str, float | int]:
    """Column ia of a cube against column ib: mean difference, its bootstrap interval (from `means`, the cube's
    bootstrap means), datasets won and lost, and the Wilcoxon p over per-dataset means."""
    per_dataset = c.per_dataset[:, ia] - c.per_dataset[:, ib]
    draws = means[:, ia] - means[:, ib]
    return {
        "difference": float((c.values[:, :, ia] - c.values[:, :, ib]).mean()),
        "ci_low": float(np.percentile(draws, 2.5)),
        "ci_high": float(np.percentile(draws, 97.5)),
        "wins": int((per_dataset < -1e-12).sum()),
        "losses": int((per_dataset > 1e-12).sum()),
        "p": paired_p(c.per_dataset[:, ia], c.per_dataset[:, ib]),
    }


def _holm_within_cells(out: pd.DataFrame) -> pd.DataFrame:
    """`out` with each p Holm-adjusted over the other rows of its cell (p_holm)."""
    if not out.empty:
        out["p_holm"] = np.nan
        for _, cell in out.groupby(CELL):
            out.loc[cell.index, "p_holm"] = holm(cell.p)
    return out


def average_ranks(folds: pd.DataFrame, metric: str, ranked: set[str]) -> tuple[pd.Series, float, int]:
    """Mean rank of each ranked method (ties share the mean rank) over every (setting, n, dataset), each a
    mean over seeds, and the Nemenyi critical difference at α = 0.05 with the held-out datasets as the
    independent blocks (settings, budgets and seeds of one dataset are not independent), and their number."""
    f = folds[folds.method.isin(ranked)]
    table = f.pivot_table(index=["setting", "n", "dataset_id"], columns="method", values=metric, aggfunc="mean")
    table = table.dropna(axis=0, how="any")
    ranks = table.rank(axis=1, method="average").mean(axis=0).sort_values()
    k, blocks = table.shape[1], table.index.get_level_values("dataset_id").nunique()
    q = float(studentized_range.ppf(1 - ALPHA, k, np.inf)) / np.sqrt(2) if k > 1 else 0.0
    return ranks, q * float(np.sqrt(k * (k + 1) / (6 * max(blocks, 1)))), blocks
