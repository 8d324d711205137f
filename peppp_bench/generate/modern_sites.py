"""Quantizers of modern configurations (peppp_bench.modern) for networks that train several side by side.

Every tensor a site or the optimizer quantizes is viewed with its copies along one dimension; the copies
that share a role's format are quantized together, each copy with its own scales (per-tensor amax, MX
and NVFP4 blocks never span copies). Blocks run along the channel axis of activations and errors and
the input axis of weights, gradients and optimizer state (the reduction axis of the next convolution or
matmul); where that axis has one element, along the last axis.

Stochastic rounding draws one copy's worth of random bits on every call, shared by all copies, so each
configuration rounds with the bits it draws when trained alone with the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..modern import ModernConfiguration, TensorFormat
from . import formats
from .fused import fused
from .quantize import activation_quantizer


class ModernSites:
    """Role quantizers for `configs` trained side by side (one copy each)."""

    def __init__(
        self, configs: Sequence[ModernConfiguration], gen: torch.Generator, device: torch.device, fuse: bool = False
    ) -> None:
        self.configs, self.gen, self.device = list(configs), gen, device
        kernel = fused if fuse else (lambda fn: fn)
        self.cast, self.per_tensor = kernel(formats.cast), kernel(formats.per_tensor)
        self.mx_block, self.nvfp4 = kernel(formats.mx_block), kernel(formats.nvfp4)
        self.copies = len(self.configs)
        self.groups: dict[str, list[tuple[TensorFormat, torch.Tensor]]] = {}
        for role in ("weights", "activations", "errors", "gradients", "optimizer", "master"):
            by_format: dict[TensorFormat, list[int]] = {}
            for i, c in enumerate(self.configs):
                by_format.setdefault(c[role], []).append(i)
            self.groups[role] = [(f, torch.tensor(ix, device=device)) for f, ix in by_format.items()]
        self.history: dict[Any, formats.AmaxHistory] = {}  # delayed scaling's state, per tensor

    def quantize(self, x: torch.Tensor, role: str, along: int, axis: str, key: Any) -> torch.Tensor:
        """Quantize x (copies along dimension `along`, merged with the next one) in each copy's `role` format.
        `axis` is "channels" (activations, errors) or "inputs" (weights and their optimizer tensors)."""
        view = x.reshape(*x.shape[:along], self.copies, x.shape[along] // self.copies, *x.shape[along + 1 :])
        block_axis = self._block_axis(view, along, axis)
        noise = torch.randint(
            0, 1 << 23, view.select(along, 0).shape, dtype=torch.int32, device=x.device, generator=self.gen
        ).unsqueeze(along)
        out = torch.empty_like(view)
        for fmt, idx in self.groups[role]:
            sub = view.index_select(along, idx)
            out.index_copy_(along, idx, self._apply(fmt, sub, along, block_axis, noise, (key, role, fmt)))
        return out.reshape(x.shape)

    @staticmethod
    def _block_axis(view: torch.Tensor, along: int, axis: str) -> int:
        preferred = along + 1 if axis == "channels" else along + 2
        if preferred < view.dim() and view.shape[preferred] > 1:
            return preferred
        return view.dim() - 1

    def _apply(
        self, fmt: TensorFormat, x: torch.Tensor, along: int, block_axis: int, noise: torch.Tensor, key: Any
    ) -> torch.Tensor:
        if fmt.format == "fp32" and fmt.scaling == "none":
            return x
        others = [d for d in range(x.dim()) if d != along]
        if fmt.scaling == "none":
            return self.cast(x, fmt.format, fmt.rounding, True, None, noise)
        if fmt.scaling == "current":
            return self.per_tensor(x, fmt.format, x.abs().amax(others, keepdim=True), fmt.rounding, None, noise)
        if fmt.scaling == "delayed":
            amax = self.history.setdefault(key, formats.AmaxHistory(dims=others)).amax(x)
            return self.per_tensor(x, fmt.format, amax, fmt.rounding, None, noise)
        if fmt.scaling == "mx":
            return self.mx_block(x, fmt.format, fmt.block, block_axis, fmt.scale_rounding, fmt.rounding, None, noise)
        return self.nvfp4(x, block_axis, fmt.rounding, None, noise, x.abs().amax(others, keepdim=True))

    # -- what the trainer installs -----------------------------------------------------------------
    def activation(self, key: Any, copies_dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """A site: activations forward, errors backward (input and logits too)."""
        return activation_quantizer(
            lambda x: self.quantize(x, "activations", copies_dim, "channels", key),
            lambda g: self.quantize(g, "errors", copies_dim, "channels", key),
        )

    def optimizer(self, role: str, i: int, x: torch.Tensor) -> torch.Tensor:
        """LowPrecisionSGD's quantizer of parameter i's `role` tensor (weights, gradients, optimizer, master)."""
        return self.quantize(x, role, 0, "inputs" if x.dim() > 1 else "channels", ("param", i))
