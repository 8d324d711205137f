"""Batching for every network: all 33 configurations of one task, trained together versus one at a time,
in one single-threaded process, for each architecture of the bundled `mini-arch` spec (the ResNet and
the transformer are the targets: ≥ 5×) and for a factory's network (stacked under torch.func.vmap).

Same cells both ways (digits-3v8, 8 px, the spec's recipe shortened to 2 epochs); the errors agree up to
float summation order (tests/test_train.py checks equality). Best of 2 rounds.

Run: pytest benchmarks/test_batching.py --benchmark-enable -s
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from peppp_bench.generate.architectures import Architecture  # noqa: E402
from peppp_bench.generate.data import load_data  # noqa: E402
from peppp_bench.generate.spec import read_spec  # noqa: E402
from peppp_bench.generate.train import train_cells  # noqa: E402

from .timing import best_of  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "datasets" / "mini-arch" / "spec.toml"
TASK, EPOCHS, ROUNDS = "digits-3v8", 2, 2


def small_cnn(classes: int, channels: int) -> torch.nn.Module:
    """A user's network, as a factory would build it: no copies dimension of its own."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, classes),
    )


ARCHITECTURES = ["resnet", "vit", "vgg", "mlp", "factory"]


def _best_of(fn: Any) -> float:
    return best_of(fn, ROUNDS, warm_up=False)


@pytest.mark.parametrize("arch_id", ARCHITECTURES)
def test_batched_versus_one_at_a_time(benchmark, arch_id: str) -> None:
    spec = read_spec(SPEC)
    task = next(t for t in spec.tasks if t.id == TASK)
    data = load_data(task.data, task.id)
    recipe = spec.recipe.with_overrides(epochs=EPOCHS)
    arch = (
        Architecture.from_factory(small_cnn, label="small-cnn") if arch_id == "factory" else spec.architecture(arch_id)
    )
    configs = list(spec.config_ids)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = _best_of(lambda: [train_cells(data, [c], arch, recipe, seed=0) for c in configs])
        together = _best_of(lambda: train_cells(data, configs, arch, recipe, seed=0))
        benchmark.pedantic(lambda: train_cells(data, configs, arch, recipe, seed=0), rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    ratio = alone / together
    benchmark.extra_info.update(
        {
            "architecture": arch.name,
            "cells": len(configs),
            "epochs": EPOCHS,
            "rounds": ROUNDS,
            "seconds_alone": alone,
            "seconds_batched": together,
            "speedup": ratio,
        }
    )
    print(
        f"\n{arch.name} on {TASK}, one thread, {len(configs)} configurations: one at a time {alone:.2f} s, "
        f"batched {together:.2f} s: {ratio:.1f}x (best of {ROUNDS})"
    )
