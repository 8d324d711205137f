"""Score one fold at one budget: the estimated frontier from predictions, the board's primary metric
(frontier regret) and the metrics of spec §6."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProtocolViolation
from ..numerics import snap
from ..pareto import frontier_regret, frontier_scores, pareto_mask, worst_frontier_regret
from .rules import Measurement


@dataclass(frozen=True)
class FoldScore:
    frontier_regret: float
    convergence: float
    hyperdiff: float
    best_error: float
    regret: float
    relative_memory: float
    n_measured: int


def not_real(predicted: object) -> str | None:
    """Why `predicted` is not a flat sequence of real numbers (no bool, str, complex), or None when it is."""
    if isinstance(predicted, np.ndarray):
        if predicted.dtype.kind in "fiu":
            return None
        values: Any = predicted.ravel().tolist()
    else:
        values = predicted
    if not isinstance(values, (list, tuple)):
        return f"predictions must be a sequence of real numbers, got {type(values).__name__}"
    odd = next(
        (v for v in values if type(v) not in (int, float) and not isinstance(v, (np.floating, np.integer))), None
    )
    if odd is None and not any(isinstance(v, (bool, np.bool_)) for v in values):
        return None
    odd = odd if odd is not None else True
    return (
        f"predictions must be real numbers (floats), got {type(odd).__name__} {str(odd)[:40]!r}: "
        "no booleans, strings or complex numbers"
    )


def check_predictions(predicted: object, valid: np.ndarray) -> np.ndarray:
    """The harness's rules on a method's output; raises ProtocolViolation with the reason.

    What a prediction equals is never a violation: a method may predict the held-out errors exactly when
    the meta-training rows determine them. Peeking is prevented by the sandbox, not guessed from values."""
    problem = not_real(predicted)
    if problem:
        raise ProtocolViolation(problem)
    p = np.asarray(predicted, dtype=float)
    if p.shape != (len(valid),):
        raise ProtocolViolation(
            f"predictions have shape {p.shape}, expected ({len(valid)},): one per valid configuration"
        )
    if not np.isfinite(p).all():
        raise ProtocolViolation(f"{int((~np.isfinite(p)).sum())} predictions are NaN or infinite")
    return p


def score(
    predicted: np.ndarray,
    valid: np.ndarray,
    measured: Sequence[Measurement],
    true_error: np.ndarray,
    memory: np.ndarray,
    max_memory: float,
) -> FoldScore:
    """Frontier regret, the frontier metrics, best error on the estimated frontier, its regret and the
    relative memory used. Predictions are compared after `snap`, so rounding noise of another CPU's
    arithmetic never changes the estimated frontier."""
    predicted = snap(predicted)
    mem_valid = memory[valid]
    on_front = pareto_mask(mem_valid, predicted)
    s = frontier_scores(memory, true_error, mem_valid[on_front], predicted[on_front], max_memory)
    chosen = np.union1d([m.config for m in measured], valid[on_front]).astype(int)
    best = float(true_error[chosen].min())
    used = float(sum(m.memory for m in measured))
    return FoldScore(
        frontier_regret=frontier_regret(mem_valid, true_error[valid], predicted),
        convergence=s.convergence,
        hyperdiff=s.hyperdiff,
        best_error=best,
        regret=best - float(true_error[valid].min()),
        relative_memory=used / float(mem_valid.sum()),
        n_measured=len(measured),
    )


def worst_case(valid: np.ndarray, true_error: np.ndarray, memory: np.ndarray) -> float:
    """The frontier regret a failed fold scores: that of the worst configuration within every budget."""
    return worst_frontier_regret(memory[valid], true_error[valid])
