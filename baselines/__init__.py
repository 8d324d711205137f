"""The paper's selection methods (spec §5), their `-plugin` variants, Bayes-ED-MF, the two references every
method must beat (`prior`, `prior-best-plugin`) and two negative controls, each written only against
peppp_bench's public method API.

Address them by short name: `peppp-bench evaluate ed-mf ...` or `baselines.make("ed-mf", rank=5)`.
"""

from __future__ import annotations

from peppp_bench import Method

from .bayesian_design import BayesEDMF
from .bayesian_optimization import BOMF, BOFull
from .controls import Constant, TaskMeanMemory
from .experiment_design import EDMF, QRMF, EDMFMemory, RandomMF
from .plugin import BOFullPlugIn, BOMFPlugIn, EDMFPlugIn, QRMFPlugIn, RandomMFPlugIn
from .priors import Prior, PriorBestPlugIn
from .reference import MaxMemory, OracleBound

BASELINES: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        EDMF,
        EDMFMemory,
        QRMF,
        RandomMF,
        BOMF,
        BOFull,
        MaxMemory,
        OracleBound,
        EDMFPlugIn,
        QRMFPlugIn,
        RandomMFPlugIn,
        BOMFPlugIn,
        BOFullPlugIn,
        BayesEDMF,
        Constant,
        TaskMeanMemory,
        Prior,
        PriorBestPlugIn,
    )
}
NEGATIVE_CONTROLS = (Constant.name, TaskMeanMemory.name)
PRIORS = (Prior.name, PriorBestPlugIn.name)  # what a method must beat: the meta-training rows alone


def make(name: str, **params: object) -> Method:
    """An instance of the baseline called `name` (e.g. 'ed-mf'), with its parameters."""
    if name not in BASELINES:
        raise KeyError(f"unknown baseline {name!r}: choose from {', '.join(BASELINES)}")
    return BASELINES[name](**params)


__all__ = [
    "BASELINES",
    "BOFull",
    "BOFullPlugIn",
    "BOMF",
    "BOMFPlugIn",
    "BayesEDMF",
    "Constant",
    "EDMF",
    "EDMFMemory",
    "EDMFPlugIn",
    "MaxMemory",
    "NEGATIVE_CONTROLS",
    "OracleBound",
    "PRIORS",
    "Prior",
    "PriorBestPlugIn",
    "QRMF",
    "QRMFPlugIn",
    "RandomMF",
    "RandomMFPlugIn",
    "TaskMeanMemory",
    "make",
]
