"""Batched = alone for every configuration on a user's ConvNeXt-style factory: all 99 of the paper's and all 33
modern ones, each trained alone, in units of two and in one mixed unit, with add, mul and mean declared in 4 epochs
(the test suite checks every modern configuration alone and in one mixed unit, in 2 epochs; this runs them all
three ways, too slow for every CI run).

Pass: every configuration's error is the same, bit for bit, in the three ways of training it.

Run: pytest benchmarks/test_exactness.py --benchmark-enable -s
"""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")

import peppp_bench  # noqa: E402
from peppp_bench.generate.train import train_cell, train_cells  # noqa: E402
from tests.test_train import convnext_case  # noqa: E402


@pytest.mark.parametrize("family", ["paper", "modern"])
def test_every_configuration_trains_batched_exactly_as_alone_on_a_convnext_factory(family: str) -> None:
    torch.set_num_threads(1)
    data, arch, recipe = convnext_case()
    configs = list(peppp_bench.CONFIG_IDS) if family == "paper" else [c.id for c in peppp_bench.MODERN]
    started = time.time()
    alone = [train_cell(data, c, arch, recipe, seed=1).error for c in configs]
    pairs = [r.error for k in range(0, len(configs), 2) for r in train_cells(data, configs[k : k + 2], arch, recipe, 1)]
    mixed = [r.error for r in train_cells(data, configs[::-1], arch, recipe, seed=1)][::-1]
    differ = [c for c, a, p, m in zip(configs, alone, pairs, mixed) if not a == p == m]
    print(
        f"\n{family}: {len(configs)} configurations, {len(configs) - len(differ)} identical alone, in pairs and mixed; "
        f"errors {min(alone):.3f}-{max(alone):.3f} ({len(set(alone))} distinct); {time.time() - started:.0f} s"
    )
    assert not differ, differ
