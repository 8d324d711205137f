"""Weighted SoftImpute (spec §5): complete a partially observed error matrix, deterministically.

Solves  min_Z ½ Σ_obs w_ij (Z_ij − E_ij)² + λ‖Z‖_*  over Z of rank ≤ k, through the variational
form ‖Z‖_* = min_{Z = UVᵀ} ½(‖U‖² + ‖V‖²): alternating weighted ridge regressions for the rows of
U and V (softImpute-ALS, Hastie et al. 2015). Each half-step solves its rows exactly, so weights as
uneven as 1/p converge in a few hundred cheap steps. The start is the exact SVD of the column-mean
filled matrix (no randomness); the result is clipped to [0, 1].

A column (or row) with no observation at all has no data of its own: left to the factorization it
would complete to 0, a phantom error-free configuration. It is filled instead from what was observed:
a never-observed column with the mean of the completed columns nearest to it in `column_features`
(the configurations' format bits), or of all columns without features; a never-observed row with the
column means of the observed rows. No value is invented.
"""

from __future__ import annotations

import numpy as np

from .numerics import NUMERICAL_RANK_CUTOFF

LAMBDA = 0.1


def soft_impute(
    observed: np.ndarray,
    rank: int,
    weights: np.ndarray | None = None,
    lam: float = LAMBDA,
    tol: float = 1e-6,
    max_iter: int = 1000,
    column_features: np.ndarray | None = None,
    fill: bool = True,
) -> np.ndarray:
    """Complete `observed` (NaN where unobserved) to a matrix of rank ≤ `rank`, values in [0, 1].

    `weights` (same shape; read where observed) default to 1: pass 1/p for non-uniform sampling.
    Stops when the objective improves by less than `tol` relative to its value. `column_features`
    (columns × features) say which columns are alike, for filling never-observed ones; `fill=False`
    leaves them at what the factorization gives (0), as the paper's completion did.
    """
    obs = ~np.isnan(observed)
    if not obs.any():
        raise ValueError("cannot complete a matrix with no observed entry")
    e = np.where(obs, observed, 0.0)
    w = np.where(obs, 1.0 if weights is None else weights, 0.0)
    if (w[obs] <= 0).any() or not np.isfinite(w[obs]).all():
        raise ValueError("weights of observed entries must be positive and finite")
    seen = obs.any(axis=0)
    col_mean = np.where(seen, e.sum(axis=0) / np.maximum(obs.sum(axis=0), 1), e[obs].mean())
    u, s, vt = np.linalg.svd(np.where(obs, e, col_mean[None, :]), full_matrices=False)
    root = np.sqrt(s[:rank])
    U, V = u[:, :rank] * root, vt[:rank].T * root
    ridge = lam * np.eye(U.shape[1])
    we = w * e

    def objective() -> float:
        return 0.5 * float(np.sum(w * (U @ V.T - e) ** 2)) + 0.5 * lam * float(np.sum(U**2) + np.sum(V**2))

    previous = objective()
    for _ in range(max_iter):
        U = np.linalg.solve(_gram(w, V) + ridge, (we @ V)[..., None])[..., 0]
        V = np.linalg.solve(_gram(w.T, U) + ridge, (we.T @ U)[..., None])[..., 0]
        current = objective()
        if previous - current <= tol * max(previous, 1e-12):
            break
        previous = current
    Z = np.clip(U @ V.T, 0.0, 1.0)
    return fill_unobserved(Z, obs, column_features) if fill else Z


def _gram(w: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Per row i of `w`: Σ_j w_ij F_j F_jᵀ (rows × k × k), as one matrix product."""
    k = F.shape[1]
    return (w @ (F[:, :, None] * F[:, None, :]).reshape(len(F), k * k)).reshape(len(w), k, k)


def fill_unobserved(
    completed: np.ndarray, observed: np.ndarray, column_features: np.ndarray | None = None
) -> np.ndarray:
    """`completed` with never-observed rows and columns replaced by what the observed ones say.

    A never-observed column gets, in each row, the mean of the nearest observed columns (L1 distance
    in `column_features`, each feature in units of its smallest step; all ties averaged), or of every
    observed column without features. A never-observed row gets the mean of the observed rows.
    """
    Z = completed.copy()
    seen_cols, seen_rows = observed.any(axis=0), observed.any(axis=1)
    if not seen_cols.all():
        if column_features is None:
            Z[:, ~seen_cols] = Z[:, seen_cols].mean(axis=1, keepdims=True)
        else:
            units = _in_steps(np.asarray(column_features, dtype=float))
            for j in np.flatnonzero(~seen_cols):
                distance = np.abs(units[seen_cols] - units[j]).sum(axis=1)
                nearest = np.flatnonzero(seen_cols)[distance == distance.min()]
                Z[:, j] = Z[:, nearest].mean(axis=1)
    if not seen_rows.all():
        Z[~seen_rows] = Z[seen_rows].mean(axis=0)
    return Z


def _in_steps(features: np.ndarray) -> np.ndarray:
    """Each feature divided by its smallest nonzero step between distinct values (so one step = 1)."""
    out = features.copy()
    for k in range(features.shape[1]):
        gaps = np.diff(np.unique(features[:, k]))
        if len(gaps):
            out[:, k] /= gaps.min()
    return out


def embeddings(complete: np.ndarray, rank: int) -> np.ndarray:
    """Configuration embeddings Y (at most rank × columns): top right singular vectors of a complete matrix,
    of the singular values above NUMERICAL_RANK_CUTOFF of the largest. Fewer meta-training rows than `rank`, or
    components the completion shrank to 0, leave singular values of rounding noise, whose vectors are noise too:
    another CPU draws them differently, and every method that uses Y would choose differently there. At least
    one (a matrix of zeros has no direction of its own)."""
    _, s, vt = np.linalg.svd(complete, full_matrices=False)
    return vt[: max(1, int(np.sum(s[:rank] > NUMERICAL_RANK_CUTOFF * s[0])))]
