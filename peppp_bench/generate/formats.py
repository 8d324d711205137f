"""The number formats people train in today, as exact casts in plain torch (float32 in, float32 out).

Element formats: OCP FP8 E4M3 (finite, max 448, NaN) and E5M2 (IEEE-like, infinities), bf16, fp16, the
MX element types FP6 E3M2 / E2M3 and FP4 E2M1 (finite, no NaN), MX INT8 (an integer times 2^-6) and
fp32. `cast` rounds to nearest-even (or stochastically) with subnormals; a value beyond the largest
finite one becomes what ml_dtypes' casts give (infinity, NaN, or the largest value for formats with
neither), or with `saturate` the largest finite value, as training casts do.

Scaling, on top of the casts:
- `per_tensor`: current scaling (the tensor's absolute maximum maps to the format's largest value);
  delayed scaling takes the maximum from a history of earlier calls (`AmaxHistory`);
- `mx_block`: a shared E8M0 power-of-two scale per block of k elements along one axis, its exponent
  floor(log2 amax) − emax as the OCP MX spec suggests, or rounded up so that no element saturates;
- `nvfp4`: E2M1 elements, an E4M3 scale per block of 16 and one FP32 scale per tensor.

These are not the paper's formats: its 99 configurations keep qtorch's semantics (quantize.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class ElementFormat:
    """A format of 1 sign bit, `exp` exponent bits and `man` stored mantissa bits (MX INT8: `integer`)."""

    name: str
    exp: int
    man: int
    max: float  # the largest finite value
    emin: int  # exponent of the smallest normal value (1 − bias)
    emax: int  # exponent of the largest normal value
    overflow: str  # beyond max, a cast without saturation gives: "inf", "nan" or "saturate"
    integer: bool = False

    @property
    def bits(self) -> int:
        return 8 if self.integer else 1 + self.exp + self.man


ELEMENT_FORMATS: dict[str, ElementFormat] = {
    f.name: f
    for f in (
        ElementFormat("fp32", 8, 23, FLOAT32_MAX, -126, 127, "inf"),
        ElementFormat("bf16", 8, 7, 3.3895313892515355e38, -126, 127, "inf"),
        ElementFormat("fp16", 5, 10, 65504.0, -14, 15, "inf"),
        ElementFormat("fp8_e4m3", 4, 3, 448.0, -6, 8, "nan"),
        ElementFormat("fp8_e5m2", 5, 2, 57344.0, -14, 15, "inf"),
        ElementFormat("fp6_e3m2", 3, 2, 28.0, -2, 4, "saturate"),
        ElementFormat("fp6_e2m3", 2, 3, 7.5, 0, 2, "saturate"),
        ElementFormat("fp4_e2m1", 2, 1, 6.0, 0, 2, "saturate"),
        ElementFormat("int8", 0, 6, 127 / 64, 0, 0, "saturate", integer=True),
    )
}
ROUNDINGS = ("nearest", "stochastic")


def element_format(name: str) -> ElementFormat:
    if name not in ELEMENT_FORMATS:
        raise KeyError(f"unknown number format {name!r}; known: {', '.join(ELEMENT_FORMATS)}")
    return ELEMENT_FORMATS[name]


def _uniform_bits(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """23 uniformly random low bits per element (int32)."""
    return torch.randint(0, 1 << 23, x.shape, dtype=torch.int32, device=x.device, generator=generator)


def _noise(
    x: torch.Tensor, rounding: str, generator: torch.Generator | None, noise: torch.Tensor | None
) -> torch.Tensor | None:
    """Stochastic rounding's random bits: given (shared by several copies), or drawn; None for nearest."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if rounding == "nearest":
        return None
    return _uniform_bits(x, generator) if noise is None else noise


def cast(
    x: torch.Tensor,
    fmt: ElementFormat | str,
    rounding: str = "nearest",
    saturate: bool = False,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Round float32 `x` to the format: nearest-even or stochastic (the two neighbours, unbiased; the
    random bits from `generator`, or `noise`: int32 words whose low 23 bits are uniform)."""
    fmt = element_format(fmt) if isinstance(fmt, str) else fmt
    if x.dtype != torch.float32:
        raise TypeError(f"casts take float32 tensors, got {x.dtype}")
    noise = _noise(x, rounding, generator, noise)
    if fmt.integer:  # k · 2^-6, k an integer in [-128, 127]
        y = _round_on_grid(x, fmt.man, 0, noise).clamp_(-2.0, fmt.max) + 0.0  # an integer has no −0
        return torch.where(torch.isnan(x), x, y)
    shift = 23 - fmt.man
    bits = x.view(torch.int32)
    if shift:
        if noise is None:  # ties to even: add half an ulp less one, plus the kept lowest bit
            bits = bits + ((1 << (shift - 1)) - 1) + ((bits >> shift) & 1)
        else:
            bits = bits + (noise & ((1 << shift) - 1))
        bits = bits & ~((1 << shift) - 1)
    normal = bits.view(torch.float32)
    tiny = torch.abs(x) < 2.0**fmt.emin  # the subnormal range: a fixed grid of 2^(emin − man)
    y = torch.where(tiny, _round_on_grid(x, fmt.man, fmt.emin, noise), normal)
    over = torch.abs(y) > fmt.max
    if saturate or fmt.overflow == "saturate":
        y = torch.where(over, torch.copysign(torch.full_like(y, fmt.max), x), y)
    elif fmt.overflow == "inf":
        y = torch.where(over, torch.copysign(torch.full_like(y, float("inf")), x), y)
    else:
        y = torch.where(over, torch.full_like(y, float("nan")), y)
    return torch.where(torch.isnan(x), x, y)


def _round_on_grid(x: torch.Tensor, man: int, emin: int, noise: torch.Tensor | None) -> torch.Tensor:
    """x rounded to multiples of 2^(emin − man); the scaling by powers of two is exact (in two steps,
    so that 2^149 never has to exist in float32)."""
    up, down = 2.0**man, 2.0**-emin
    scaled = x * up * down
    if noise is None:
        q = torch.round(scaled)  # half to even
    else:
        q = torch.copysign(torch.floor(torch.abs(scaled) + (noise & 0x7FFFFF).float() * 2.0**-23), x)
    return q / down / up


def _floor_log2(a: torch.Tensor) -> torch.Tensor:
    """floor(log2(a)) for a > 0, exactly (from the float's exponent, not a rounded logarithm)."""
    return torch.frexp(a).exponent.to(torch.int32) - 1


def mx_scale_exponent(amax: torch.Tensor, fmt: ElementFormat, scale_rounding: str = "floor") -> torch.Tensor:
    """The E8M0 exponent of a block with absolute maximum `amax`: floor(log2 amax) − emax (OCP), or
    ceil(log2(amax / max)) ("up": no element saturates); −127 for an all-zero block; in [−127, 127]."""
    if scale_rounding not in ("floor", "up"):
        raise ValueError(f"MX scale rounding must be 'floor' (OCP) or 'up', got {scale_rounding!r}")
    zero = amax == 0
    safe = torch.where(zero, torch.ones_like(amax), amax)
    e = _floor_log2(safe) - fmt.emax
    if scale_rounding == "up":
        e = torch.where(fmt.max * torch.ldexp(torch.ones_like(safe), e) >= safe, e, e + 1)
    return torch.where(zero, torch.full_like(e, -127), e).clamp_(-127, 127)


def _blocks(x: torch.Tensor, block: int, axis: int) -> tuple[torch.Tensor, tuple[int, ...], int]:
    """x with `axis` moved last and cut into blocks: (..., n_blocks, block), zero-padded; plus how to undo it."""
    moved = x.movedim(axis, -1)
    n = moved.shape[-1]
    pad = (-n) % block
    if pad:
        moved = torch.nn.functional.pad(moved, (0, pad))
    return moved.reshape(*moved.shape[:-1], -1, block), tuple(moved.shape), n


def _unblock(b: torch.Tensor, shape: tuple[int, ...], n: int, axis: int) -> torch.Tensor:
    return b.reshape(shape)[..., :n].movedim(-1, axis)


def mx_block(
    x: torch.Tensor,
    fmt: ElementFormat | str,
    block: int = 32,
    axis: int = -1,
    scale_rounding: str = "floor",
    rounding: str = "nearest",
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """MX block scaling: each block of `block` elements along `axis` shares an E8M0 scale 2^e; elements are
    cast (saturating) to `fmt` after dividing by it. Returns the values the block format represents."""
    fmt = element_format(fmt) if isinstance(fmt, str) else fmt
    noise = _noise(x, rounding, generator, noise)
    b, shape, n = _blocks(x, block, axis)
    e = mx_scale_exponent(b.abs().amax(-1, keepdim=True), fmt, scale_rounding)
    one = torch.ones(e.shape, device=x.device)
    bits = None if noise is None else _blocks(noise.expand_as(x), block, axis)[0]
    q = cast(b * torch.ldexp(one, -e), fmt, rounding, saturate=True, noise=bits) * torch.ldexp(one, e)
    return _unblock(q, shape, n, axis)


NVFP4_BLOCK = 16


def nvfp4(
    x: torch.Tensor,
    axis: int = -1,
    rounding: str = "nearest",
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    tensor_amax: torch.Tensor | None = None,
) -> torch.Tensor:
    """NVFP4: E2M1 elements, an E4M3 scale per block of 16, one FP32 scale per tensor (amax / (6 · 448)),
    so that every block scale lies within E4M3's range. `tensor_amax` (broadcasting against x) lets
    several tensors side by side keep one tensor scale each."""
    e2m1, e4m3 = ELEMENT_FORMATS["fp4_e2m1"], ELEMENT_FORMATS["fp8_e4m3"]
    noise = _noise(x, rounding, generator, noise)
    amax = x.abs().amax() if tensor_amax is None else tensor_amax
    tensor_scale = torch.where(amax > 0, amax / (e2m1.max * e4m3.max), torch.ones_like(amax))
    b, shape, n = _blocks(x / tensor_scale, NVFP4_BLOCK, axis)
    scale = cast(b.abs().amax(-1, keepdim=True) / e2m1.max, e4m3, saturate=True)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    bits = None if noise is None else _blocks(noise.expand_as(x), NVFP4_BLOCK, axis)[0]
    q = cast(b / safe, e2m1, rounding, saturate=True, noise=bits) * safe
    return _unblock(q, shape, n, axis) * tensor_scale


def per_tensor(
    x: torch.Tensor,
    fmt: ElementFormat | str,
    amax: torch.Tensor | None = None,
    rounding: str = "nearest",
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-tensor scaling: x · s cast (saturating) and divided by s again, s = max / amax, with `amax` the
    tensor's own absolute maximum (current scaling) or one from earlier calls (delayed scaling)."""
    fmt = element_format(fmt) if isinstance(fmt, str) else fmt
    amax = x.abs().amax() if amax is None else amax
    scale = torch.where(amax > 0, fmt.max / amax, torch.ones_like(amax))
    return cast(x * scale, fmt, rounding, saturate=True, generator=generator, noise=noise) / scale


class AmaxHistory:
    """Delayed scaling's state for one tensor: the absolute maxima of its last `length` calls; a call is
    scaled by the largest of them (by its own maximum on the first call). With `dims`, the maxima are
    taken over those dimensions only (one per copy of tensors side by side)."""

    def __init__(self, length: int = 16, dims: list[int] | None = None) -> None:
        self.length, self.dims = length, dims
        self.history: list[torch.Tensor] = []

    def amax(self, x: torch.Tensor) -> torch.Tensor:
        """The maximum this call is scaled by; x's own maximum joins the history."""
        magnitude = x.detach().abs()
        current = magnitude.amax() if self.dims is None else magnitude.amax(self.dims, keepdim=True)
        amax = torch.stack(self.history).amax(0) if self.history else current
        self.history = (self.history + [current])[-self.length :]
        return amax

    def __call__(
        self,
        x: torch.Tensor,
        fmt: ElementFormat | str,
        rounding: str = "nearest",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return per_tensor(x, fmt, self.amax(x), rounding, generator)
