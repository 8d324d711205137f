"""`evaluate()`: run methods through meta-LOOCV folds in parallel and return one long results table.

A unit of work is (seed, observation kind, held-out dataset): its mask, completion and embeddings are
computed once and shared by every method and by the capped and uncapped settings. In a suite of more
than GROUPED_ABOVE tasks, datasets are held out in groups (`Benchmark.holdout_key`), and a worker
computes a group's completion once for all its datasets. BLAS runs on one thread everywhere, so results
are identical whatever the number of worker processes.

By default every method runs isolated (`sandbox.py`): in a process of its own, forked afresh for each
held-out dataset, that never holds the held-out row and cannot read the suite. `isolate=False` runs
methods in the harness's own processes (for debugging; nothing stops a method from peeking there).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import ProtocolViolation
from ..loading import absolute_file_ref
from ..pareto import pareto_mask
from ..provenance import environment
from ..suites.sources import BUNDLED_DIR, DEFAULT_SUITE, load, protected
from ..suites.suite import Benchmark
from . import boundary, registry
from .rules import Measurement, Method, Oracle, Setting, Task, get_setting, meta_training_only, readonly
from .sampling import observation_mask, probabilities
from .sandbox import Limits, MethodInfo, MethodRef, Sandbox, unit_payload
from .scoring import check_predictions, score, worst_case
from .zygote import describe_failure

# 2.0: a never-observed configuration is completed from its nearest formats (not to 0), and a suite
# names its cap rule (global-median or row-median). 2.1: multi-architecture suites, settings X and XII.
# 3.0: ten mask seeds, budgets 5, 10, 15; frontier regret is the primary metric and a failed fold scores
# its worst case; no check on what predictions equal; X and XII meta-train on as many rows as I and II;
# a suite of more than 200 tasks holds them out in 10 groups (no bundled suite has as many); a suite with
# scoring seeds scores frontiers against their mean, not against what a method measures (added within 3.0:
# results on suites without them are unchanged).
PROTOCOL_VERSION = "3.0"
PRIMARY_METRIC = "frontier_regret"
METRICS = (PRIMARY_METRIC, "convergence", "hyperdiff", "best_error", "regret", "relative_memory")
RESULT_COLUMNS = ("method", "setting", "seed", "dataset_id", "n", *METRICS, "n_measured", "status", "reason")
STANDARD_BUDGETS = (5, 10, 15)
STANDARD_SEEDS = tuple(range(10))
HEADLINE_COLUMNS = (
    "method",
    "setting",
    "n",
    "folds",
    "failed",
    "frontier_regret_mean",
    "hyperdiff_mean",
    "relative_memory_mean",
)


@dataclass(frozen=True)
class Evaluation:
    """The long results table (one row per method, setting, seed, dataset, budget), its summary, and run metadata."""

    results: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any]

    def __str__(self) -> str:
        """The headline table: per method, setting and budget n, the folds scored and failed, and the mean
        frontier regret, HyperDiff and relative memory (`summary` has every metric with its standard error)."""
        return self.summary[list(HEADLINE_COLUMNS)].to_string(index=False, float_format=lambda x: f"{x:.4f}")


# Per-run state, set before worker processes fork so that they inherit it instead of unpickling it.
_RUN: dict[str, Any] = {}


AnyMethod = Method | MethodRef | str


def evaluate(
    methods: AnyMethod | Sequence[AnyMethod],
    suite: str | Benchmark = DEFAULT_SUITE,
    settings: Iterable[str] = ("I", "II", "III", "IV", "V", "VI"),
    budgets: Iterable[int] = STANDARD_BUDGETS,
    seeds: Iterable[int] = STANDARD_SEEDS,
    workers: int | None = None,
    progress: bool = True,
    data_dir: str | None = None,
    isolate: bool = True,
    limits: Limits = Limits(),
    protect: Iterable[str] = (),
    holdout: str = "auto",
) -> Evaluation:
    """Score `methods` on every meta-LOOCV fold of `suite` for each setting, budget n and seed.

    A method is a `Method` instance (its class importable), a `MethodRef`, or a specification string
    (a baseline's name, `module:Class`, `path/file.py:Class`). Isolated methods get `limits` per fold
    and may not read the suite's folder, the bundled suites, the Hub cache, `data_dir` or `protect`.
    `holdout` ("auto", "loo" or "groups", see `HOLDOUT_RULES`) chooses which tasks are held out together;
    the board ranks "auto" results only.
    """
    started = time.time()
    methods = [methods] if isinstance(methods, (Method, MethodRef, str)) else list(methods)
    setting_list = [get_setting(s) for s in settings]
    budgets = sorted({int(n) for n in budgets})
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive integers, got {budgets}")
    seeds = [int(s) for s in seeds]
    bench = (suite if isinstance(suite, Benchmark) else load(suite, data_dir=data_dir)).with_holdout(holdout)
    if any(s.architectures != "same" for s in setting_list) and not bench.multi_architecture:
        raise ValueError(
            f"settings {[s.name for s in setting_list if s.architectures != 'same']} are cross-architecture: "
            f"suite {bench.name} has one architecture; use a multi-architecture suite such as mini-arch"
        )
    rows_, columns = bench.E.shape
    if rows_ < 2:
        print(
            f"peppp-bench: suite {bench.name} has {rows_} dataset: meta-LOOCV holds one out and meta-trains on the "
            "rest, so every fold is skipped (a suite of at least 2 datasets is needed)",
            file=sys.stderr,
        )
    if budgets[-1] > columns:
        print(
            f"peppp-bench: budgets {[n for n in budgets if n > columns]} exceed the suite's {columns} configurations: "
            f"a method measures at most {columns}",
            file=sys.stderr,
        )
    if isolate and not boundary.available():
        print(
            "peppp-bench: bubblewrap is not available, so methods run behind the in-process guard only: this run "
            f"is not isolated by the operating system (fine for scoring your own method; {boundary.INSTALL_HINT})",
            file=sys.stderr,
        )
    with _sigterm_as_exit():  # SIGTERM (`timeout`, a job scheduler) cleans up as Ctrl-C does
        run_tmp = tempfile.mkdtemp(prefix="peppp-run-")  # every sandbox's temporary folder is made in here
        _RUN["tmp"] = run_tmp
        try:
            if isolate:
                roots = [
                    str(p)
                    for p in (
                        bench.folder,
                        BUNDLED_DIR,
                        data_dir,
                        os.environ.get("PEPPP_BENCH_DATA_DIR"),
                        _cache_dir(),
                        *protect,
                    )
                    if p
                ]
                infos, refs = _describe_methods(methods, limits, roots)
                _RUN.update(refs=refs, limits=limits, roots=roots)
            else:
                instances = _check_methods(methods)
                infos = [MethodInfo.of(m) for m in instances]
                _RUN.update(methods=methods)
            names = [i.name for i in infos]
            if len(set(names)) != len(names):
                raise ValueError(f"method names must be unique, got {names}")
            observations = sorted({s.observation for s in setting_list})
            folds = sorted(range(bench.E.shape[0]), key=bench.holdout_key)  # a group's datasets one after another
            units = [(seed, obs, fold) for seed in seeds for obs in observations for fold in folds]
            _RUN.update(
                bench=bench,
                infos=infos,
                isolate=isolate,
                settings=setting_list,
                budgets=budgets,
                masks={(seed, obs): observation_mask(obs, bench.M, seed) for seed in seeds for obs in observations},
            )
            _COMPLETIONS.clear()
            rows = _run_units(units, workers, progress)
        finally:
            _RUN.clear()
            _COMPLETIONS.clear()
            shutil.rmtree(run_tmp, ignore_errors=True)  # no temporary folder outlives the run
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    results = results.sort_values(["method", "setting", "seed", "dataset_id", "n"], kind="stable").reset_index(
        drop=True
    )
    meta = {
        "suite": bench.name,
        "suite_version": bench.version,
        "data_sha256": bench.data_sha256,
        "package_version": __version__,
        "protocol_version": PROTOCOL_VERSION,
        "methods": {
            i.name: {"class": i.cls, "nested": i.nested, "reference": i.reference, "params": i.params, "doc": i.doc}
            for i in infos
        },
        "isolated": isolate,
        "os_sandbox": isolate and boundary.available(),
        "settings": [s.name for s in setting_list],
        "budgets": budgets,
        "seeds": seeds,
        "holdout": bench.holdout,
        "holdout_groups": bench.holdout_groups,
        "scoring_seeds": list(bench.scoring_seeds),
        "wall_seconds": round(time.time() - started, 2),
        **environment(),
    }
    return Evaluation(results, summarize(results), meta)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While a run lasts, SIGTERM raises SystemExit(143) in the main thread, so the run's clean-up (its
    sandboxes, its temporary folder) runs as it does on Ctrl-C; elsewhere signals stay the caller's."""

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_methods(methods: list[Any]) -> list[Method]:
    """The methods, each a Method instance (run in the harness's own processes, they cannot be specifications)."""
    for m in methods:
        if not isinstance(m, Method):
            raise TypeError(f"{m!r} is not a peppp_bench.Method instance: subclass Method and pass an instance")
    return methods


def _cache_dir() -> str | None:
    from ..suites.hub import package_cache_dir

    return str(package_cache_dir())


def _baseline(ref: MethodRef) -> Method | None:
    """A method of this package's own registered by the name `ref` gives (safe to make here), else None."""
    found = registry.registered().get(ref.spec) if ":" not in ref.spec else None
    if found is None or not found.home:
        return None
    method = found.cls(**ref.params)
    if ref.name:
        method.name = ref.name  # type: ignore[misc]
    return method


def _describe_methods(methods: list[Any], limits: Limits, roots: list[str]) -> tuple[list[MethodInfo], list[MethodRef]]:
    """Each method's description and the reference that makes it in a sandbox. An instance describes
    itself; a specification is made once in a sandbox (all at once) without running its code here."""
    for m in methods:
        if not isinstance(m, (Method, MethodRef, str)):
            raise TypeError(f"{m!r} is not a peppp_bench.Method instance, a MethodRef or a method specification")
    refs = [MethodRef.of(m) if isinstance(m, Method) else MethodRef(m) if isinstance(m, str) else m for m in methods]
    refs = [replace(ref, spec=absolute_file_ref(ref.spec)) for ref in refs]  # the sandbox runs in another folder
    methods = [_baseline(ref) or m for ref, m in zip(refs, methods)]  # our own code describes itself here
    boxes = {
        i: Sandbox(ref, limits, roots, _RUN["tmp"])
        for i, (ref, m) in enumerate(zip(refs, methods))
        if not isinstance(m, Method)
    }
    infos: list[MethodInfo] = []
    try:
        for box in boxes.values():
            box.launch()
        for i, (ref, m) in enumerate(zip(refs, methods)):
            info = MethodInfo.of(m) if isinstance(m, Method) else boxes[i].ready()
            if info is None:
                raise ValueError(f"method {ref.spec}: {boxes[i].load_error}")
            infos.append(info)
    finally:
        for box in boxes.values():
            box.close()
    # a reference bound is shown the held-out row: only this package's own registered bounds may be one
    infos = [
        replace(info, reference=info.reference and registry.home_method(ref.spec) is not None)
        for ref, info in zip(refs, infos)
    ]
    return infos, [replace(ref, name=info.name) for ref, info in zip(refs, infos)]


def _run_units(units: list[tuple[int, str, int]], workers: int | None, progress: bool) -> list[dict]:
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    workers = max(1, min(workers or os.cpu_count() or 1, len(units)))
    bar = tqdm(total=len(units), desc="folds", unit="fold", disable=not progress)
    rows: list[dict] = []
    if workers == 1:
        try:
            with threadpool_limits(1):
                for unit in units:
                    rows.extend(_run_unit(unit))
                    bar.update()
        finally:
            _close_sandboxes()
    else:
        ctx = multiprocessing.get_context("fork")
        pool = ctx.Pool(workers, initializer=_start_worker)
        try:
            for chunk in pool.imap_unordered(_run_unit, units, chunksize=1):
                rows.extend(chunk)
                bar.update()
            pool.close()  # workers exit on their own, closing their sandboxes
            pool.join()
        finally:
            pool.terminate()
            pool.join()
    bar.close()
    return rows


# This process's sandboxes, one per method (made on first use).
_SANDBOXES: dict[int, Sandbox] = {}


def _start_worker() -> None:
    from multiprocessing.util import Finalize

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool ends its workers with SIGTERM: not the run's handler
    _SANDBOXES.clear()  # a forked worker must not share its parent's
    Finalize(None, _close_sandboxes, exitpriority=10)


def _close_sandboxes() -> None:
    for box in _SANDBOXES.values():
        box.close()
    _SANDBOXES.clear()


def _sandbox(i: int) -> Sandbox:
    if i not in _SANDBOXES:
        _SANDBOXES[i] = Sandbox(_RUN["refs"][i], _RUN["limits"], _RUN["roots"], _RUN["tmp"])
    return _SANDBOXES[i]


def fold_tasks(
    bench: Benchmark,
    fold: int,
    seed: int,
    observation: str,
    mask: np.ndarray,
    settings: Sequence[Setting],
    budget: int,
    completions: dict[tuple[int, str, bytes], dict[Any, np.ndarray]] | None = None,
) -> list[Task]:
    """The Task of each setting (of this observation kind) when dataset `fold` is held out.

    The observation `mask` covers the whole matrix (one per seed); only meta-training rows are used.
    Cross-architecture settings meta-train on a seeded draw of the other architectures' rows, as many as
    the same-architecture settings have, so that the two differ only in where the rows come from.
    The tasks share one cache, so a completion is computed once for all methods and settings. With
    `completions` (one run's memo, `_COMPLETIONS`) it starts with those made for an earlier fold on the
    same meta-training rows.
    """
    E, M = bench.E, bench.M
    fold_seed = int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])
    draw_seed = fold_seed  # folds held out together draw the same rows
    if bench.holdout_groups is not None:
        group = [seed, bench.holdout_groups, bench.holdout_key(fold)]
        draw_seed = int(np.random.SeedSequence(group).generate_state(1)[0])
    shared: dict[str, tuple] = {}  # per kind of meta-training rows: (rows' errors, memory, probabilities, cache)
    tasks = []
    for setting in settings:
        if setting.observation != observation:
            continue
        if setting.architectures not in shared:
            train = bench.meta_training_rows(fold, setting.architectures)
            if setting.architectures != "same":
                size = min(len(train), len(bench.meta_training_rows(fold, "same")))
                train = np.sort(np.random.default_rng([draw_seed, 1]).choice(train, size, replace=False))
            train_error = np.where(mask[train], E[train], np.nan)
            prob = probabilities(observation, M)[train]
            train_error.flags.writeable = prob.flags.writeable = False
            cache = {} if completions is None else _shared_cache(completions, (seed, observation, train.tobytes()))
            shared[setting.architectures] = (train_error, M[train], prob, cache)
        train_error, train_memory, prob, cache = shared[setting.architectures]
        cap = bench.cap_of(fold) if setting.capped else None
        valid = np.flatnonzero(M[fold] <= cap) if cap is not None else np.arange(E.shape[1])
        valid.flags.writeable = False
        tasks.append(
            Task(
                setting.name,
                observation,
                train_error,
                train_memory,
                prob,
                bench.configurations,
                M[fold].copy(),
                cap,
                valid,
                budget,
                fold_seed,
                bench.max_memory,
                _cache=cache,
            )
        )
    return tasks


# In a run, this process's latest fold cache per (seed, observation kind, meta-training rows): folds held out
# together meta-train on the same rows, so a later one starts with the completions of an earlier one.
# Emptied at the start and end of every run: another suite may have the same rows.
_COMPLETIONS: dict[tuple[int, str, bytes], dict[Any, np.ndarray]] = {}


def _shared_cache(memo: dict[tuple[int, str, bytes], dict[Any, np.ndarray]], key: tuple[int, str, bytes]) -> dict:
    """A new fold cache holding the completions `memo` has for the same meta-training rows; it becomes the memo's."""
    cache = meta_training_only(memo.get(key, {}))
    if key not in memo and len(memo) >= 8:
        memo.clear()
    memo[key] = cache
    return cache


def _run_unit(unit: tuple[int, str, int]) -> list[dict]:
    """All methods × settings of one observation kind on one held-out dataset and seed."""
    seed, observation, fold = unit
    bench: Benchmark = _RUN["bench"]
    tasks = fold_tasks(
        bench,
        fold,
        seed,
        observation,
        _RUN["masks"][(seed, observation)],
        _RUN["settings"],
        max(_RUN["budgets"]),
        _COMPLETIONS,
    )
    budgets, row, memory = _RUN["budgets"], bench.E[fold], bench.M[fold]
    truth = bench.truth[fold]  # what a frontier is scored against: `row`, or the scoring seeds' mean
    not_run = {t.setting: why for t in tasks if (why := unrunnable(t, _RUN["isolate"]))}
    runnable = [t for t in tasks if t.setting not in not_run]
    payload = unit_payload(runnable, budgets) if _RUN["isolate"] and runnable else None
    rows: list[dict[str, Any]] = []
    for i, info in enumerate(_RUN["infos"]):
        base = dict(method=info.name, seed=seed, dataset_id=bench.dataset_ids[fold])
        if _RUN["isolate"]:
            per_task = _sandbox(i).run_unit(runnable, budgets, row, memory, payload) if runnable else []
            outcomes = {
                t.setting: [(n, _score_outcome(o[n], t, truth, memory)) for n in budgets]
                for t, o in zip(runnable, per_task)
            }
        else:
            outcomes = {
                t.setting: _run_method(_RUN["methods"][i], t, row, truth, memory, budgets, bench.data_sha256)
                for t in runnable
            }
        for task in tasks:
            if task.setting in not_run:
                skipped = {**_failure(not_run[task.setting]), "status": "skipped"}
                skipped[PRIMARY_METRIC] = np.nan  # no method is scored here
                rows.extend({**base, "setting": task.setting, "n": n, **skipped} for n in budgets)
                continue
            rows.extend({**base, "setting": task.setting, "n": n, **outcome} for n, outcome in outcomes[task.setting])
    return rows


def unrunnable(task: Task, precompute: bool) -> str | None:
    """Why no method can be run on this fold, or None. With `precompute`, the completion and embeddings every
    method shares are computed here (once, shipped with the task)."""
    if not len(task.valid):
        return "no configuration fits the memory cap on this dataset"
    rows = task.train_error.shape[0]
    if rows == 0:
        return "not run: no meta-training dataset (meta-LOOCV needs a suite of at least 2 datasets)"
    if np.isnan(task.train_error).all():
        return (
            f"not run: setting {task.setting}'s mask observes no entry of the {rows} meta-training rows "
            "(a suite with more datasets is needed)"
        )
    if precompute:
        try:
            task.completed()
            task.embeddings()
        except (ValueError, np.linalg.LinAlgError) as exc:
            return f"not run: the meta-training rows cannot be completed ({exc}; a suite with more datasets is needed)"
    return None


def _score_outcome(outcome: Any, task: Task, truth: np.ndarray, memory: np.ndarray) -> dict:
    """A sandboxed method's (measurements, predictions) for one budget, scored against `truth`; or its failure."""
    if isinstance(outcome, str):
        return _failure(outcome, task, truth, memory)
    measured, raw = outcome
    try:
        predicted = check_predictions(raw, task.valid)
    except ProtocolViolation as exc:
        return _failure(f"protocol violation: {exc}", task, truth, memory)
    return _scored(predicted, task, measured, truth, memory)


def estimated_frontier(
    method: Method, bench: Benchmark, dataset_id: str, setting: str = "I", n: int = 10, seed: int = 0
) -> dict[str, Any]:
    """One fold run by hand: the configurations a method measured and its estimated frontier (for plots)."""
    s = get_setting(setting)
    fold = bench.dataset_ids.index(dataset_id)
    task = fold_tasks(bench, fold, seed, s.observation, observation_mask(s.observation, bench.M, seed), [s], n)[0]
    oracle = Oracle(bench.E[fold], bench.M[fold], task.valid, n)
    method.select(task, oracle)
    predicted = np.asarray(method.predict(task, oracle.measured), dtype=float)
    on_front = pareto_mask(bench.M[fold][task.valid], predicted)
    return {
        "measured": [m.config for m in oracle.measured],
        "frontier": task.valid[on_front].tolist(),
        "predicted": predicted[on_front].tolist(),
    }


def _failure(reason: str, task: Task | None = None, truth: Any = None, memory: Any = None) -> dict:
    """A failed fold: the primary metric at its worst case against `truth` (`worst_case`), so a failure counts
    in every mean, rank and test; the other metrics are undefined."""
    worst = worst_case(task.valid, truth, memory) if task is not None else np.nan
    undefined = {k: np.nan for k in METRICS}
    return {**undefined, PRIMARY_METRIC: worst, "n_measured": 0, "status": "failed", "reason": reason}


def _run_method(
    method: Method, task: Task, row: np.ndarray, truth: np.ndarray, memory: np.ndarray, budgets: list[int], sha: str
) -> list[tuple[int, dict]]:
    """Run one method on one fold for every budget, measuring `row` and scored against `truth`; a failure
    fails those budgets with its reason.

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
            out.append(
                (
                    n,
                    _failure(failure, task, truth, memory)
                    if failure
                    else _predict_and_score(method, replace(task_b, budget=n), oracle.measured[:n], truth, memory, sha),
                )
            )
    return out


def _select(method: Method, task: Task, row: np.ndarray, memory: np.ndarray, sha: str) -> tuple[Oracle, str | None]:
    """Let the method measure under task.budget; the oracle it used, and why it failed (None if it did not)."""
    oracle = Oracle(row, memory, task.valid, task.budget)
    try:
        with protected(sha):
            method.select(task, oracle)
    except Exception as exc:  # noqa: BLE001 - a user's method may raise anything
        return oracle, describe_failure(exc)
    if oracle.violations:
        return oracle, f"protocol violation: {oracle.violations[0]}"
    return oracle, None


def _predict_and_score(
    method: Method, task: Task, measured: Sequence[Measurement], truth: np.ndarray, memory: np.ndarray, sha: str
) -> dict:
    try:
        with protected(sha):
            raw = method.predict(task, measured)
        predicted = check_predictions(raw, task.valid)
    except Exception as exc:  # noqa: BLE001
        return _failure(describe_failure(exc), task, truth, memory)
    return _scored(predicted, task, measured, truth, memory)


def _scored(
    predicted: np.ndarray, task: Task, measured: Sequence[Measurement], truth: np.ndarray, memory: np.ndarray
) -> dict:
    s = score(predicted, task.valid, measured, truth, memory, task.max_memory)
    return {
        PRIMARY_METRIC: s.frontier_regret,
        "convergence": s.convergence,
        "hyperdiff": s.hyperdiff,
        "best_error": s.best_error,
        "regret": s.regret,
        "relative_memory": s.relative_memory,
        "n_measured": s.n_measured,
        "status": "ok",
        "reason": "",
    }


def summarize(results: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean ± standard error over folds (and seeds) of each metric, per method, setting and budget n.

    The primary metric averages every fold a method was given, failed ones at their worst case; the
    others average the folds it completed (`folds`; `failed` counts the rest)."""
    keys = ["method", "setting", "n"]
    given = results[results.status != "skipped"]
    ok = results[results.status == "ok"]
    parts = []
    for metric in metrics:
        g = (given if metric == PRIMARY_METRIC else ok).groupby(keys)[metric]
        parts += [g.mean().rename(f"{metric}_mean"), g.sem(ddof=1).rename(f"{metric}_se")]
    flags = results.assign(ok=results.status == "ok", failed=results.status == "failed")
    counts = flags.groupby(keys).agg(folds=("ok", "sum"), failed=("failed", "sum"))
    out = counts.join(parts).reset_index()
    cols = keys + ["folds", "failed"] + [f"{m}_{s}" for m in metrics for s in ("mean", "se")]
    return out[cols]
