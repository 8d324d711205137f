"""`evaluate()`: run methods through meta-LOOCV folds in parallel and return one long results table.

A unit of work is (seed, observation kind, held-out dataset): its mask, completion and embeddings are
computed once and shared by every method and by the capped and uncapped settings. BLAS runs on one
thread everywhere, so results are identical whatever the number of worker processes.
"""
from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from . import __version__
from .pareto import pareto_mask
from .protocol import Measurement, Method, Oracle, ProtocolViolation, Setting, Task, get_setting, readonly
from .provenance import environment
from .sampling import observation_mask, probabilities
from .scoring import check_predictions, score
from .sources import load, protected
from .suite import Benchmark

# 2.0: a never-observed configuration is completed from its nearest formats (not to 0), and a suite
# names its cap rule (global-median or row-median).
PROTOCOL_VERSION = "2.0"
METRICS = ("convergence", "hyperdiff", "best_error", "regret", "relative_memory")
RESULT_COLUMNS = ("method", "setting", "seed", "dataset_id", "n", *METRICS, "n_measured", "status", "reason")
DEFAULT_BUDGETS = tuple(range(5, 16))


@dataclass(frozen=True)
class Evaluation:
    """The long results table (one row per method, setting, seed, dataset, budget), its summary, and run metadata."""

    results: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any]


# Per-run state, set before worker processes fork so that they inherit it instead of unpickling it.
_RUN: dict[str, Any] = {}


def evaluate(
    methods: Method | Sequence[Method],
    suite: str | Benchmark = "paper",
    settings: Iterable[str] = ("I", "II", "III", "IV", "V", "VI"),
    budgets: Iterable[int] = DEFAULT_BUDGETS,
    seeds: Iterable[int] = (0,),
    workers: int | None = None,
    progress: bool = True,
    data_dir: str | None = None,
) -> Evaluation:
    """Score `methods` on every meta-LOOCV fold of `suite` for each setting, budget n and seed."""
    started = time.time()
    methods = [methods] if isinstance(methods, Method) else list(methods)
    _check_methods(methods)
    bench = suite if isinstance(suite, Benchmark) else load(suite, data_dir=data_dir)
    settings = [get_setting(s) for s in settings]
    budgets = sorted({int(n) for n in budgets})
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive integers, got {budgets}")
    seeds = [int(s) for s in seeds]
    observations = sorted({s.observation for s in settings})
    units = [(seed, obs, fold) for seed in seeds for obs in observations for fold in range(bench.E.shape[0])]
    _RUN.update(bench=bench, methods=methods, settings=settings, budgets=budgets,
                masks={(seed, obs): observation_mask(obs, bench.M, seed) for seed in seeds for obs in observations})
    try:
        rows = _run_units(units, workers, progress)
    finally:
        _RUN.clear()
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    results = results.sort_values(["method", "setting", "seed", "dataset_id", "n"], kind="stable").reset_index(drop=True)
    meta = {
        "suite": bench.name, "suite_version": bench.version, "data_sha256": bench.data_sha256,
        "package_version": __version__, "protocol_version": PROTOCOL_VERSION,
        "methods": {m.name: {"class": f"{type(m).__module__}:{type(m).__qualname__}", "nested": m.nested,
                             "reference": m.reference, "params": m.params()} for m in methods},
        "settings": [s.name for s in settings], "budgets": budgets, "seeds": seeds,
        "wall_seconds": round(time.time() - started, 2), **environment(),
    }
    return Evaluation(results, summarize(results), meta)


def _check_methods(methods: list[Method]) -> None:
    for m in methods:
        if not isinstance(m, Method):
            raise TypeError(f"{m!r} is not a peppp_bench.Method instance: subclass Method and pass an instance")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")


def _run_units(units: list[tuple[int, str, int]], workers: int | None, progress: bool) -> list[dict]:
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    workers = max(1, min(workers or os.cpu_count() or 1, len(units)))
    bar = tqdm(total=len(units), desc="folds", unit="fold", disable=not progress)
    rows: list[dict] = []
    if workers == 1:
        with threadpool_limits(1):
            for unit in units:
                rows.extend(_run_unit(unit))
                bar.update()
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers, initializer=_limit_threads) as pool:
            for chunk in pool.imap_unordered(_run_unit, units, chunksize=1):
                rows.extend(chunk)
                bar.update()
    bar.close()
    return rows


def _limit_threads() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def fold_tasks(bench: Benchmark, fold: int, seed: int, observation: str, mask: np.ndarray,
               settings: Sequence[Setting], budget: int) -> list[Task]:
    """The Task of each setting (of this observation kind) when dataset `fold` is held out.

    The observation `mask` covers the whole matrix (one per seed); only meta-training rows are used.
    The tasks share one cache, so a completion is computed once for all methods and settings.
    """
    E, M = bench.E, bench.M
    train = np.delete(np.arange(E.shape[0]), fold)
    train_error = np.where(mask[train], E[train], np.nan)
    train_error.flags.writeable = False
    prob = probabilities(observation, M)[train]
    prob.flags.writeable = False
    cache: dict = {}
    fold_seed = int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])
    tasks = []
    for setting in settings:
        if setting.observation != observation:
            continue
        cap = bench.cap_of(fold) if setting.capped else None
        valid = np.flatnonzero(M[fold] <= cap) if cap is not None else np.arange(E.shape[1])
        valid.flags.writeable = False
        tasks.append(Task(setting.name, observation, train_error, M[train], prob, bench.configurations, M[fold].copy(),
                          cap, valid, budget, fold_seed, bench.max_memory, _cache=cache))
    return tasks


def _run_unit(unit: tuple[int, str, int]) -> list[dict]:
    """All methods × settings of one observation kind on one held-out dataset and seed."""
    seed, observation, fold = unit
    bench: Benchmark = _RUN["bench"]
    tasks = fold_tasks(bench, fold, seed, observation, _RUN["masks"][(seed, observation)], _RUN["settings"], max(_RUN["budgets"]))
    rows = []
    for task in tasks:
        for method in _RUN["methods"]:
            base = dict(method=method.name, setting=task.setting, seed=seed, dataset_id=bench.dataset_ids[fold])
            if len(task.valid) == 0:
                skipped = {**_failure("no configuration fits the memory cap on this dataset"), "status": "skipped"}
                rows.extend({**base, "n": n, **skipped} for n in _RUN["budgets"])
                continue
            for n, outcome in _run_method(method, task, bench.E[fold], bench.M[fold], _RUN["budgets"], bench.data_sha256):
                rows.append({**base, "n": n, **outcome})
    return rows


def estimated_frontier(method: Method, bench: Benchmark, dataset_id: str, setting: str = "I", n: int = 10,
                       seed: int = 0) -> dict[str, Any]:
    """One fold run by hand: the configurations a method measured and its estimated frontier (for plots)."""
    s = get_setting(setting)
    fold = bench.dataset_ids.index(dataset_id)
    task = fold_tasks(bench, fold, seed, s.observation, observation_mask(s.observation, bench.M, seed), [s], n)[0]
    oracle = Oracle(bench.E[fold], bench.M[fold], task.valid, n)
    method.select(task, oracle)
    predicted = np.asarray(method.predict(task, oracle.measured), dtype=float)
    on_front = pareto_mask(bench.M[fold][task.valid], predicted)
    return {"measured": [m.config for m in oracle.measured], "frontier": task.valid[on_front].tolist(),
            "predicted": predicted[on_front].tolist()}


def _failure(reason: str) -> dict:
    return {**{k: np.nan for k in METRICS}, "n_measured": 0, "status": "failed", "reason": reason}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ProtocolViolation):
        return f"protocol violation: {exc}"
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} (at {os.path.basename(where.filename)}:{where.lineno})"


def _run_method(method: Method, task: Task, row: np.ndarray, memory: np.ndarray,
                budgets: list[int], sha: str) -> list[tuple[int, dict]]:
    """Run one method on one fold for every budget; a failure fails those budgets with its reason.

    A nested method selects once under the largest budget and is scored on every prefix; any other
    method selects anew under each budget."""
    if method.reference:
        task = replace(task, reference_error=readonly(row))
    rounds = [budgets[-1]] if method.nested else budgets
    out: list[tuple[int, dict]] = []
    for budget in rounds:
        scored = budgets if method.nested else [budget]
        task_b = replace(task, budget=budget)
        oracle, failure = _select(method, task_b, row, memory, sha)
        for n in scored:
            out.append((n, _failure(failure) if failure else
                        _predict_and_score(method, replace(task_b, budget=n), oracle.measured[:n], row, memory, sha)))
    return out


def _select(method: Method, task: Task, row: np.ndarray, memory: np.ndarray, sha: str) -> tuple[Oracle, str | None]:
    """Let the method measure under task.budget; the oracle it used, and why it failed (None if it did not)."""
    oracle = Oracle(row, memory, task.valid, task.budget)
    try:
        with protected(sha):
            method.select(task, oracle)
    except Exception as exc:  # noqa: BLE001 - a user's method may raise anything
        return oracle, _describe(exc)
    if oracle.violations:
        return oracle, f"protocol violation: {oracle.violations[0]}"
    return oracle, None


def _predict_and_score(method: Method, task: Task, measured: Sequence[Measurement], row: np.ndarray,
                       memory: np.ndarray, sha: str) -> dict:
    try:
        with protected(sha):
            raw = method.predict(task, measured)
        predicted = check_predictions(raw, task.valid, row, measured, method.reference)
    except Exception as exc:  # noqa: BLE001
        return _failure(_describe(exc))
    s = score(predicted, task.valid, measured, row, memory, task.max_memory)
    return {"convergence": s.convergence, "hyperdiff": s.hyperdiff, "best_error": s.best_error, "regret": s.regret,
            "relative_memory": s.relative_memory, "n_measured": s.n_measured, "status": "ok", "reason": ""}


def summarize(results: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean ± standard error over folds (and seeds) of each metric, per method, setting and budget n."""
    keys = ["method", "setting", "n"]
    ok = results[results.status == "ok"]
    g = ok.groupby(keys)[list(metrics)]
    mean = g.mean().add_suffix("_mean")
    sem = g.sem(ddof=1).add_suffix("_se")
    flags = results.assign(ok=results.status == "ok", failed=results.status == "failed")
    counts = flags.groupby(keys).agg(folds=("ok", "sum"), failed=("failed", "sum"))
    out = counts.join(mean).join(sem).reset_index()
    cols = keys + ["folds", "failed"] + [f"{m}_{s}" for m in metrics for s in ("mean", "se")]
    return out[cols]
