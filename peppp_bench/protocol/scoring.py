"""Score one fold at one budget: the estimated frontier from predictions, and the metrics of spec §6."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..pareto import frontier_scores, pareto_mask
from .rules import Measurement, ProtocolViolation


@dataclass(frozen=True)
class FoldScore:
    convergence: float
    hyperdiff: float
    best_error: float
    regret: float
    relative_memory: float
    n_measured: int


def check_predictions(predicted: object, valid: np.ndarray, true_error: np.ndarray,
                      measured: Sequence[Measurement], reference: bool) -> np.ndarray:
    """The harness's rules on a method's output; raises ProtocolViolation with the reason."""
    try:
        p = np.asarray(predicted, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ProtocolViolation(f"predictions are not numbers ({type(predicted).__name__}: {exc})") from None
    if p.shape != (len(valid),):
        raise ProtocolViolation(f"predictions have shape {p.shape}, expected ({len(valid)},): one per valid configuration")
    if not np.isfinite(p).all():
        raise ProtocolViolation(f"{int((~np.isfinite(p)).sum())} predictions are NaN or infinite")
    if not reference:
        unmeasured = ~np.isin(valid, [m.config for m in measured])
        if unmeasured.sum() >= 3 and np.array_equal(p[unmeasured], true_error[valid][unmeasured]):
            raise ProtocolViolation("peeking: predictions equal the held-out errors at every unmeasured configuration")
    return p


def score(predicted: np.ndarray, valid: np.ndarray, measured: Sequence[Measurement],
          true_error: np.ndarray, memory: np.ndarray, max_memory: float) -> FoldScore:
    """Frontier metrics, best error on the estimated frontier, its regret and the relative memory used."""
    mem_valid = memory[valid]
    on_front = pareto_mask(mem_valid, predicted)
    s = frontier_scores(memory, true_error, mem_valid[on_front], predicted[on_front], max_memory)
    chosen = np.union1d([m.config for m in measured], valid[on_front]).astype(int)
    best = float(true_error[chosen].min())
    used = float(sum(m.memory for m in measured))
    return FoldScore(
        convergence=s.convergence,
        hyperdiff=s.hyperdiff,
        best_error=best,
        regret=best - float(true_error[valid].min()),
        relative_memory=used / float(mem_valid.sum()),
        n_measured=len(measured),
    )
