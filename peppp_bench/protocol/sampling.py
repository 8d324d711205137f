"""Observation masks of meta-training (spec §7): which entries of the error matrix are known.

One mask per seed is drawn over the whole matrix; a fold then uses only its meta-training rows, so
nothing of the held-out row leaks into the embedding.
"""

from __future__ import annotations

import numpy as np

MAX_PROBABILITY = 0.2
KINDS = ("full", "uniform", "nonuniform")
_KIND_STREAM = {"full": 0, "uniform": 1, "nonuniform": 2}


def nonuniform_probabilities(memory: np.ndarray, max_probability: float = MAX_PROBABILITY) -> np.ndarray:
    """p_ij = max_p · rank_ij / (n·d − 1), ranking entries by 1/memory (0-based, ties by position).

    The largest-memory entry gets p = 0 and the cheapest max_p: cheap configurations are observed more.
    """
    flat = 1.0 / np.asarray(memory, dtype=float).ravel()
    ranks = np.empty(flat.size)
    ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
    return (max_probability * ranks / (flat.size - 1)).reshape(np.shape(memory))


def probabilities(kind: str, memory: np.ndarray, ratio: float = MAX_PROBABILITY) -> np.ndarray:
    """Observation probability of every entry for a sampling kind ('full', 'uniform', 'nonuniform')."""
    if kind == "full":
        return np.ones(np.shape(memory))
    if kind == "uniform":
        return np.full(np.shape(memory), float(ratio))
    if kind == "nonuniform":
        return nonuniform_probabilities(memory, ratio)
    raise ValueError(f"unknown sampling kind {kind!r}: choose one of {KINDS}")


def completion_weights(kind: str, probability: np.ndarray) -> np.ndarray | None:
    """SoftImpute weights for a sampling kind: 1/p for non-uniform sampling (spec §5), None (all 1) otherwise.

    Entries with p = 0 are never observed, so their infinite weight is never read."""
    if kind != "nonuniform":
        return None
    with np.errstate(divide="ignore"):
        return 1.0 / probability


def observation_mask(kind: str, memory: np.ndarray, seed: int, ratio: float = MAX_PROBABILITY) -> np.ndarray:
    """Boolean mask (True = observed): entry observed iff U(0,1) < p_ij, U drawn from `seed`."""
    p = probabilities(kind, memory, ratio)
    if kind == "full":
        return np.ones(p.shape, dtype=bool)
    rng = np.random.default_rng([int(seed), _KIND_STREAM[kind]])
    return rng.random(p.shape) < p
