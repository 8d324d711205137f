"""Batching for every network: all 33 configurations of one task, trained together versus one at a time,
in one single-threaded process, for each architecture of the bundled `mini-arch` spec (the ResNet and
the transformer are the targets: ≥ 5×) and for a factory's network (stacked under torch.func.vmap).

Same cells both ways (digits-3v8, 8 px, the spec's recipe shortened to 2 epochs), and the same errors bit
for bit (tests/test_train.py checks it). A second test prices that exactness: side-by-side convolutions
against the grouped kernel. Best of 2 rounds.

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
        alone = _best_of(lambda: [train_cells(data, [c], arch, recipe, seed=0, exact_alone=False) for c in configs])
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


@pytest.mark.parametrize("arch_id", ["resnet", "vgg"])
def test_side_by_side_convolutions_versus_the_grouped_kernel(benchmark, arch_id: str) -> None:
    """The built-ins compute each copy's convolution as a plain one (exact: a copy trains as alone); the
    reference is the grouped kernel they ran before (one call for all copies, another summation order)."""
    from peppp_bench.generate import networks

    spec = read_spec(SPEC)
    task = next(t for t in spec.tasks if t.id == TASK)
    data = load_data(task.data, task.id)
    recipe, arch, configs = spec.recipe.with_overrides(epochs=EPOCHS), spec.architecture(arch_id), list(spec.config_ids)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    side_by_side = networks.SideBySideConv2d.forward
    try:
        plain = _best_of(lambda: train_cells(data, configs, arch, recipe, seed=0))
        networks.SideBySideConv2d.forward = torch.nn.Conv2d.forward  # type: ignore[method-assign]
        grouped = _best_of(lambda: train_cells(data, configs, arch, recipe, seed=0))
    finally:
        networks.SideBySideConv2d.forward = side_by_side  # type: ignore[method-assign]
        torch.set_num_threads(threads)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update({"architecture": arch.name, "seconds_side_by_side": plain, "seconds_grouped": grouped})
    print(
        f"\n{arch.name}, {len(configs)} configurations batched, one thread: side by side {plain:.2f} s, grouped "
        f"kernel {grouped:.2f} s: {grouped / plain:.2f}x (best of {ROUNDS})"
    )
