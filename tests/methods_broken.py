"""Broken methods for tests/test_protocol.py, each breaking one rule of the method API.

They live apart from the tests so that the sandbox, which imports a method's module afresh for every fold,
does not import pytest each time (about 0.2 s a fold).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import peppp_bench
from peppp_bench import Measurement, Method, Oracle, Task
from peppp_bench.protocol.rules import ProtocolViolation


class Cheapest(Method):
    """Measure the cheapest configurations; predict the meta-training column means, measured ones exactly."""

    name = "cheapest"

    def select(self, task: Task, oracle: Oracle) -> None:
        for j in task.valid[np.argsort(task.test_memory[task.valid], kind="stable")][: task.budget]:
            oracle.measure(int(j))

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        guess = np.nanmean(task.completed(), axis=0)[task.valid]
        for m in measured:
            guess[task.valid == m.config] = m.error
        return guess


class OverBudget(Cheapest):
    name = "over-budget"

    def select(self, task: Task, oracle: Oracle) -> None:
        for j in task.valid[: task.budget + 1]:
            try:
                oracle.measure(int(j))
            except ProtocolViolation:
                pass  # swallowing the error does not hide the breach


class Invalid(Cheapest):
    name = "invalid"

    def select(self, task: Task, oracle: Oracle) -> None:
        j = int(np.argmax(task.test_memory))  # above the cap where there is one, else out of range
        oracle.measure(j if j not in task.valid else 999)


class NaNs(Cheapest):
    name = "nans"

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return np.full(len(task.valid), np.nan)


class WrongShape(Cheapest):
    name = "wrong-shape"

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return np.zeros(3)


class Raises(Cheapest):
    name = "raises"

    def select(self, task: Task, oracle: Oracle) -> None:
        raise RuntimeError("my bug")


class PeeksByLoading(Cheapest):
    name = "peeks-load"

    def __init__(self, data_dir: str = "") -> None:
        self.data_dir = data_dir

    def params(self) -> dict:
        return {"data_dir": self.data_dir}

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        peppp_bench.load("tiny", data_dir=self.data_dir)
        return super().predict(task, measured)


class PeeksByCopying(PeeksByLoading):
    """Reads the suite's files directly (no load call): only the sandbox stops it (what predictions equal is
    never judged: an honest method may predict a row exactly)."""

    name = "peeks-copy"

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        cells = pd.read_parquet(Path(self.data_dir) / "tiny" / "cells.parquet")
        E = cells.error.to_numpy().reshape(-1, 99)
        row = next(
            i
            for i in range(len(E))
            if np.allclose(
                np.delete(E, i, 0)[~np.isnan(task.train_error)], task.train_error[~np.isnan(task.train_error)]
            )
        )
        return E[row][task.valid]
