"""Pareto frontiers of (memory, error), both minimized, and the metrics of spec §6.

Ties: a point is dominated only by a point at least as good in both objectives and strictly better in
one, so exact duplicates are all kept on the frontier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pareto_mask(memory: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated points (minimize memory and error)."""
    m = np.asarray(memory, dtype=float)[:, None]
    e = np.asarray(error, dtype=float)[:, None]
    no_worse = (m.T <= m) & (e.T <= e)  # [i, j]: j is no worse than i in both
    better = (m.T < m) | (e.T < e)
    return ~(no_worse & better).any(axis=1)


def hypervolume(memory: np.ndarray, error: np.ndarray, ref: tuple[float, float]) -> float:
    """Exact area dominated by the points up to the reference point (order of the points is irrelevant)."""
    m = np.asarray(memory, dtype=float)
    e = np.asarray(error, dtype=float)
    keep = (m < ref[0]) & (e < ref[1])
    if not keep.any():
        return 0.0
    m, e = m[keep], e[keep]
    front = pareto_mask(m, e)
    m, e = m[front], e[front]
    order = np.lexsort((e, m))
    m, e = m[order], e[order]
    # Staircase: between consecutive memories, the best error so far bounds the dominated region.
    best = np.minimum.accumulate(e)
    widths = np.diff(np.append(m, ref[0]))
    return float(np.sum(widths * (ref[1] - best)))


@dataclass(frozen=True)
class FrontierScores:
    """Metrics of one estimated frontier against the true one (spec §6)."""

    convergence: float
    hyperdiff: float
    max_error: float


def frontier_scores(
    true_memory: np.ndarray, true_error: np.ndarray, est_memory: np.ndarray, est_error: np.ndarray, max_memory: float
) -> FrontierScores:
    """Convergence and HyperDiff of an estimated frontier P versus the true frontier T.

    `true_*` are all configurations of the dataset (T is taken from them); `est_*` are the estimated
    frontier's points (true memory, predicted error). Memory is divided by `max_memory`, error by
    max(1, largest predicted error on P); the reference point is (1, that max error).
    """
    tmask = pareto_mask(true_memory, true_error)
    tm, te = np.asarray(true_memory)[tmask] / max_memory, np.asarray(true_error)[tmask]
    em, ee = np.asarray(est_memory, dtype=float) / max_memory, np.asarray(est_error, dtype=float)
    max_error = max(1.0, float(ee.max()))
    te_n, ee_n = te / max_error, ee / max_error
    dist = np.sqrt((em[:, None] - tm[None, :]) ** 2 + (ee_n[:, None] - te_n[None, :]) ** 2)
    convergence = float(dist.min(axis=1).mean())
    ref = (1.0, 1.0)  # normalized reference point (memory 1, error max_error)
    hyperdiff = abs(hypervolume(em, ee_n, ref) - hypervolume(tm, te_n, ref))
    return FrontierScores(convergence, hyperdiff, max_error)


def relative_error(true_row: np.ndarray, predicted_row: np.ndarray) -> float:
    """Matrix-completion relative error of a row: ‖e − ê‖₂ / ‖e‖₂."""
    true_row = np.asarray(true_row, dtype=float)
    return float(np.linalg.norm(true_row - np.asarray(predicted_row, dtype=float)) / np.linalg.norm(true_row))


def _by_budget(memory: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Configurations in order of memory (then position), the last position of each distinct memory, and the
    columns in that order."""
    m = np.asarray(memory, dtype=float)
    order = np.lexsort((np.arange(len(m)), m))
    m = m[order]
    ends = np.append(np.flatnonzero(np.diff(m) > 0), len(m) - 1)
    return ends, [np.asarray(c, dtype=float)[order] for c in columns]


def frontier_regret(memory: np.ndarray, true_error: np.ndarray, predicted: np.ndarray) -> float:
    """The board's primary metric: mean excess error of following the predicted frontier, over memory budgets.

    Each distinct memory of the configurations given is a budget; within it a user takes the configuration
    predicted best (ties: the smaller memory, then the first), which is the predicted frontier's point for
    that budget. Its true error minus the truly best error within the budget, averaged over the budgets.
    It is ≥ 0, 0 only when every choice is right, and needs no reference point: predictions are only ranked,
    so errors of opposite sign cannot cancel and a constant prediction buys nothing but the cheapest point.
    """
    ends, (p, e) = _by_budget(memory, predicted, true_error)
    best_so_far = np.minimum.accumulate(p)
    improves = np.append(True, p[1:] < best_so_far[:-1])  # strictly better: ties keep the earlier (cheaper) one
    pick = np.maximum.accumulate(np.where(improves, np.arange(len(p)), 0))
    excess = e[pick] - np.minimum.accumulate(e)
    return float(excess[ends].mean())


def worst_frontier_regret(memory: np.ndarray, true_error: np.ndarray) -> float:
    """frontier_regret of the worst possible choices (the truly worst configuration within every budget): the
    score of a fold a method failed."""
    ends, (e,) = _by_budget(memory, true_error)
    return float((np.maximum.accumulate(e) - np.minimum.accumulate(e))[ends].mean())
