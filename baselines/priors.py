"""References every method must beat: what the meta-training rows say before (`prior`) and after measuring
the configurations they rank best (`prior-best-plugin`). Neither models how the held-out dataset differs from
the others; a selection method earns its place on the board by beating them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peppp_bench import Measurement, Method, Oracle, Task, plug_in, snap


def column_means(task: Task) -> np.ndarray:
    """Each valid configuration's mean error over the meta-training rows, completed where they are masked."""
    return np.asarray(task.completed(), dtype=float)[:, task.valid].mean(axis=0)


class Prior(Method):
    """No measurement: every valid configuration predicted at its meta-training mean (the completed matrix's
    column mean)."""

    name = "prior"
    nested = True

    def select(self, task: Task, oracle: Oracle) -> None:
        return None

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return column_means(task)


class PriorBestPlugIn(Method):
    """Measures the n valid configurations with the lowest meta-training mean error (ties: the cheaper, then
    the first); predicts the meta-training means with the measured errors plugged in."""

    name = "prior-best-plugin"
    nested = True

    def select(self, task: Task, oracle: Oracle) -> None:
        order = np.lexsort((np.arange(len(task.valid)), task.test_memory[task.valid], snap(column_means(task))))
        for position in order[: task.budget]:
            oracle.measure(int(task.valid[position]))

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return plug_in(column_means(task), measured, task.valid)
