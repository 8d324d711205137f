"""Bayesian optimization baselines (spec §5): a Gaussian process of error on configuration features
(`gaussian_process.py`), k random initial picks, then the highest expected improvement (ξ = 0.01) until n
measurements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from peppp_bench import Measurement, Method, Oracle, Task, first_max

from .gaussian_process import GaussianProcess

XI = 0.01


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = XI) -> np.ndarray:
    """EI for minimization: E[max(best − f − ξ, 0)]."""
    std = np.maximum(std, 1e-12)
    improvement = best - mean - xi
    z = improvement / std
    return improvement * norm.cdf(z) + std * norm.pdf(z)


class _GPSearch(Method):
    nested = True

    def __init__(self, rank: int = 5) -> None:
        self.rank = rank
        self._fits: dict[tuple[int, ...], Any] = {}

    def params(self) -> dict[str, Any]:
        return {"rank": self.rank}

    def features(self, task: Task) -> np.ndarray:
        """One feature row per valid configuration."""
        raise NotImplementedError

    def _fit(self, X: np.ndarray, task: Task, measured: Sequence[Measurement]) -> GaussianProcess:
        key = tuple(m.config for m in measured)
        if key not in self._fits:
            position = {int(j): i for i, j in enumerate(task.valid)}
            rows = [position[m.config] for m in measured]
            self._fits[key] = GaussianProcess().fit(X[rows], np.array([m.error for m in measured]))
        return self._fits[key]

    def select(self, task: Task, oracle: Oracle) -> None:
        self._fits = {}  # fits are reused only within one fold
        X = self.features(task)
        rng = np.random.default_rng(task.seed)
        for position in rng.choice(len(task.valid), size=min(self.rank, task.budget, len(task.valid)), replace=False):
            oracle.measure(int(task.valid[position]))
        while oracle.remaining > 0 and len(oracle.measured) < len(task.valid):
            gp = self._fit(X, task, oracle.measured)
            mean, std = gp.predict(X)
            ei = expected_improvement(mean, std, min(m.error for m in oracle.measured))
            taken = np.isin(task.valid, [m.config for m in oracle.measured])
            ei[taken] = -np.inf
            oracle.measure(int(task.valid[first_max(ei)]))

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return self._fit(self.features(task), task, measured).predict(self.features(task))[0]


class BOMF(_GPSearch):
    """Features: the configuration embeddings Y (columns of the rank-k factorization)."""

    name = "bo-mf"

    def features(self, task: Task) -> np.ndarray:
        return task.embeddings(self.rank).T


class BOFull(_GPSearch):
    """Features: the full columns of the completed meta-training matrix."""

    name = "bo-full"

    def features(self, task: Task) -> np.ndarray:
        return task.completed(self.rank)[:, task.valid].T
