"""Two reference points for the board: the highest precision you can afford, and the oracle bound."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peppp_bench import Measurement, Method, Oracle, Task


class MaxMemory(Method):
    """'The highest precision you can afford': train the valid configuration of largest memory.

    It knows nothing else, so it predicts error 1 (useless) for every configuration it did not train.
    """

    name = "max-memory"
    nested = True

    def select(self, task: Task, oracle: Oracle) -> None:
        memory = task.test_memory[task.valid]
        position = len(memory) - 1 - int(np.argmax(memory[::-1]))  # largest memory; ties: the last column
        oracle.measure(int(task.valid[position]))

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        predicted = np.ones(len(task.valid))
        for m in measured:
            predicted[np.flatnonzero(task.valid == m.config)] = m.error
        return predicted


class OracleBound(Method):
    """REFERENCE BOUND, not a method: it is given the held-out row and predicts it exactly.

    Its convergence is 0 everywhere and its HyperDiff 0 without a cap; with a cap, its HyperDiff is the
    floor that every method faces.
    """

    name = "oracle"
    nested = True
    reference = True

    def select(self, task: Task, oracle: Oracle) -> None:
        return None

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        assert task.reference_error is not None
        return task.reference_error[task.valid]
