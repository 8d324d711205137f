"""Weighted SoftImpute: recovery of a low-rank matrix, determinism, and the paper's CIFAR-10 check (§8)."""

from __future__ import annotations

import numpy as np
import pytest

from peppp_bench.completion import embeddings, soft_impute
from peppp_bench.protocol.sampling import nonuniform_probabilities, observation_mask, probabilities
from peppp_bench.protocol.studies import meta_training_study


def _low_rank(n: int = 40, d: int = 30, rank: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    return 0.5 + 0.1 * rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) / rank


def test_recovers_a_low_rank_matrix_from_half_its_entries() -> None:
    E = _low_rank()
    mask = np.random.default_rng(2).random(E.shape) < 0.5
    Z = soft_impute(np.where(mask, E, np.nan), rank=4, lam=1e-4)  # rank 3 plus the constant offset
    assert np.linalg.norm(Z - E) / np.linalg.norm(E) < 1e-3


def test_weights_pull_heavily_weighted_entries_closer() -> None:
    E = _low_rank()
    noisy = E + np.random.default_rng(3).normal(scale=0.05, size=E.shape)
    w = np.ones(E.shape)
    w[0] = 100.0
    plain = soft_impute(noisy, rank=1)
    weighted = soft_impute(noisy, rank=1, weights=w)
    assert np.abs(weighted[0] - noisy[0]).mean() < np.abs(plain[0] - noisy[0]).mean()


def test_deterministic_clipped_and_rank_capped() -> None:
    E = _low_rank() * 3 - 1  # values outside [0, 1]
    obs = np.where(np.random.default_rng(4).random(E.shape) < 0.3, E, np.nan)
    a, b = soft_impute(obs, rank=2), soft_impute(obs, rank=2)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert embeddings(a, 2).shape == (2, E.shape[1])
    with pytest.raises(ValueError, match="no observed entry"):
        soft_impute(np.full((3, 3), np.nan), rank=1)


def test_embeddings_leave_out_directions_of_rounding_noise() -> None:
    """A completed matrix of rank 2 has 2 embedding directions however large the rank asked, and the same ones
    (as a projector; a direction's sign is arbitrary) when another CPU's rounding moves its last bits."""
    rng = np.random.default_rng(5)
    Z = rng.random((5, 2)) @ rng.random((2, 12))
    Y = embeddings(Z, 5)
    assert Y.shape == (2, 12)
    for seed in range(5):
        moved = Z * (1 + 1e-15 * np.random.default_rng(seed).standard_normal(Z.shape))
        again = embeddings(moved, 5)
        assert again.shape == (2, 12) and np.allclose(again.T @ again, Y.T @ Y, atol=1e-9)
    assert embeddings(np.zeros((3, 4)), 2).shape == (1, 4)  # no direction of its own: one, so methods can run


def test_sampling_masks(paper) -> None:
    M = paper.M
    uniform = observation_mask("uniform", M, seed=0)
    assert uniform.mean() == pytest.approx(0.2, abs=0.01)
    assert np.array_equal(uniform, observation_mask("uniform", M, seed=0))
    assert not np.array_equal(uniform, observation_mask("uniform", M, seed=1))
    p = nonuniform_probabilities(M)
    assert (
        p.flat[np.argmax(M)] == 0
        and p.max() == pytest.approx(0.2)
        and p.flat[np.argmin(M)] == pytest.approx(0.2, abs=1e-3)
    )
    share = np.mean([observation_mask("nonuniform", M, seed=s).mean() for s in range(5)])
    mem_share = np.mean([(M * observation_mask("nonuniform", M, seed=s)).sum() / M.sum() for s in range(5)])
    assert share == pytest.approx(0.10, abs=0.01) and mem_share == pytest.approx(0.08, abs=0.01)
    assert (probabilities("full", M) == 1).all() and observation_mask("full", M, 0).all()
    with pytest.raises(ValueError, match="unknown sampling kind"):
        probabilities("stratified", M)


def test_cifar10_meta_training_check(paper) -> None:
    """Spec §8 (Figure 10), with the paper's completion (never-observed columns at 0): 20 % uniform →
    convergence ≈ 0.03, HyperDiff ≈ 0.02; 5 % → ≈ 0.09, ≈ 0.16. Filling them from the nearest formats
    instead (the default) only changes the sparse case, and improves it."""
    study = meta_training_study(paper, "uniform", (0.05, 0.2), seeds=range(10), fill=False)
    cifar = study[study.dataset_id == "cifar10"].groupby("ratio")[["convergence", "hyperdiff"]].mean()
    filled = meta_training_study(paper, "uniform", (0.05, 0.2), seeds=range(10))
    filled = filled[filled.dataset_id == "cifar10"].groupby("ratio")[["convergence", "hyperdiff"]].mean()
    assert filled.loc[0.2].to_dict() == pytest.approx(cifar.loc[0.2].to_dict(), abs=1e-9)
    assert filled.loc[0.05, "convergence"] < cifar.loc[0.05, "convergence"]
    assert cifar.loc[0.2, "convergence"] == pytest.approx(0.03, abs=0.01)
    assert cifar.loc[0.2, "hyperdiff"] == pytest.approx(0.02, abs=0.015)
    assert cifar.loc[0.05, "convergence"] == pytest.approx(0.09, abs=0.03)
    assert cifar.loc[0.05, "hyperdiff"] == pytest.approx(0.16, abs=0.05)


def test_a_never_observed_column_is_filled_from_its_nearest_formats_not_zero() -> None:
    E = _low_rank(d=5) + 0.3
    obs = E.copy()
    obs[:, 2] = np.nan  # column 2 is never observed; in format units, columns 1 and 3 are its nearest
    features = np.array([[3, 1], [3, 2], [3, 3], [3, 4], [5, 4]], dtype=float)
    Z = soft_impute(obs, rank=2, column_features=features)
    assert np.allclose(Z[:, 2], (Z[:, 1] + Z[:, 3]) / 2) and Z[:, 2].min() > 0.2
    assert (soft_impute(obs, rank=2, fill=False)[:, 2] < 0.05).all()  # what the paper's completion gave
    no_features = soft_impute(obs, rank=2)
    assert np.allclose(no_features[:, 2], no_features[:, [0, 1, 3, 4]].mean(axis=1))
    obs[4] = np.nan  # a never-observed row gets the mean of the observed rows
    Z = soft_impute(obs, rank=2, column_features=features)
    assert np.allclose(Z[4], np.delete(Z, 4, axis=0).mean(axis=0))
