"""The fused quantizer (one torch.compile kernel per quantizer call) against the plain-torch quantizer
it must equal and against qtorch: 1M float32 elements, one thread, best of 20 calls each, in one run.

- a paper format (E4M3 of qtorch's semantics), nearest and stochastic rounding: plain, fused, qtorch;
- an MX format (MXFP8 E4M3, blocks of 32): plain, fused (qtorch has no block formats).

Run: pytest benchmarks/test_fused.py --benchmark-enable -s
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from peppp_bench.generate.formats import mx_block  # noqa: E402
from peppp_bench.generate.fused import available, fused  # noqa: E402
from peppp_bench.generate.quantize import Formats, native_float_quantize, qtorch_float_quantize, random_int32  # noqa: E402

from .timing import best_of  # noqa: E402

N, CALLS = 1 << 20, 20


def _best(fn: Any) -> float:
    return best_of(fn, CALLS)


def _report(
    benchmark: Any, title: str, seconds: dict[str, float], ratios: dict[str, float], ratio: str, **info: Any
) -> None:
    """Record the timings and their ratios with the benchmark and print them on one line (`ratio` formats each
    ratio `r` of timing `k`)."""
    benchmark.extra_info.update({**info, "seconds": seconds, "ratios": ratios})
    shown = ", ".join(f"{k} {1000 * v:.2f} ms" if v < 1 else f"{k} {v:.1f} s" for k, v in seconds.items())
    print(f"\n{title}: {shown}; " + ", ".join(ratio.format(k=k, r=r) for k, r in ratios.items()))


@pytest.mark.parametrize("kind", ["paper-nearest", "paper-stochastic", "mxfp8"])
def test_fused_versus_plain_versus_qtorch(benchmark, kind: str) -> None:
    if not available():
        pytest.skip("torch.compile cannot build kernels here")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.randn(N, generator=torch.Generator().manual_seed(0))
        if kind == "mxfp8":
            blocks = x.view(-1, 1024)
            plain = lambda: mx_block(blocks, "fp8_e4m3", 32)  # noqa: E731
            fast = lambda: fused(mx_block)(blocks, "fp8_e4m3", 32)  # noqa: E731
            reference = None
        else:
            rounding = kind.split("-")[1]
            fmt = Formats.of(4, 3)
            bits = (
                random_int32(x.shape, x.device, torch.Generator().manual_seed(1)) if rounding == "stochastic" else None
            )
            plain = lambda: native_float_quantize(x, fmt, None, rounding, None, bits)  # noqa: E731
            fast = lambda: fused(native_float_quantize)(x, fmt, None, rounding, None, bits)  # noqa: E731
            reference = lambda: qtorch_float_quantize(x, 4, 3, rounding)  # noqa: E731
        assert torch.equal(plain(), fast())
        seconds = {"plain": _best(plain), "fused": _best(fast)}
        if reference is not None:
            seconds["qtorch"] = _best(reference)
        benchmark.pedantic(fast, rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    ratios = {k: seconds[k] / seconds["fused"] for k in seconds if k != "fused"}
    _report(benchmark, f"{kind}, {N:,} elements, one thread", seconds, ratios, "fused is {r:.1f}x {k}", elements=N)


# Configurations of today's formats from modern-mini's pilot (round 5): MX, NVFP4 and per-tensor scaling.
UNIT = ["a-e2m1mx32", "a-e2m1nvfp4", "a-e3m2cur", "wa-e4m3mx32"]


def test_fused_versus_plain_in_training_a_small_modern_unit(benchmark) -> None:
    """What the fused quantizer buys where tensors are small: one epoch of a unit of four modern
    configurations on an 8-px task and a small VGG-style CNN (round 5 of modern-mini's pilot), one thread;
    fused timed twice in the same process (the first compiles every variant), plain best of 2 after a warm-up."""
    import dataclasses
    import time
    from pathlib import Path

    from peppp_bench.generate.data import load_data
    from peppp_bench.generate.spec import read_spec
    from peppp_bench.generate.train import train_cells

    if not available():
        pytest.skip("torch.compile cannot build kernels here")
    spec = read_spec(Path(__file__).resolve().parents[1] / "datasets/modern-mini/pilot/round5.toml")
    task, (arch_id, _) = spec.tasks[0], spec.architectures[0]
    data = load_data(task.data, name=task.id)
    configs = [spec.configuration(c) for c in UNIT]
    recipe = dataclasses.replace(spec.recipe, epochs=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:

        def unit(fuse: bool) -> list[float]:
            return [
                c.error
                for c in train_cells(data, configs, spec.architecture(arch_id), recipe, 0, "cpu", "native", fuse)
            ]

        seconds = {}
        t = time.perf_counter()
        fused_errors = unit(True)
        seconds["fused, first (compiles)"] = time.perf_counter() - t
        seconds["fused, warm"] = best_of(lambda: unit(True), 1, warm_up=False)
        seconds["plain"] = best_of(lambda: unit(False), 2)
        assert fused_errors == unit(False)
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    ratios = {k: v / seconds["plain"] for k, v in seconds.items() if k != "plain"}
    title = f"one epoch of {len(UNIT)} modern configurations, {task.id}, one thread"
    _report(benchmark, title, seconds, ratios, "{k} {r:.2f}x plain", configurations=UNIT)
