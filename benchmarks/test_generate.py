"""Cells per hour, batched (all 99 configurations as one grouped network) versus one at a time, on the
same cells: every configuration of two tasks of the bundled `mini` spec (8 and 16 pixel images), with
its architecture and recipe shortened to 2 epochs. Both modes give the same errors (tests/test_train.py).

Run: pytest benchmarks/test_generate.py --benchmark-enable -s
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from peppp_bench.generate.data import load_data  # noqa: E402
from peppp_bench.generate.spec import read_spec  # noqa: E402
from peppp_bench.generate.train import train_cells  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "datasets" / "mini" / "spec.toml"


@pytest.mark.parametrize("task_id", ["digits-3v8", "photo-objects-g16"])
def test_batched_vs_one_at_a_time(benchmark, task_id: str) -> None:
    spec = read_spec(SPEC)
    task = next(t for t in spec.tasks if t.id == task_id)
    data = load_data(task.data, task.id)
    recipe = spec.recipe.with_overrides(epochs=2)
    configs = list(spec.config_ids)
    t = time.perf_counter()
    for c in configs:
        train_cells(data, [c], spec.architecture, recipe, seed=0)
    alone = time.perf_counter() - t
    t = time.perf_counter()
    benchmark.pedantic(lambda: train_cells(data, configs, spec.architecture, recipe, seed=0), rounds=1, iterations=1)
    together = time.perf_counter() - t
    per_hour_alone, per_hour_together = 3600 * len(configs) / alone, 3600 * len(configs) / together
    benchmark.extra_info.update({"cells": len(configs), "alone_s": alone, "batched_s": together,
                                 "cells_per_hour_alone": per_hour_alone, "cells_per_hour_batched": per_hour_together,
                                 "speedup": alone / together, "torch_threads": torch.get_num_threads()})
    print(f"\n{task_id}: one at a time {per_hour_alone:,.0f} cells/h, batched {per_hour_together:,.0f} cells/h: "
          f"{alone / together:.1f}x ({len(configs)} cells, {tuple(data.shape)} images, 2 epochs, {torch.get_num_threads()} threads)")
