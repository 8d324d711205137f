"""Cells per hour, batched versus one at a time, on the same cells: every configuration of two tasks of
the bundled `mini` spec (8 and 16 pixel images), with its architecture and its recipe shortened to
2 epochs. Two comparisons on this machine:

- one process using every core as torch threads: the 99 configurations one after another, versus all
  99 as one grouped network (and in units of 33, the mini spec's unit size);
- one single-threaded worker process per core, as `peppp-bench generate --workers N` runs: one
  configuration per job, versus the 99 split evenly into one grouped network per worker. One-at-a-time
  training cannot use a second core through threads (its tensors are too small), but it can through
  a second process, so this is the fair machine-level comparison.

A third test prices the quantizers: batched training as one such worker, with and without them.

Both modes draw the same random bits, so they give the same errors up to float summation order in the
grouped convolutions (tests/test_train.py; counted here as well).

Run: pytest benchmarks/test_generate.py --benchmark-enable -s
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from peppp_bench.generate.data import load_data  # noqa: E402
from peppp_bench.generate.spec import read_spec  # noqa: E402
from peppp_bench.generate.train import train_cells  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "datasets" / "mini" / "spec.toml"
TASKS = ["digits-3v8", "photo-objects-g16"]
EPOCHS = 2
ROUNDS = 3


def _setup(task_id: str) -> tuple[Any, Any, Any]:
    spec = read_spec(SPEC)
    task = next(t for t in spec.tasks if t.id == task_id)
    return spec, load_data(task.data, task.id), spec.recipe.with_overrides(epochs=EPOCHS)


_IN_WORKER: dict[str, tuple[Any, Any, Any]] = {}


def _start_worker(task_id: str) -> None:
    torch.set_num_threads(1)
    _IN_WORKER["setup"] = _setup(task_id)


def _train_in_worker(configs: list[str]) -> list[float]:
    spec, data, recipe = _IN_WORKER["setup"]
    arch = spec.architectures[0][1]
    return [r.error for r in train_cells(data, configs, arch, recipe, seed=0, exact_alone=False)]  # timed as one


def _best_of(rounds: int, fn: Any) -> tuple[float, Any]:
    """The fastest of `rounds` runs of fn (seconds) and its result: both modes are timed alike."""
    best, result = float("inf"), None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _report(benchmark: Any, label: str, cells: int, seconds: dict[str, float]) -> None:
    per_hour = {mode: 3600 * cells / s for mode, s in seconds.items()}
    speedups = {mode: seconds["alone"] / s for mode, s in seconds.items() if mode != "alone"}
    benchmark.extra_info.update(
        {
            "cells": cells,
            "rounds": ROUNDS,
            "seconds": seconds,
            "cells_per_hour": per_hour,
            "speedup": speedups,
            "torch": torch.__version__,
        }
    )
    batched = "; ".join(f"{mode} {per_hour[mode]:,.0f} cells/h ({speedups[mode]:.1f}x)" for mode in speedups)
    print(f"\n{label}: one at a time {per_hour['alone']:,.0f} cells/h; {batched} (best of {ROUNDS})")


@pytest.mark.parametrize("task_id", TASKS)
def test_one_process(benchmark, task_id: str) -> None:
    spec, data, recipe = _setup(task_id)
    configs = list(spec.config_ids)

    def train_in_units(size: int) -> None:
        for i in range(0, len(configs), size):
            train_cells(data, configs[i : i + size], spec.architectures[0][1], recipe, seed=0, exact_alone=False)

    seconds = {
        "alone": _best_of(ROUNDS, lambda: train_in_units(1))[0],
        "batched 99": _best_of(ROUNDS, lambda: train_in_units(99))[0],
        "batched in 33s": _best_of(ROUNDS, lambda: train_in_units(33))[0],
    }
    benchmark.pedantic(lambda: train_in_units(99), rounds=1, iterations=1)
    _report(benchmark, f"{task_id}, one process, {torch.get_num_threads()} threads", len(configs), seconds)


@pytest.mark.parametrize("task_id", TASKS)
def test_one_worker_per_core(benchmark, task_id: str) -> None:
    configs = list(read_spec(SPEC).config_ids)
    workers = os.cpu_count() or 1
    shares = [configs[i::workers] for i in range(workers)]  # one grouped network per worker
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker, initargs=(task_id,)) as pool:
        pool.map(_train_in_worker, shares, chunksize=1)  # warm: imports, first allocations
        alone_s, alone = _best_of(ROUNDS, lambda: pool.map(_train_in_worker, [[c] for c in configs], chunksize=1))
        together_s, together = _best_of(ROUNDS, lambda: pool.map(_train_in_worker, shares, chunksize=1))
        benchmark.pedantic(lambda: pool.map(_train_in_worker, shares, chunksize=1), rounds=1, iterations=1)
    errors_alone = dict(zip(configs, (e for r in alone for e in r)))
    errors_together = {c: e for share, r in zip(shares, together) for c, e in zip(share, r)}
    same = sum(errors_alone[c] == errors_together[c] for c in configs)
    assert same >= 0.9 * len(configs)  # the same cells (a few may differ by float summation order)
    _report(
        benchmark,
        f"{task_id}, {workers} single-threaded workers ({same} of {len(configs)} errors identical)",
        len(configs),
        {"alone": alone_s, f"batched {len(shares[0])} per worker": together_s},
    )


@pytest.mark.parametrize("task_id", TASKS)
def test_what_the_quantizers_cost(benchmark, monkeypatch, task_id: str) -> None:
    """Batched training as one worker of the test above trains (one thread, 50 configurations), with the
    quantizers and with identity quantizers (one copy each): the second is the floor that the network's
    convolutions, BatchNorm and optimizer set for any quantizer."""
    from peppp_bench.generate import train

    spec, data, recipe = _setup(task_id)
    configs = list(spec.config_ids)[0::2]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:

        def run() -> None:
            train_cells(data, configs, spec.architectures[0][1], recipe, seed=0)

        run()
        seconds = {"quantized": _best_of(ROUNDS, run)[0]}
        monkeypatch.setattr(train, "native_float_quantize", lambda x, *args, **kwargs: x.clone())
        monkeypatch.setattr(train, "random_int32", lambda *args: None)
        run()
        seconds["identity quantizers"] = _best_of(ROUNDS, run)[0]
        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    ms = {mode: 1000 * s / len(configs) for mode, s in seconds.items()}
    benchmark.extra_info.update({"cells": len(configs), "rounds": ROUNDS, "ms_per_cell": ms})
    print(
        f"\n{task_id}, one thread, {len(configs)} configurations batched: {ms['quantized']:.1f} ms per cell, "
        f"{ms['identity quantizers']:.1f} ms with identity quantizers (best of {ROUNDS})"
    )
