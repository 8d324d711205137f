"""Float quantization with qtorch 0.3.0's semantics (spec §2), and the qtorch reference behind one interface.

`native_float_quantize` is plain torch (fp32 bit manipulation; no compile step; CPU and CUDA). It takes
exponent and mantissa widths as ints or as tensors that broadcast against x, so one call can quantize
many configurations at once. Semantics, as in qtorch's kernels:
- nearest: add 2^(22−man) to the fp32 bit pattern and clear the low 23−man bits (ties away from zero);
- stochastic: add a uniformly random integer in [0, 2^(23−man)) instead;
- values below the smallest normal exponent (subnormal range) are rounded on a fixed grid through
  (x + s) − s with s = ±2^min_exp; values above range saturate to the largest magnitude.
NaN inputs propagate as NaN (qtorch maps them to ±max); training never feeds NaN on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Width = int | torch.Tensor
ROUNDINGS = ("nearest", "stochastic")
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True, eq=False)
class Formats:
    """Constants of one float format, or of broadcast per-element formats (tensors), derived once so that
    each quantizer call only applies them."""

    threshold: float | torch.Tensor  # 2^min_exp: below it, the subnormal grid
    largest: float | torch.Tensor  # saturation magnitude (beyond float32 when exp = 8: no clipping)
    lowest: float | torch.Tensor  # −largest
    mask: int | torch.Tensor  # the low 23 − man bits that rounding clears
    keep: int | torch.Tensor  # ~mask: the bits rounding keeps
    half: int | torch.Tensor  # 2^(22 − man): nearest rounding's increment

    @classmethod
    def of(cls, exp: Width, man: Width, device: torch.device | str = "cpu") -> Formats:
        if isinstance(exp, int) and isinstance(man, int):
            _check_widths(exp, man)
            largest, mask = (2.0 - 2.0**-man) * 2.0 ** (1 << (exp - 1)), (1 << (23 - man)) - 1
            return cls(2.0 ** -((1 << (exp - 1)) - 2), largest, -largest, mask, ~mask, 1 << (22 - man))
        exp_t = torch.as_tensor(exp, device=device, dtype=torch.int32)
        man_t = torch.as_tensor(man, device=device, dtype=torch.int32)
        if int(exp_t.min()) < 2 or int(exp_t.max()) > 8 or int(man_t.min()) < 0 or int(man_t.max()) > 22:
            raise ValueError("exponent widths must lie in 2..8 and mantissa widths in 0..22")
        one = torch.ones((), device=device)
        threshold = torch.ldexp(one, (2 - (1 << (exp_t - 1))).float())
        largest = (2.0 - torch.ldexp(one, -man_t.float())) * torch.ldexp(one, (1 << (exp_t - 1)).float())
        mask = (1 << (23 - man_t)) - 1
        return cls(threshold, largest, -largest, mask, torch.bitwise_not(mask), 1 << (22 - man_t))


def _check_widths(exp: int, man: int) -> None:
    if not (2 <= exp <= 8 and 0 <= man <= 22):
        raise ValueError(f"a float format needs 2..8 exponent and 0..22 mantissa bits, got exp={exp}, man={man}")


def random_int32(shape: torch.Size, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform random int32 words (low 31 bits uniform): half as many 64-bit draws, the cheapest torch RNG path."""
    n = int(torch.Size(shape).numel())
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_(generator=generator)
    return words.view(torch.int32)[:n].view(shape)


@torch.no_grad()
def native_float_quantize(
    x: torch.Tensor,
    exp: Width | Formats,
    man: Width | None = None,
    rounding: str = "stochastic",
    generator: torch.Generator | None = None,
    random_bits: torch.Tensor | None = None,
) -> torch.Tensor:
    """Quantize fp32 `x` to the float format(s) (exp, man) like qtorch.float_quantize.

    `exp` may be a prepared `Formats` (then `man` is None). For stochastic rounding the random integers
    come from `generator`, or from `random_bits` (int32, broadcasting against x; only the low 23−man bits
    are used), which lets many configurations share one draw. Not differentiable: training wraps it in
    `activation_quantizer`, which quantizes the gradient on the way back.
    """
    if x.dtype != torch.float32:
        raise TypeError(f"quantization works on float32 tensors, got {x.dtype}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    f = exp if isinstance(exp, Formats) else Formats.of(exp, man, x.device)  # type: ignore[arg-type]
    # Under torch.func.vmap (stacked copies of a network), x or the formats are batched: no out= arguments,
    # and nothing in place on x's unbatched temporaries.
    vmapped = torch._C._functorch.is_batchedtensor(x) or torch._C._functorch.is_batchedtensor(
        torch.as_tensor(f.threshold)
    )
    # s = ±2^min_exp on the subnormal range (qtorch's shift), 0 elsewhere. sign(±0) = ±0 where qtorch
    # shifts zeros by ±2^min_exp: both round back to +0. Built in place, and `scratch` is reused below.
    if vmapped:
        scratch = torch.abs(x).lt(f.threshold).mul(f.threshold)
        s = torch.sign(x).mul(scratch)
    else:
        scratch = torch.abs(x).lt_(f.threshold).mul_(f.threshold)
        s = torch.sign(x).mul_(scratch)
    out = x + s
    bits = out.view(torch.int32)
    if rounding == "nearest":
        bits.add_(f.half)
    elif random_bits is None:
        bits.add_(random_int32(x.shape, x.device, generator).bitwise_and_(f.mask))
    elif vmapped:
        bits.add_(torch.bitwise_and(random_bits, f.mask))
    else:
        bits.add_(torch.bitwise_and(random_bits.expand_as(x), f.mask, out=scratch.view(torch.int32)))
    bits.bitwise_and_(f.keep)
    out.sub_(s)
    if isinstance(f.largest, float):
        return out.clamp_(f.lowest, f.largest) if f.largest < FLOAT32_MAX else out
    if vmapped:
        return torch.maximum(torch.minimum(out, f.largest), f.lowest)
    # Saturate: minimum and maximum against broadcast bounds are several times faster than clamp_ on CPU.
    return torch.maximum(torch.minimum(out, f.largest, out=out), f.lowest, out=out)


def qtorch_float_quantize(x: torch.Tensor, exp: int, man: int, rounding: str = "stochastic") -> torch.Tensor:
    """qtorch 0.3.0's float_quantize (the reference; compiles its C++ extension on first use)."""
    from qtorch.quant import float_quantize

    _check_widths(exp, man)
    return float_quantize(x.contiguous(), exp, man, rounding=rounding)


QuantizeFn = Callable[[torch.Tensor], torch.Tensor]


class _ForwardBackward(torch.autograd.Function):
    """Quantize the activation forward and its error (gradient) backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, forward_fn: QuantizeFn, backward_fn: QuantizeFn) -> torch.Tensor:  # type: ignore[override]
        ctx.backward_fn = backward_fn
        return forward_fn(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return ctx.backward_fn(grad), None, None


def activation_quantizer(forward_fn: QuantizeFn, backward_fn: QuantizeFn) -> QuantizeFn:
    """An autograd-aware quantizer: forward_fn on values, backward_fn on their gradients."""
    return lambda x: _ForwardBackward.apply(x, forward_fn, backward_fn)
