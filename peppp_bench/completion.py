"""Weighted SoftImpute (spec §5): complete a partially observed error matrix, deterministically.

Solves  min_Z ½ Σ_obs w_ij (Z_ij − E_ij)² + λ‖Z‖_*  over Z of rank ≤ k, through the variational
form ‖Z‖_* = min_{Z = UVᵀ} ½(‖U‖² + ‖V‖²): alternating weighted ridge regressions for the rows of
U and V (softImpute-ALS, Hastie et al. 2015). Each half-step solves its rows exactly, so weights as
uneven as 1/p converge in a few hundred cheap steps. The start is the exact SVD of the column-mean
filled matrix (no randomness); the result is clipped to [0, 1].

A column with no observation at all has no data to pull it from zero: it completes to 0 (its
embedding is zero). Methods that regress on embeddings should treat such configurations themselves.
"""
from __future__ import annotations

import numpy as np

LAMBDA = 0.1


def soft_impute(
    observed: np.ndarray,
    rank: int,
    weights: np.ndarray | None = None,
    lam: float = LAMBDA,
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> np.ndarray:
    """Complete `observed` (NaN where unobserved) to a matrix of rank ≤ `rank`, values in [0, 1].

    `weights` (same shape; read where observed) default to 1: pass 1/p for non-uniform sampling.
    Stops when the objective improves by less than `tol` relative to its value.
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
        U = np.linalg.solve(np.einsum("ij,jk,jl->ikl", w, V, V) + ridge, (we @ V)[..., None])[..., 0]
        V = np.linalg.solve(np.einsum("ij,ik,il->jkl", w, U, U) + ridge, (we.T @ U)[..., None])[..., 0]
        current = objective()
        if previous - current <= tol * max(previous, 1e-12):
            break
        previous = current
    return np.clip(U @ V.T, 0.0, 1.0)


def embeddings(complete: np.ndarray, rank: int) -> np.ndarray:
    """Configuration embeddings Y (rank × columns): top right singular vectors of a complete matrix."""
    _, _, vt = np.linalg.svd(complete, full_matrices=False)
    return vt[:rank]
