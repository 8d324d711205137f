"""Quantizer throughput on this CPU: the native back end against qtorch 0.3.0, both roundings.

Run: pytest benchmarks/test_quantize.py --benchmark-enable
The speedup (qtorch time / native time, min of repeated runs in the same process) is printed and kept
in the benchmark's extra_info.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("qtorch")

import peppp_bench.generate  # noqa: E402,F401  (sets the allocator policy the trainer runs with)
from peppp_bench.generate.quantize import native_float_quantize, qtorch_float_quantize  # noqa: E402

from .timing import best_of  # noqa: E402

N = 1_000_000


def _best(fn, repeats: int = 30) -> float:
    return best_of(fn, repeats)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_native_vs_qtorch(benchmark, rounding: str) -> None:
    x = torch.randn(N)
    gen = torch.Generator().manual_seed(0)
    ref = _best(lambda: qtorch_float_quantize(x, 5, 2, rounding))
    ours = benchmark(lambda: native_float_quantize(x, 5, 2, rounding, gen))
    native = _best(lambda: native_float_quantize(x, 5, 2, rounding, gen))
    benchmark.extra_info.update(
        {"elements": N, "qtorch_ms": ref * 1e3, "native_ms": native * 1e3, "speedup": ref / native}
    )
    print(
        f"\n{rounding}: qtorch {ref * 1e3:.2f} ms, native {native * 1e3:.2f} ms per {N:,} elements: {ref / native:.1f}x"
    )
    assert ours.shape == x.shape
