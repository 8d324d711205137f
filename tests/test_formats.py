"""Today's formats against independent references: ml_dtypes' casts for the element types (every finite
value of the 8-bit and smaller types, every tie between neighbours and the floats beside it, and random
float32 over all scales), gfloat's block encoders for MX and NVFP4 blocks; stochastic rounding's
support and bias."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")
gfloat = pytest.importorskip("gfloat")
gf = pytest.importorskip("gfloat.formats")

from peppp_bench.generate.formats import (  # noqa: E402
    ELEMENT_FORMATS,
    AmaxHistory,
    cast,
    element_format,
    mx_block,
    mx_scale_exponent,
    nvfp4,
    per_tensor,
)

ML_DTYPES = {
    "fp8_e4m3": (ml_dtypes.float8_e4m3fn, 8),
    "fp8_e5m2": (ml_dtypes.float8_e5m2, 8),
    "fp6_e3m2": (ml_dtypes.float6_e3m2fn, 6),
    "fp6_e2m3": (ml_dtypes.float6_e2m3fn, 6),
    "fp4_e2m1": (ml_dtypes.float4_e2m1fn, 4),
}


def _inputs(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """The values, every midpoint between neighbours, the floats just beside each, random float32."""
    v = np.unique(values[np.isfinite(values)].astype(np.float32))
    mid = ((v[:-1].astype(np.float64) + v[1:]) / 2).astype(np.float32)
    beside = np.concatenate([np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))])
    top = float(v.max())
    beyond = np.array(
        [min(t, 3.4e38) for t in (top * 1.01, top * 1.06, top * 1.2, top * 2, 1e30, 3e38)], dtype=np.float32
    )
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    words = words[np.isfinite(words)]
    scaled = (rng.standard_normal(50_000) * 2.0 ** rng.integers(-30, 30, 50_000)).astype(np.float32)
    out = np.concatenate([v, mid, beside, beyond, -beyond, words, scaled])
    return out[np.isfinite(out)]


def _same(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Bitwise equal, NaN equal to NaN."""
    return (ours.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(ours) & np.isnan(ref))


@pytest.mark.parametrize("name", list(ML_DTYPES))
def test_small_floats_cast_like_ml_dtypes(name: str) -> None:
    dtype, bits = ML_DTYPES[name]
    patterns = np.arange(2**bits, dtype=np.uint8).view(dtype).astype(np.float32)
    x = _inputs(patterns)
    ours = cast(torch.from_numpy(x), name).numpy()
    ref = x.astype(dtype).astype(np.float32)
    bad = ~_same(ours, ref)
    assert not bad.any(), (name, x[bad][:5], ours[bad][:5], ref[bad][:5])
    finite = patterns[np.isfinite(patterns)]
    assert float(finite.max()) == ELEMENT_FORMATS[name].max


@pytest.mark.parametrize("name, dtype", [("bf16", ml_dtypes.bfloat16), ("fp16", np.float16)])
def test_sixteen_bit_floats_cast_like_ml_dtypes(name: str, dtype: type) -> None:
    patterns = np.arange(2**16, dtype=np.uint16).view(dtype).astype(np.float32)
    x = _inputs(patterns, seed=1)
    ours = cast(torch.from_numpy(x), name).numpy()
    with np.errstate(over="ignore"):
        ref = x.astype(dtype).astype(np.float32)
    bad = ~_same(ours, ref)
    assert not bad.any(), (name, x[bad][:5], ours[bad][:5], ref[bad][:5])


def test_mx_int8_rounds_like_gfloat() -> None:
    fi = gf.format_info_ocp_int8
    x = _inputs(np.arange(-128, 128) / 64.0)
    ref = gfloat.round_ndarray(fi, x.astype(np.float64), gfloat.RoundMode.TiesToEven, sat=True).astype(np.float32)
    assert _same(cast(torch.from_numpy(x), "int8").numpy(), ref).all()


def test_saturating_casts_stop_at_the_largest_value() -> None:
    x = torch.tensor([1e6, -1e6, 470.0, float("inf")])
    assert cast(x, "fp8_e4m3", saturate=True).tolist() == [448.0, -448.0, 448.0, 448.0]
    assert cast(x, "fp8_e5m2", saturate=True).tolist() == [57344.0, -57344.0, 448.0, 57344.0]
    assert torch.isnan(cast(x, "fp8_e4m3")).tolist() == [True, True, True, True]  # E4M3 has no infinity
    with pytest.raises(KeyError, match="unknown number format 'fp8_e3m4'; known: fp32, bf16"):
        element_format("fp8_e3m4")


@pytest.mark.parametrize("name", ["fp8_e4m3", "fp6_e2m3", "fp4_e2m1", "bf16", "int8"])
def test_stochastic_rounding_hits_the_two_neighbours_without_bias(name: str) -> None:
    fmt = ELEMENT_FORMATS[name]
    grid = np.unique(cast(torch.linspace(-fmt.max, fmt.max, 200_001), name).numpy()) if name != "bf16" else None
    g = torch.Generator().manual_seed(0)
    values = (
        [v for v in (0.3, -1.37, 5.1, 0.013) if abs(v) < fmt.max] if name != "bf16" else [1.0 + 2**-9, -3.0001, 1e-39]
    )
    for value in values:
        x = torch.full((40_000,), value)
        out = cast(x, name, "stochastic", generator=g).numpy().astype(np.float64)
        lo, hi = np.unique(out)[[0, -1]]
        assert len(np.unique(out)) <= 2 and lo <= value <= hi
        if grid is not None:  # the two are neighbours on the format's grid
            assert np.searchsorted(grid, hi) - np.searchsorted(grid, lo) <= 1
        sd = (hi - lo) / 2 / np.sqrt(len(out))
        assert abs(out.mean() - np.float32(value)) <= 5 * sd + 1e-12


MX = {
    "fp8_e4m3": "format_info_mxfp8_e4m3",
    "fp8_e5m2": "format_info_mxfp8_e5m2",
    "fp6_e3m2": "format_info_mxfp6_e3m2",
    "fp6_e2m3": "format_info_mxfp6_e2m3",
    "fp4_e2m1": "format_info_mxfp4_e2m1",
    "int8": "format_info_mxint8",
}


def _blocks(k: int, n: int = 64, seed: int = 0) -> np.ndarray:
    """Blocks of k float32 values at scales from 2^-40 to 2^40, some with outliers, one all zero."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)) * 2.0 ** rng.integers(-40, 40, (n, 1))
    x[1::7, 0] *= 1000.0
    x[3] = 0.0
    return x.astype(np.float32)


@pytest.mark.parametrize("name", list(MX))
@pytest.mark.parametrize("scale_rounding", ["floor", "up"])
def test_mx_blocks_like_gfloat(name: str, scale_rounding: str) -> None:
    fi = getattr(gf, MX[name])
    x = _blocks(32)
    fmt = ELEMENT_FORMATS[name]

    def scale_up(emax: float, vals: np.ndarray) -> float:  # smallest 2^e with 2^e · max ≥ amax
        amax = float(np.max(np.abs(vals)))
        e = -127 if amax == 0 else int(np.ceil(np.log2(amax / fmt.max)))
        return 2.0 ** float(np.clip(e, -127, 127))

    scale = gfloat.block.compute_scale_amax if scale_rounding == "floor" else scale_up
    ref = np.stack([gfloat.quantize_block(fi, row.astype(np.float64), scale) for row in x]).astype(np.float32)
    ours = mx_block(torch.from_numpy(x), name, 32, -1, scale_rounding).numpy()
    assert _same(ours, ref).all(), np.argwhere(~_same(ours, ref))[:3]


def test_mx_scale_rounding_up_never_saturates_and_floor_can() -> None:
    fmt = ELEMENT_FORMATS["fp8_e4m3"]
    amax = torch.tensor([500.0, 448.0, 1.0, 0.0])
    assert mx_scale_exponent(amax, fmt, "floor").tolist() == [0, 0, -8, -127]
    assert mx_scale_exponent(amax, fmt, "up").tolist() == [1, 0, -8, -127]
    x = torch.tensor([[500.0] + [1.0] * 31])
    assert mx_block(x, "fp8_e4m3", scale_rounding="floor")[0, 0] == 448.0  # saturated
    assert mx_block(x, "fp8_e4m3", scale_rounding="up")[0, 0] == 512.0  # 256 · 2 exactly


def test_mx_blocks_run_along_the_axis_and_pad_a_short_last_block() -> None:
    x = torch.from_numpy(_blocks(32, n=8, seed=3)).reshape(8, 4, 8)  # blocks of 32 along axis 0 of 8·4
    along_0 = mx_block(x.permute(1, 2, 0).reshape(32, 8).T.contiguous().T, "fp4_e2m1", block=8, axis=1)
    assert along_0.shape == (32, 8)
    short = torch.tensor([[3.0, 0.1, -0.2]])
    assert torch.equal(
        mx_block(short, "fp4_e2m1", block=32),
        mx_block(torch.tensor([[3.0, 0.1, -0.2] + [0.0] * 29]), "fp4_e2m1", block=32)[:, :3],
    )


def test_nvfp4_like_gfloat() -> None:
    e2m1, e4m3 = gf.format_info_ocp_e2m1, gf.format_info_ocp_e4m3
    fi = gfloat.block.BlockFormatInfo("nvfp4", e2m1, 16, e4m3)
    x = (np.random.default_rng(4).standard_normal((40, 16)) * 2.0 ** np.arange(-20, 20)[:, None]).astype(np.float32)
    x[5] = 0.0
    tensor_scale = np.float32(np.abs(x).max()) / np.float32(6.0 * 448.0)
    vals = (x / tensor_scale).astype(np.float32)
    rows = []
    for row in vals:
        s = gfloat.round_float(
            e4m3, float(np.float32(np.abs(row).max()) / np.float32(6.0)), gfloat.RoundMode.TiesToEven, True
        )
        s = s if s > 0 else 1.0
        scaled = (row / np.float32(s)).astype(np.float32).astype(np.float64)
        rows.append(np.array(list(gfloat.decode_block(fi, gfloat.encode_block(fi, s, scaled))), dtype=np.float32))
    ref = (np.stack(rows) * tensor_scale).astype(np.float32)
    assert _same(nvfp4(torch.from_numpy(x)).numpy(), ref).all()


def test_per_tensor_current_and_delayed_scaling() -> None:
    x = torch.tensor([0.001, -0.002, 0.0005])
    q = per_tensor(x, "fp8_e4m3")
    assert torch.allclose(q, x, rtol=2**-4) and q.abs().max() == 0.002  # the maximum maps to 448 exactly
    delayed = AmaxHistory(length=2)
    delayed(torch.tensor([100.0]), "fp8_e4m3")
    small = delayed(torch.tensor([0.001]), "fp8_e4m3")  # scaled by the remembered 100: underflows
    assert small.item() != 0.001 and abs(small.item() - 0.001) < 0.001
    assert len(delayed.history) == 2


def test_fused_quantizers_equal_the_plain_ones_bit_for_bit() -> None:
    from peppp_bench.generate.fused import available, fused
    from peppp_bench.generate.quantize import Formats, native_float_quantize, random_int32

    if not available():
        pytest.skip("torch.compile cannot build kernels here")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1000, generator=g) * 2.0 ** torch.randint(-20, 20, (3, 1), generator=g)
    bits = random_int32(x.shape, x.device, g)
    noise = torch.randint(0, 1 << 23, x.shape, dtype=torch.int32, generator=g)
    paper = Formats.of(torch.tensor([3, 4, 5]).view(3, 1), torch.tensor([1, 3, 2]).view(3, 1))
    for rounding in ("nearest", "stochastic"):
        args = (x, paper, None, rounding, None, bits)
        assert torch.equal(fused(native_float_quantize)(*args), native_float_quantize(*args))
        for name in ("fp8_e4m3", "bf16", "fp4_e2m1", "int8"):
            assert torch.equal(
                fused(cast)(x, name, rounding, True, None, noise), cast(x, name, rounding, True, None, noise)
            )
        mx = (x, "fp6_e3m2", 32, -1, "floor", rounding, None, noise)
        assert torch.equal(fused(mx_block)(*mx), mx_block(*mx))
        assert torch.equal(fused(nvfp4)(x, -1, rounding, None, noise), nvfp4(x, -1, rounding, None, noise))
