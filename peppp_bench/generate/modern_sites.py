"""Quantizers of modern configurations (peppp_bench.modern) for networks that train several side by side.

Every tensor a site or the optimizer quantizes is viewed with its copies along one dimension; the copies
that share a role's format are quantized together, each copy with its own scales (per-tensor amax, MX
and NVFP4 blocks never span copies). Blocks run along the channel axis of activations and errors and
the input axis of weights, gradients and optimizer state (the reduction axis of the next convolution or
matmul); where that axis has one element, along the last axis.

Stochastic rounding draws one copy's worth of random bits on every call, shared by all copies, so each
configuration rounds with the bits it draws when trained alone with the same seed. Delayed scaling keeps
one amax history per call of a site in a forward pass (a declared function site runs many times, on
tensors of different shapes): `new_pass()` starts the count again.

A factory's network trains its copies stacked under torch.func.vmap (train.StackedNetwork), one copy or
many. There a site sees one copy's tensor; `stacked_activation` quantizes all copies at once through a vmap
rule, laid out as copies side by side, so each copy computes what it computes alone.
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
        self.calls: dict[Any, int] = {}  # calls of each site in this forward pass

    def new_pass(self) -> None:
        """A forward pass begins: the n-th call of a site is again its n-th tensor."""
        self.calls.clear()

    def _call_key(self, site: Any) -> tuple[Any, int]:
        n = self.calls.get(site, 0)
        self.calls[site] = n + 1
        return (site, n)

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
    def activation(self, site: Any, copies_dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """A site: activations forward, errors backward (input and logits too)."""

        def quantize(x: torch.Tensor) -> torch.Tensor:
            key = self._call_key(site)
            return activation_quantizer(
                lambda t: self.quantize(t, "activations", copies_dim, "channels", key),
                lambda g: self.quantize(g, "errors", copies_dim, "channels", key),
            )(x)

        return quantize

    def optimizer(self, role: str, i: int, x: torch.Tensor) -> torch.Tensor:
        """LowPrecisionSGD's quantizer of parameter i's `role` tensor (weights, gradients, optimizer, master)."""
        return self.quantize(x, role, 0, "inputs" if x.dim() > 1 else "channels", ("param", i))

    # -- a factory's network: copies stacked along a new first dimension --------------------------
    def _stacked(self, x: torch.Tensor, role: str, key: Any) -> torch.Tensor:
        """Quantize x of shape (copies, *one copy's shape) as copies side by side: (B, copies·C, ...)."""
        if x.dim() < 3:  # a copy is a vector (or a number): copies first, blocks along it
            return self.quantize(x.reshape(-1), role, 0, "channels", key).reshape(x.shape)
        side = x.movedim(0, 1)  # (B, copies, C, ...)
        flat = side.reshape(side.shape[0], -1, *side.shape[3:])
        # contiguous, as the copies' own tensors are: kernels that follow may round differently on other strides
        return self.quantize(flat, role, 1, "channels", key).reshape(side.shape).movedim(1, 0).contiguous()

    def stacked_activation(self, site: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        """A site of a factory's network: inside StackedNetwork's vmapped call it quantizes every copy at
        once (a vmap rule), as copies side by side."""

        def quantize(x: torch.Tensor) -> torch.Tensor:
            key = self._call_key(site)
            stacked = activation_quantizer(
                lambda t: self._stacked(t, "activations", key), lambda g: self._stacked(g, "errors", key)
            )
            return _AllCopies.apply(x, stacked)

        return quantize

    def stacked_optimizer(self, role: str, i: int, x: torch.Tensor) -> torch.Tensor:
        """The optimizer's quantizer of a stacked parameter (copies, *shape): as `copies` parameters side by side."""
        return self.optimizer(role, i, x.reshape(-1, *x.shape[2:]) if x.dim() > 1 else x).reshape(x.shape)


class _AllCopies(torch.autograd.Function):
    """Under torch.func.vmap, hands a site every copy at once (copies first) instead of one copy each."""

    @staticmethod
    def forward(x: torch.Tensor, stacked: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        raise RuntimeError(
            "a quantization site received a tensor that depends on neither the network's input nor its weights "
            "(a constant made inside forward?); quantize values computed from the input"
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):  # type: ignore[override]
        raise RuntimeError("a stacked site's backward is its vmap rule's")

    @staticmethod
    def vmap(info: Any, in_dims: tuple[Any, ...], x: torch.Tensor, stacked: Callable[..., torch.Tensor]) -> Any:
        copies = x.movedim(in_dims[0], 0) if in_dims[0] is not None else x.expand(info.batch_size, *x.shape)
        return stacked(copies), 0
