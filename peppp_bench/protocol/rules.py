"""The meta-LOOCV protocol (spec §7): settings, what a method sees in a fold, the oracle and its rules.

A selection method implements `Method`: in `select` it measures test configurations through the
`Oracle` (true error of a valid configuration, counted and logged); in `predict` it returns predicted
errors of every valid configuration from its measurements. The harness derives the estimated frontier
and scores it; a method that breaks a rule fails that fold with the reason, and the run goes on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..completion import LAMBDA, embeddings, soft_impute
from ..configs import format_features
from ..errors import ProtocolViolation
from ..numerics import NUMERICAL_RANK_CUTOFF
from .sampling import completion_weights


@dataclass(frozen=True)
class Setting:
    """A meta-LOOCV setting: how meta-training is observed, whether the test dataset has a memory cap, and
    (in suites whose rows are task × architecture) which architectures' rows meta-train."""

    name: str
    observation: str  # 'full' | 'uniform' | 'nonuniform'
    capped: bool
    architectures: str = "same"  # 'same': the held-out row's architecture; 'other': every other one


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("I", "full", False),
        Setting("II", "full", True),
        Setting("III", "uniform", False),
        Setting("IV", "uniform", True),
        Setting("V", "nonuniform", False),
        Setting("VI", "nonuniform", True),
        # Cross-architecture (multi-architecture suites): meta-train on the other networks' rows only.
        Setting("X", "full", False, "other"),
        Setting("XII", "full", True, "other"),
    )
}
PAPER_SETTINGS = ("I", "II", "III", "IV", "V", "VI")
CROSS_ARCHITECTURE_SETTINGS = ("X", "XII")
SETTING_ORDER = tuple(SETTINGS)


def get_setting(name: str) -> Setting:
    if name not in SETTINGS:
        raise KeyError(f"unknown setting {name!r}: choose from {', '.join(SETTINGS)}")
    return SETTINGS[name]


@dataclass(frozen=True)
class Measurement:
    """One trial training: a configuration (column index), its true error and memory."""

    config: int
    error: float
    memory: float


@dataclass(frozen=True, eq=False)
class Task:
    """Everything a method may see in one fold. Arrays are read-only; the test row's errors are absent.

    train_error has NaN where meta-training is unobserved; train_probability is each entry's observation
    probability (1 when fully observed). valid are the configurations within the cap on the test dataset.
    """

    setting: str
    observation: str
    train_error: np.ndarray
    train_memory: np.ndarray
    train_probability: np.ndarray
    configurations: pd.DataFrame
    test_memory: np.ndarray
    cap: float | None
    valid: np.ndarray
    budget: int
    seed: int
    max_memory: float
    reference_error: np.ndarray | None = None  # only for reference methods (the `oracle` bound)
    _cache: dict[Any, np.ndarray] = field(default_factory=dict, repr=False)

    def completed(self, rank: int = 5, lam: float = LAMBDA) -> np.ndarray:
        """The meta-training error matrix completed by weighted SoftImpute (w = 1/p when non-uniform).

        A configuration never observed in meta-training (`never_observed`) is completed from the
        configurations nearest to it in format, never to 0. Fully observed matrices are returned as
        they are. Cached per fold, shared by every method.
        """
        if self.observation == "full":
            return self.train_error
        key = ("completed", rank, lam)
        if key not in self._cache:
            weights = completion_weights(self.observation, self.train_probability)
            Z = soft_impute(self.train_error, rank, weights, lam, column_features=format_features(self.configurations))
            self._cache[key] = readonly(Z)
        return self._cache[key]

    @property
    def never_observed(self) -> np.ndarray:
        """Configurations (column indices) with no observed error in any meta-training row."""
        return np.flatnonzero(np.isnan(self.train_error).all(axis=0))

    def embeddings(self, rank: int = 5, lam: float = LAMBDA) -> np.ndarray:
        """Configuration embeddings Y (at most rank × valid): top right singular vectors of the completed
        meta-training matrix restricted to the valid configurations (fewer where it has lower rank)."""
        key = ("embeddings", rank, lam, self.valid.tobytes())
        if key not in self._cache:
            self._cache[key] = readonly(embeddings(self.completed(rank, lam)[:, self.valid], rank))
        return self._cache[key]


def meta_training_only(cache: dict[Any, np.ndarray]) -> dict[Any, np.ndarray]:
    """The entries of a fold's cache computed from its meta-training rows alone (completions): folds that
    meta-train on the same rows may share them. Embeddings also depend on the fold's valid set."""
    return {key: value for key, value in cache.items() if key[0] == "completed"}


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only float copy: what methods are handed, so shared state cannot be changed."""
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


class Oracle:
    """The only access to the held-out row: `measure(j)` trains configuration j and returns its error.

    Only valid configurations, at most `budget` distinct ones; measuring one again is free and returns
    the same value. Any breach is recorded (so catching the exception does not hide it) and raised.
    """

    __slots__ = ("_measure", "_log", "_violations", "budget")

    def __init__(self, true_error: np.ndarray, memory: np.ndarray, valid: np.ndarray, budget: int) -> None:
        allowed = frozenset(int(j) for j in valid)

        def fetch(j: int, count: int) -> Measurement:
            if j not in allowed:
                raise ProtocolViolation(
                    f"configuration {j} is not valid in this fold (outside the memory cap or out of range)"
                )
            if count >= budget:
                raise ProtocolViolation(f"over budget: a measurement beyond the {budget} allowed")
            return Measurement(j, float(true_error[j]), float(memory[j]))

        self._bind(fetch, budget)

    def _bind(self, fetch: Any, budget: int) -> None:
        """Keep the log and the rules every oracle shares; `fetch(j, measured so far)` makes a new measurement."""
        log: list[Measurement] = []
        seen: dict[int, Measurement] = {}
        violations: list[str] = []

        def measure(config: int) -> float:
            if isinstance(config, (bool, np.bool_)) or not isinstance(config, (int, np.integer)):
                violations.append(f"measure() takes a configuration index (int), got {config!r}")
                raise ProtocolViolation(violations[-1])
            j = int(config)
            if j in seen:
                return seen[j].error
            try:
                m = fetch(j, len(log))
            except ProtocolViolation as exc:
                violations.append(str(exc))
                raise
            seen[j] = m
            log.append(m)
            return m.error

        self._measure, self._log, self._violations, self.budget = measure, log, violations, budget

    def measure(self, config: int) -> float:
        return self._measure(config)

    @property
    def measured(self) -> tuple[Measurement, ...]:
        """Measurements so far, in order."""
        return tuple(self._log)

    @property
    def remaining(self) -> int:
        return self.budget - len(self._log)

    @property
    def violations(self) -> tuple[str, ...]:
        return tuple(self._violations)


class Method(ABC):
    """A selection method. Subclass it, set `name`, implement `select` and `predict`.

    nested = True promises that the first n measurements made under budget N are those made under
    budget n, and that `predict` depends only on the measurements it is given: the harness then calls
    `select` once with the largest budget and `predict` on every prefix. Otherwise both are called
    once per budget. reference = True marks a bound that sees the held-out row (never a submission).
    """

    name: ClassVar[str] = "unnamed"
    nested: ClassVar[bool] = False
    reference: ClassVar[bool] = False

    @abstractmethod
    def select(self, task: Task, oracle: Oracle) -> None:
        """Measure up to `task.budget` valid configurations with `oracle.measure(j)`."""

    @abstractmethod
    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        """Predicted errors of `task.valid`, in that order, from these measurements."""

    def params(self) -> dict[str, Any]:
        """Constructor arguments: recorded with the results, and used to re-create the method to verify it."""
        return {}


def regress(Y: np.ndarray, measured: Sequence[Measurement], valid: np.ndarray) -> np.ndarray:
    """Least squares on configuration embeddings: x = argmin ‖Y_Sᵀx − e_S‖², prediction xᵀY (spec §5), of
    minimum norm where the design is numerically rank-deficient."""
    position = {int(j): i for i, j in enumerate(valid)}
    cols = [position[m.config] for m in measured]
    e = np.array([m.error for m in measured])
    x, *_ = np.linalg.lstsq(Y[:, cols].T, e, rcond=NUMERICAL_RANK_CUTOFF)
    return x @ Y


def plug_in(predicted: np.ndarray, measured: Sequence[Measurement], valid: np.ndarray) -> np.ndarray:
    """Predictions of `valid` with the true error put in wherever a configuration was measured."""
    out = np.array(predicted, dtype=float)
    position = {int(j): i for i, j in enumerate(valid)}
    for m in measured:
        out[position[m.config]] = m.error
    return out
