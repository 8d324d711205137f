"""Negative controls: methods that use no structure of the configurations. A method counts as better than
chance on the board only if it beats both.

`constant` measures nothing and predicts one error for every configuration (the meta-training mean): on
the old HyperDiff it ranked 5th of 14 on `mini` V/VI. `task-mean-memory` measures n random configurations
and predicts their mean error plus a memory trend fitted on meta-training: it knows how good the task is
and that memory helps, nothing about which formats.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peppp_bench import Measurement, Method, Oracle, Task


class Constant(Method):
    """No measurement; every valid configuration predicted at the mean observed meta-training error."""

    name = "constant"
    nested = True

    def select(self, task: Task, oracle: Oracle) -> None:
        return None

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return np.full(len(task.valid), float(np.nanmean(task.train_error)))


class TaskMeanMemory(Method):
    """n random valid configurations (a seeded permutation, nested in n); prediction = their mean error +
    β · (memory − their mean memory), β the within-row least-squares slope of error on memory in meta-training."""

    name = "task-mean-memory"
    nested = True

    def select(self, task: Task, oracle: Oracle) -> None:
        order = np.random.default_rng(task.seed).permutation(len(task.valid))
        for position in order[: task.budget]:
            oracle.measure(int(task.valid[position]))

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        memory = task.test_memory[task.valid]
        if not measured:
            return np.full(len(task.valid), float(np.nanmean(task.train_error)))
        level = np.mean([m.error for m in measured])
        centre = np.mean([m.memory for m in measured])
        return level + memory_slope(task.train_error, task.train_memory) * (memory - centre)


def memory_slope(error: np.ndarray, memory: np.ndarray) -> float:
    """Least-squares slope of error on memory over observed entries, each row centred on its own means."""
    seen = ~np.isnan(error)
    counts = seen.sum(axis=1, keepdims=True)
    rows = counts[:, 0] >= 2
    if not rows.any():
        return 0.0
    e, m, seen, counts = error[rows], memory[rows], seen[rows], counts[rows]
    e_c = np.where(seen, e - np.nansum(e, axis=1, keepdims=True) / counts, 0.0)
    m_c = np.where(seen, m - np.where(seen, m, 0.0).sum(axis=1, keepdims=True) / counts, 0.0)
    spread = float((m_c**2).sum())
    return float((e_c * m_c).sum() / spread) if spread > 0 else 0.0
