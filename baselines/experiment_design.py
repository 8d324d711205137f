"""Matrix-factorization methods that choose which configurations to train: ED-MF (PEPPP), its
memory-aware variant, QR-MF and random-MF. All regress the measured errors on the configuration
embeddings Y of the (completed) meta-training matrix and predict the rest (spec §5)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from peppp_bench import Measurement, Method, Oracle, Task, first_max, regress


class _EmbeddingRegression(Method):
    """Shared by the four: predictions are least squares on the rank-k embeddings of the valid configurations."""

    nested = True

    def __init__(self, rank: int = 5) -> None:
        self.rank = rank

    def params(self) -> dict[str, Any]:
        return {"rank": self.rank}

    def order(self, task: Task) -> Sequence[int]:
        """Positions in task.valid to measure, in order (at most task.budget)."""
        raise NotImplementedError

    def select(self, task: Task, oracle: Oracle) -> None:
        for position in self.order(task)[: task.budget]:
            oracle.measure(int(task.valid[position]))

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return regress(task.embeddings(self.rank), measured, task.valid)


def pivots(Y: np.ndarray) -> np.ndarray:
    """Column order of a column-pivoted QR of Y, as LAPACK's geqp3 orders them (each step swaps the column of
    largest residual norm into place, the first of equals), but with the norms recomputed and snapped at every
    step: geqp3 downdates them, so columns of equal norm (equal columns, say) differ by rounding that another
    CPU makes differently, and the pivot it takes among them with it."""
    R = np.array(Y, dtype=float)
    order = np.arange(R.shape[1])
    for i in range(min(R.shape)):
        rest = R[:, order[i:]]
        p = i + first_max(np.einsum("ij,ij->j", rest, rest))
        order[[i, p]] = order[[p, i]]
        size = np.linalg.norm(R[:, order[i]])
        if size == 0:  # what is left lies in the span of the pivots so far
            break
        q = R[:, order[i]] / size
        R = R - np.outer(q, q @ R)
    return order


def d_optimal_order(Y: np.ndarray, n: int) -> list[int]:
    """First k pivots of a pivoted QR, then greedily argmax_j y_jᵀX⁻¹y_j, X = Σ_S y_i y_iᵀ (log-det gain)."""
    k, d = Y.shape
    chosen = [int(j) for j in pivots(Y)[: min(k, n, d)]]
    X_inv = np.linalg.pinv(Y[:, chosen] @ Y[:, chosen].T)
    while len(chosen) < min(n, d):
        gain = np.einsum("ij,ik,kj->j", Y, X_inv, Y)
        gain[chosen] = -np.inf
        j = first_max(gain)
        y = Y[:, j]
        Xy = X_inv @ y
        X_inv = X_inv - np.outer(Xy, Xy) / (1.0 + y @ Xy)  # Sherman–Morrison
        chosen.append(j)
    return chosen


class EDMF(_EmbeddingRegression):
    """PEPPP: D-optimal experiment design on the configuration embeddings (spec §5)."""

    name = "ed-mf"

    def order(self, task: Task) -> Sequence[int]:
        return d_optimal_order(task.embeddings(self.rank), task.budget)


class QRMF(_EmbeddingRegression):
    """The first n pivots of a column-pivoted QR of the embeddings."""

    name = "qr-mf"

    def order(self, task: Task) -> Sequence[int]:
        return [int(j) for j in pivots(task.embeddings(self.rank))]


class RandomMF(_EmbeddingRegression):
    """n uniformly random valid configurations (a seeded permutation, so nested in n)."""

    name = "random-mf"

    def order(self, task: Task) -> Sequence[int]:
        return [int(j) for j in np.random.default_rng(task.seed).permutation(len(task.valid))]


# The relaxation is solved far more tightly than its weights are rounded, so that the order of the rounding
# is the same on every CPU (whose arithmetic moves the optimum in about the tolerance's digits).
SOLVER_TOLERANCES = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
ROUNDING_DECIMALS = 4


class EDMFMemory(_EmbeddingRegression):
    """Memory-aware ED-MF: max log det(Σ v_j y_j y_jᵀ) s.t. 0 ≤ v ≤ 1, Σ v_j m_j ≤ budget, then greedy rounding.

    The memory budget is `memory_fraction` of the valid configurations' total memory on the test
    dataset. Rounding takes configurations by decreasing v while they fit the budget (nested in n).
    """

    name = "ed-mf-memory"

    def __init__(self, rank: int = 5, memory_fraction: float = 0.1) -> None:
        super().__init__(rank)
        if not 0 < memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1], got {memory_fraction}")
        self.memory_fraction = memory_fraction
        self._problem: Any = None

    def params(self) -> dict[str, Any]:
        return {"rank": self.rank, "memory_fraction": self.memory_fraction}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_problem": None}  # the compiled cvxpy problem is rebuilt in each process

    def _relaxation(self, k: int, d: int) -> Any:
        """One compiled (DPP) problem per process and shape (k embedding dimensions, d configurations); only its
        parameters change between folds."""
        import cvxpy as cp

        if self._problem is None or self._problem[0] != (k, d):
            outer = cp.Parameter((k * k, d))
            memory = cp.Parameter(d, nonneg=True)
            budget = cp.Parameter(nonneg=True)
            v = cp.Variable(d)
            info = cp.reshape(outer @ v, (k, k), order="F")
            problem = cp.Problem(cp.Maximize(cp.log_det(info)), [v >= 0, v <= 1, memory @ v <= budget])
            self._problem = ((k, d), problem, outer, memory, budget, v)
        return self._problem

    def order(self, task: Task) -> Sequence[int]:
        import cvxpy as cp

        Y = task.embeddings(self.rank)
        k, d = Y.shape
        m = task.test_memory[task.valid]
        cap = self.memory_fraction * m.sum()
        _, problem, outer, memory, budget, v = self._relaxation(k, d)
        outer.value = np.einsum("ij,kj->ikj", Y, Y).reshape(k * k, d, order="F")
        memory.value, budget.value = m, cap
        with warnings.catch_warnings():  # an inexact optimum only reorders near-ties in the rounding
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL, **SOLVER_TOLERANCES)
        if v.value is None:
            raise RuntimeError(f"the log-det relaxation did not solve ({problem.status})")
        chosen, used = [], 0.0
        for j in np.argsort(-np.round(v.value, ROUNDING_DECIMALS), kind="stable"):
            if used + m[j] <= cap:
                chosen.append(int(j))
                used += m[j]
        return chosen
