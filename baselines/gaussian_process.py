"""A Gaussian process regressor for the BO baselines: kernel RBF(ℓ) + white noise σ², targets standardized,
ℓ and σ² by maximum marginal likelihood over a logarithmic grid (ℓ 1e-3…1e3, σ² 1e-5…10).

The model is scikit-learn's `GaussianProcessRegressor(RBF() + WhiteKernel(), normalize_y=True)`. Its
hyperparameters are chosen on a grid, all candidates at once, instead of by L-BFGS from one start: the BO
baselines fit hundreds of thousands of tiny GPs, and the local optimizer's per-call overhead made them 70 %
of the whole study. The grid also finds the global optimum where L-BFGS stopped at a local one.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from peppp_bench import first_max

LENGTH_SCALES = np.logspace(-3, 3, 25)
NOISE_LEVELS = np.logspace(-5, 1, 13)
JITTER = 1e-10  # scikit-learn's `alpha`, added to the diagonal


class GaussianProcess:
    """`fit(X, y)` then `predict(X)` → (mean, standard deviation); the noise is part of the predicted spread."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        self.X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        self.y_mean, self.y_std = y.mean(), y.std()
        if self.y_std == 0:
            self.y_std = 1.0
        self.y = (y - self.y_mean) / self.y_std
        sq = _squared_distances(self.X, self.X)
        length, noise = np.meshgrid(LENGTH_SCALES, NOISE_LEVELS, indexing="ij")
        length, noise = length.ravel(), noise.ravel()
        n = len(self.y)
        K = np.exp(-0.5 * sq[None] / length[:, None, None] ** 2) + (noise + JITTER)[:, None, None] * np.eye(n)
        L = np.linalg.cholesky(K)
        z = np.linalg.solve(L, np.broadcast_to(self.y[:, None], (len(K), n, 1)))[..., 0]
        lml = -0.5 * (z**2).sum(axis=1) - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        best = first_max(lml)  # first of equals: the smallest length scale, then the smallest noise
        self.length, self.noise, self.L = length[best], noise[best], L[best]
        self.alpha = scipy.linalg.cho_solve((self.L, True), self.y, check_finite=False)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at X, in the targets' units."""
        k = np.exp(-0.5 * _squared_distances(np.asarray(X, dtype=float), self.X) / self.length**2)
        mean = k @ self.alpha
        v = scipy.linalg.solve_triangular(self.L, k.T, lower=True, check_finite=False)
        var = np.maximum(1.0 + self.noise - np.einsum("ij,ij->j", v, v), 0.0)
        return mean * self.y_std + self.y_mean, np.sqrt(var) * self.y_std


def _squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Σ (a − b)² summed as differences, not as ‖a‖² + ‖b‖² − 2a·b: equal features are exactly 0 apart on
    every CPU (the expanded form leaves BLAS rounding there, which a near-singular kernel magnifies)."""
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)
