"""The native quantizer against qtorch 0.3.0: bit-identical nearest rounding, equal-in-distribution stochastic."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
qtorch_quant = pytest.importorskip("qtorch.quant")

from peppp_bench.configs import FORMATS_A, FORMATS_B  # noqa: E402
from peppp_bench.generate.quantize import Formats, native_float_quantize, qtorch_float_quantize  # noqa: E402

FORMATS = [(f.exp, f.man) for f in FORMATS_A + FORMATS_B]


def edge_values() -> torch.Tensor:
    """Zeros, infinities, float32 extremes and subnormals, powers of two with mantissas at rounding ties,
    and a wide random spread."""
    vals = [0.0, -0.0, float("inf"), -float("inf"), 3.4028235e38, -3.4028235e38, 1e-45, -1e-45, 1.17549435e-38]
    for e in range(-140, 128):
        for m in (1.0, 1.0000001, 1.0625, 1.125, 1.1875, 1.25, 1.5, 1.75, 1.96875, 1.9999999):
            vals += [m * 2.0**e, -m * 2.0**e]
    rng = np.random.default_rng(0)
    spread = rng.normal(size=20000) * np.exp(rng.normal(size=20000) * 8)
    return torch.tensor(np.concatenate([vals, spread]), dtype=torch.float32)


@pytest.mark.parametrize("exp,man", FORMATS)
def test_nearest_is_bit_identical_to_qtorch(exp: int, man: int) -> None:
    x = edge_values()
    ours = native_float_quantize(x, exp, man, "nearest")
    ref = qtorch_float_quantize(x, exp, man, "nearest")
    assert torch.equal(ours.view(torch.int32), ref.view(torch.int32))


@pytest.mark.parametrize("exp,man", [(3, 1), (4, 3), (5, 2), (6, 7), (8, 11)])
def test_stochastic_matches_qtorch_in_distribution(exp: int, man: int) -> None:
    """Same support (the two neighbouring representable values), same frequencies, unbiased."""
    g = torch.Generator().manual_seed(1)
    n = 40000
    for value in (0.3337, -1.7, 0.013, 5.55, 1e-3):
        x = torch.full((n,), value)
        ours = native_float_quantize(x, exp, man, "stochastic", g)
        ref = qtorch_float_quantize(x, exp, man, "stochastic")
        support = set(ref.unique().tolist())
        assert set(ours.unique().tolist()) == support and len(support) <= 2
        lo = min(support)
        p_ours, p_ref = (ours == lo).double().mean().item(), (ref == lo).double().mean().item()
        assert abs(p_ours - p_ref) < 5 * np.sqrt(2 * 0.25 / n)  # 5 sigma of a difference of two frequencies
        inside = abs(value) < 2.0 ** (1 << (exp - 1))  # not saturated
        if inside:
            assert abs(ours.double().mean().item() - value) < 6 * ours.double().std().item() / np.sqrt(n) + 1e-9


def test_broadcast_widths_equal_per_format_calls() -> None:
    x = edge_values()[:5000].reshape(1, -1).repeat(len(FORMATS), 1)
    exp = torch.tensor([e for e, _ in FORMATS], dtype=torch.int32)[:, None]
    man = torch.tensor([m for _, m in FORMATS], dtype=torch.int32)[:, None]
    together = native_float_quantize(x, exp, man, "nearest")
    for i, (e, m) in enumerate(FORMATS):
        assert torch.equal(
            together[i].view(torch.int32), native_float_quantize(x[i], e, m, "nearest").view(torch.int32)
        )
    bits = torch.randint(0, 1 << 23, x.shape, dtype=torch.int32)
    together = native_float_quantize(x, exp, man, "stochastic", random_bits=bits)
    for i, (e, m) in enumerate(FORMATS):
        single = native_float_quantize(x[i], e, m, "stochastic", random_bits=bits[i])
        assert torch.equal(together[i].view(torch.int32), single.view(torch.int32))
    shared = native_float_quantize(x, exp, man, "stochastic", random_bits=bits[:1])  # one draw for all formats
    for i, (e, m) in enumerate(FORMATS):
        single = native_float_quantize(x[i], e, m, "stochastic", random_bits=bits[0])
        assert torch.equal(shared[i].view(torch.int32), single.view(torch.int32))


def test_stochastic_is_reproducible_from_a_seed_and_from_bits() -> None:
    x = torch.randn(1000)
    a = native_float_quantize(x, 4, 2, "stochastic", torch.Generator().manual_seed(3))
    b = native_float_quantize(x, 4, 2, "stochastic", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    bits = torch.randint(0, 1 << 23, (1000,), dtype=torch.int32)
    kept = bits.clone()
    assert torch.equal(
        native_float_quantize(x, 4, 2, "stochastic", random_bits=bits),
        native_float_quantize(x, 4, 2, "stochastic", random_bits=bits),
    )
    assert torch.equal(bits, kept)  # the caller's bits are not modified
    # With all-zero bits stochastic rounding truncates towards zero, like qtorch with a zero draw.
    zero = native_float_quantize(x, 4, 2, "stochastic", random_bits=torch.zeros(1000, dtype=torch.int32))
    assert (zero.abs() <= x.abs()).all()


def test_saturation_and_subnormal_grid() -> None:
    f = Formats.of(3, 1)
    assert f.largest == 1.5 * 2**4 and f.threshold == 0.25
    q = native_float_quantize(torch.tensor([1e6, -1e6, 0.06, 0.07, -0.2]), 3, 1, "nearest")
    assert q.tolist() == [24.0, -24.0, 0.0, 0.125, -0.25]  # grid step 2^(min_exp - man) = 0.125 below 0.25


def test_bad_inputs() -> None:
    with pytest.raises(TypeError, match="float32"):
        native_float_quantize(torch.zeros(3, dtype=torch.float64), 5, 2)
    with pytest.raises(ValueError, match="rounding"):
        native_float_quantize(torch.zeros(3), 5, 2, "up")
    with pytest.raises(ValueError, match="2..8 exponent"):
        native_float_quantize(torch.zeros(3), 9, 2)
