"""The quantizers as fused kernels: torch.compile turns the element-wise passes of one quantizer call into
one kernel (C++ on a CPU, Triton on CUDA). The plain-torch functions stay the reference; the fused ones
equal them bit for bit (tests/test_formats.py) and run several times faster (benchmarks/test_fused.py).

Training uses them when asked (a spec's `fused_quantizer = true`, recorded in every cell's provenance)
and when torch.compile works on this machine (`available()`: a C++ compiler for the CPU backend).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from typing import Any

import torch


@functools.cache
def _available(device_type: str) -> bool:
    if not hasattr(torch, "compile"):
        return False
    if device_type == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        return False
    try:
        torch.compile(lambda x: x * 2 + 1, dynamic=True)(torch.ones(3, device=device_type))
    except Exception:  # noqa: BLE001 - any failure to build means: use the plain functions
        return False
    from torch import _dynamo

    # One compiled variant per number format, scaling and role a network uses; past the limit (a unit of
    # dozens of modern configurations), torch runs the plain function: the same results, uncompiled.
    _dynamo.config.cache_size_limit = max(_dynamo.config.cache_size_limit, 64)
    return True


def available(device: str = "cpu") -> bool:
    """Whether torch.compile can build a kernel for `device` here (C++ on a CPU, Triton on CUDA), tried
    once per kind of device on a tiny function on that device."""
    return _available(torch.device(device).type)


@functools.cache
def fused(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` compiled (shapes dynamic, so one kernel serves every tensor of a network), or `fn` itself
    where torch.compile is unavailable."""
    return torch.compile(fn, dynamic=True) if available() else fn
