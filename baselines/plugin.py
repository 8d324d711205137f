"""`-plugin` variants of the model-based baselines: the same selection and model, but every measured
configuration is predicted at its true error (`peppp_bench.plug_in`). The paper's definitions predict
measured configurations from the model too; the board shows both."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from peppp_bench import Measurement, Task, plug_in

from .bayesian_optimization import BOMF, BOFull
from .experiment_design import EDMF, QRMF, RandomMF


class _PlugIn:
    """Mixin: the base class's predictions with the measured errors plugged in."""

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return plug_in(super().predict(task, measured), measured, task.valid)  # type: ignore[misc]


class EDMFPlugIn(_PlugIn, EDMF):
    name = "ed-mf-plugin"


class QRMFPlugIn(_PlugIn, QRMF):
    name = "qr-mf-plugin"


class RandomMFPlugIn(_PlugIn, RandomMF):
    name = "random-mf-plugin"


class BOMFPlugIn(_PlugIn, BOMF):
    name = "bo-mf-plugin"


class BOFullPlugIn(_PlugIn, BOFull):
    name = "bo-full-plugin"
