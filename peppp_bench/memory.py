"""Training memory of a configuration (spec §3): a closed form for the paper's ResNet-18, hooks for any network,
and the same counts priced per tensor role for modern configurations (modern.py).

    memory_MB = (a·(P + 2A) + b·(2P + I + 2L)) / (8 · 1024²)

Format A (a bits) holds weights, activations and their errors; Format B (b bits) holds the two
parameter-sized optimizer buffers (momentum, accumulator), the input batch and the logits with their
gradient. P, A, I and L are element counts at the training batch size.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .configs import CONFIGS, Configuration
from .modern import ModernConfiguration

if TYPE_CHECKING:  # torch is only needed to count a user's network
    import torch

BATCH_SIZE = 32
MB = 1024**2


@dataclass(frozen=True)
class NetworkCounts:
    """Element counts that set a network's training memory: parameters, activations, input, logits."""

    params: int
    activations: int
    inputs: int
    logits: int

    def memory_mb(self, a_bits: int, b_bits: int) -> float:
        """Memory in MB (2^20 bytes) for Format A of `a_bits` and Format B of `b_bits` total bits."""
        a_part = a_bits * (self.params + 2 * self.activations)
        b_part = b_bits * (2 * self.params + self.inputs + 2 * self.logits)
        return (a_part + b_part) / (8 * MB)

    def memory_mb_roles(self, bits: Mapping[str, float]) -> float:
        """Memory in MB of a modern configuration, from the storage bits of each tensor role (element bits
        plus block-scale bits per element): weights, optimizer state and master weights per parameter;
        activations and errors per activation; the input in the activations' format, the logits in the
        activations' and their gradient in the errors' format."""
        per_param = bits["weights"] + bits["optimizer"] + bits["master"]
        total = (
            per_param * self.params
            + (bits["activations"] + bits["errors"]) * self.activations
            + bits["activations"] * (self.inputs + self.logits)
            + bits["errors"] * self.logits
        )
        return total / (8 * MB)

    def memory_row(self, configs: Sequence[Configuration | ModernConfiguration] = CONFIGS) -> np.ndarray:
        """Memory of each configuration (default: all 99, in column order)."""
        return np.array(
            [
                self.memory_mb_roles({r: f.bits for r, f in c.roles})
                if isinstance(c, ModernConfiguration)
                else self.memory_mb(c.a.bits, c.b.bits)
                for c in configs
            ]
        )


def resnet18_counts(resolution: int, classes: int, batch: int = BATCH_SIZE) -> NetworkCounts:
    """Closed-form counts of the paper's CIFAR-style ResNet-18 on `resolution`² RGB inputs."""
    if resolution % 8:
        raise ValueError(f"resolution must be a multiple of 8 (the ResNet halves it three times), got {resolution}")
    h = resolution
    per_sample = (
        3 * h * h
        + 30 * 64 * h * h
        + 28 * 128 * (h // 2) ** 2
        + 28 * 256 * (h // 4) ** 2
        + 28 * 512 * (h // 8) ** 2
        + 512
        + 3 * classes
    )
    return NetworkCounts(
        params=11_168_832 + 513 * classes,
        activations=batch * per_sample,
        inputs=batch * 3 * h * h,
        logits=batch * classes,
    )


def count_network(model: torch.nn.Module, input_shape: Sequence[int], batch: int = BATCH_SIZE) -> NetworkCounts:
    """Count P, A, I and L of any network with forward hooks on a dry run (no training, no data).

    A is the sum of the output sizes of every call of a leaf module (one without children) in one
    forward pass at `batch`, quantizer sites included (each is a module: generate/sites.py); P the
    trainable parameters; I the input batch; L the output batch. The dry run uses torch's meta device,
    so it allocates no memory and takes milliseconds.
    """
    import torch

    probe = copy.deepcopy(model).to("meta").eval()
    total = 0

    def add_output(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    handles = [m.register_forward_hook(add_output) for m in probe.modules() if not any(m.children())]
    try:
        with torch.no_grad():
            out = probe(torch.empty((batch, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != batch:
        raise ValueError(
            f"the network must map a batch of shape {(batch, *input_shape)} to logits of shape "
            f"(batch, classes); it returned {getattr(out, 'shape', type(out))}"
        )
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    inputs = batch * int(np.prod(input_shape))
    return NetworkCounts(params=params, activations=total, inputs=inputs, logits=out.numel())
