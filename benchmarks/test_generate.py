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

    def train_in_units(size: int) -> float:
        t = time.perf_counter()
        for i in range(0, len(configs), size):
            train_cells(data, configs[i:i + size], spec.architecture, recipe, seed=0)
        return time.perf_counter() - t

    alone = train_in_units(1)
    t = time.perf_counter()
    benchmark.pedantic(lambda: train_cells(data, configs, spec.architecture, recipe, seed=0), rounds=1, iterations=1)
    together = time.perf_counter() - t
    in_33s = train_in_units(33)  # the mini spec's configs_per_unit
    per_hour = {k: 3600 * len(configs) / v for k, v in (("alone", alone), ("batched", together), ("batched_33", in_33s))}
    benchmark.extra_info.update({"cells": len(configs), "alone_s": alone, "batched_s": together, "batched_33_s": in_33s,
                                 **{f"cells_per_hour_{k}": v for k, v in per_hour.items()},
                                 "speedup": alone / together, "speedup_33": alone / in_33s,
                                 "torch_threads": torch.get_num_threads()})
    print(f"\n{task_id}: one at a time {per_hour['alone']:,.0f} cells/h, batched {per_hour['batched']:,.0f} cells/h: "
          f"{alone / together:.1f}x; in units of 33: {per_hour['batched_33']:,.0f} cells/h, {alone / in_33s:.1f}x "
          f"({len(configs)} cells, {tuple(data.shape)} images, 2 epochs, {torch.get_num_threads()} threads)")
