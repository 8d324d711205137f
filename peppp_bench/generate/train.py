"""Quantized training of (dataset, configuration) cells with the semantics of spec §2.

Format A quantizes every activation and its error, the weights and the gradients; Format B the input,
the logits and the optimizer's momentum and accumulator. One SGD step (qtorch's OptimLP order):
    g ← Q_A(g / loss_scale); p ← acc; SGD step (lr, momentum, weight decay) on p;
    acc ← Q_B(p); p ← Q_A(acc); momentum ← Q_B(momentum)
The native back end trains many configurations at once as one grouped network (configurations along
the channel axis, per-configuration formats, shared rounding bits); the qtorch back end trains one at
a time with qtorch's own quantizer and OptimLP, as the reference.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..configs import Configuration, get_config
from ..provenance import environment
from .data import ImageData
from ..memory import count_network
from .models import DEFAULT_SITES, Quant, QuantizedNetwork, ResNet
from .quantize import Formats, activation_quantizer, native_float_quantize, random_int32
from .recipes import Recipe


@dataclass(frozen=True)
class Architecture:
    """A CIFAR-style ResNet by depth (blocks per stage) and width; `paper()` is the ResNet-18 of spec §4."""

    blocks: tuple[int, ...] = (2, 2, 2, 2)
    width: int = 64

    @classmethod
    def paper(cls) -> "Architecture":
        return cls()

    @property
    def name(self) -> str:
        return f"resnet-{'-'.join(map(str, self.blocks))}-w{self.width}"

    def build(self, classes: int, in_channels: int, copies: int = 1) -> ResNet:
        return ResNet(classes, self.blocks, self.width, in_channels, copies)


@dataclass(frozen=True)
class UserArchitecture:
    """Any network: `factory(classes, in_channels)` returns a torch.nn.Module mapping images to logits.

    Quantizers are inserted with hooks after the module types in `quantize_after` (models.py); such
    networks train one configuration at a time.
    """

    name: str
    factory: Callable[[int, int], nn.Module]
    quantize_after: tuple[type[nn.Module], ...] = DEFAULT_SITES

    def build(self, classes: int, in_channels: int, copies: int = 1) -> nn.Module:
        if copies != 1:
            raise ValueError("user networks train one configuration at a time")
        return QuantizedNetwork(self.factory(classes, in_channels), self.quantize_after)


AnyArchitecture = Union[Architecture, UserArchitecture]


@dataclass(frozen=True)
class CellResult:
    """The test error of one trained cell and everything needed to reproduce it."""

    dataset: str
    config_id: str
    error: float
    seed: int
    architecture: str
    recipe: dict[str, Any]
    backend: str
    device: str
    wall_seconds: float
    batched_with: int
    provenance: dict[str, Any] = field(default_factory=dict)


class LowPrecisionSGD:
    """SGD with momentum and weight decay in qtorch OptimLP's low-precision order (see module doc).

    Each quantizer is a function of (parameter index, tensor), so grouped networks can use a different
    format for each copy's rows of a parameter.
    """

    def __init__(self, params: Sequence[nn.Parameter], lr: float, momentum: float, weight_decay: float,
                 loss_scale: float, quant_a: Callable[[int, torch.Tensor], torch.Tensor],
                 quant_b: Callable[[int, torch.Tensor], torch.Tensor]) -> None:
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.loss_scale = lr, momentum, weight_decay, loss_scale
        self.quant_a, self.quant_b = quant_a, quant_b
        self.accumulators = [p.detach().clone() for p in self.params]
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = self.quant_a(i, p.grad * (1.0 / self.loss_scale))
            weight = self.accumulators[i]
            d_p = grad.add(weight, alpha=self.weight_decay)
            buf = self.buffers[i]
            buf = d_p.clone() if buf is None else buf.mul_(self.momentum).add_(d_p)
            stepped = weight.add(buf, alpha=-self.lr)
            self.accumulators[i] = self.quant_b(i, stepped)
            p.copy_(self.quant_a(i, self.accumulators[i]))
            self.buffers[i] = self.quant_b(i, buf)


def _augment(x: torch.Tensor, train: bool, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Train: 64-px data resize to 72 then random-crop 64, smaller data random-crop with padding H/4;
    then a random horizontal flip where labels allow. Test: 64-px data resize 72 → centre crop 64."""
    b, c, h, w = x.shape
    if h >= 64:
        big = h * 9 // 8
        x = F.interpolate(x, size=(big, big), mode="bilinear", align_corners=False, antialias=True)
        if not train:
            o = (big - h) // 2
            return x[:, :, o:o + h, o:o + w]
        span = big - h
    elif not train:
        return x
    else:
        span = 2 * max(1, h // 4)
        x = F.pad(x, (span // 2,) * 4)
    dy = torch.randint(0, span + 1, (b,), generator=gen)
    dx = torch.randint(0, span + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    x = x[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        flipped = torch.rand(b, generator=gen) < 0.5
        x = torch.where(flipped[:, None, None, None], x.flip(3), x)
    return x.contiguous()


class _NativeSites:
    """Quantizer functions of a grouped network: each copy quantized in its own configuration's formats.

    A tensor of the grouped network is viewed as (lead, copies, rest): an activation's
    copies lie along its channels, a parameter's along its rows. Stochastic rounding draws one copy's
    worth of random bits and shares it across copies, so each configuration rounds with exactly the
    bits that training it alone with the same seed draws (same generator, same draws, same order).
    """

    def __init__(self, configs: Sequence[Configuration], rounding: str, gen: torch.Generator, device: torch.device) -> None:
        self.configs, self.rounding, self.gen, self.device = configs, rounding, gen, device
        self.copies = len(configs)
        self._formats = {role: self._per_copy_formats(role) for role in ("A", "B")}

    def _per_copy_formats(self, role: str) -> Formats:
        """Format `role` of every copy: plain numbers for one copy, else shaped (1, copies, 1)."""
        fmts = [c.a if role == "A" else c.b for c in self.configs]
        if self.copies == 1:
            return Formats.of(fmts[0].exp, fmts[0].man)
        exp = torch.tensor([f.exp for f in fmts], dtype=torch.int32, device=self.device).view(1, -1, 1)
        man = torch.tensor([f.man for f in fmts], dtype=torch.int32, device=self.device).view(1, -1, 1)
        return Formats.of(exp, man, self.device)

    def quantize(self, x: torch.Tensor, role: str, along: int) -> torch.Tensor:
        """Quantize x, whose copies lie along dimension `along` (1: activations, 0: parameters)."""
        grouped = x.reshape(math.prod(x.shape[:along]), self.copies, -1)
        bits = None
        if self.rounding == "stochastic":
            bits = random_int32(torch.Size((grouped.shape[0], 1, grouped.shape[2])), x.device, self.gen)
        return native_float_quantize(grouped, self._formats[role], None, self.rounding, random_bits=bits).view(x.shape)

    def activation(self, role: str) -> Callable[[torch.Tensor], torch.Tensor]:
        def q(x: torch.Tensor) -> torch.Tensor:  # (batch, copies·channels, ...)
            return self.quantize(x, role, 1)
        return activation_quantizer(q, q)

    def parameter(self, role: str) -> Callable[[int, torch.Tensor], torch.Tensor]:
        return lambda _i, x: self.quantize(x, role, 0)  # (copies·rows, ...)


def _check(data: ImageData, configs: Sequence[Configuration], arch: AnyArchitecture, recipe: Recipe, backend: str) -> None:
    """Everything that can be wrong is found here, before any training."""
    if not configs:
        raise ValueError("no configurations to train")
    if backend not in ("native", "qtorch"):
        raise ValueError(f"unknown back end {backend!r}: 'native' or 'qtorch'")
    if data.x_train.shape[0] < recipe.batch_size:
        raise ValueError(f"{data.name}: {data.x_train.shape[0]} training images are fewer than one batch of {recipe.batch_size}")
    if data.y_train.max() >= data.classes or data.y_train.min() < 0:
        raise ValueError(f"{data.name}: labels must lie in 0..{data.classes - 1}")
    try:
        counts = count_network(arch.build(data.classes, data.shape[0]), data.shape, batch=2)
    except Exception as exc:  # noqa: BLE001 - any failure of a user's network on the data's shape
        raise ValueError(f"{arch.name} cannot run on {data.name}'s {tuple(data.shape)} images: {exc}") from exc
    if counts.logits != 2 * data.classes:
        raise ValueError(f"{arch.name} outputs {counts.logits // 2} logits per image but {data.name} has {data.classes} classes")


def train_cells(data: ImageData, configs: Sequence[Configuration | str], arch: AnyArchitecture, recipe: Recipe,
                seed: int, device: str = "cpu", backend: str = "native") -> list[CellResult]:
    """Train `configs` on `data` and return their test errors.

    The native back end trains a ResNet's configurations all at once, as one grouped network; the qtorch
    back end and user networks train them one at a time.
    """
    configs = [get_config(c) if isinstance(c, str) else c for c in configs]
    _check(data, configs, arch, recipe, backend)
    if backend == "native" and isinstance(arch, Architecture):
        return _train_together(data, configs, arch, recipe, seed, device, backend)
    return [r for c in configs for r in _train_together(data, [c], arch, recipe, seed, device, backend)]


def _train_together(data: ImageData, configs: Sequence[Configuration], arch: AnyArchitecture, recipe: Recipe,
                    seed: int, device: str, backend: str) -> list[CellResult]:
    started = time.time()
    dev = torch.device(device)
    copies = len(configs)
    torch.manual_seed(seed)
    single = arch.build(data.classes, data.shape[0])  # the same initial weights for every configuration
    data_gen = torch.Generator().manual_seed(seed)
    if backend == "native":
        model = (ResNet.side_by_side(single, copies) if copies > 1 else single).to(dev)  # type: ignore[arg-type]
        quant_gen = torch.Generator(device=dev).manual_seed(seed + 1)
        sites = _NativeSites(configs, recipe.rounding, quant_gen, dev)
        for m in model.modules():
            if isinstance(m, Quant):
                m.fn = sites.activation(m.role)
        params = list(model.parameters())
        opt: Any = LowPrecisionSGD(params, recipe.lr, recipe.momentum, recipe.weight_decay, recipe.loss_scale,
                                   sites.parameter("A"), sites.parameter("B"))
    else:
        model, opt = _qtorch_model_and_optimizer(single.to(dev), configs[0], recipe)

    x_train, y_train = data.x_train, data.y_train
    n, bs = x_train.shape[0], recipe.batch_size
    for _ in range(recipe.epochs):
        model.train()
        order = torch.randperm(n, generator=data_gen) if recipe.shuffle else torch.arange(n)
        for start in range(0, n - bs + 1, bs):  # drop_last
            idx = order[start:start + bs]
            x = _augment(x_train[idx], True, data.flip, data_gen).to(dev)
            y = y_train[idx].to(dev)
            logits = model(x.repeat(1, copies, 1, 1) if copies > 1 else x)
            # Sum over configurations of each one's mean loss: every copy gets exactly its own gradient.
            loss = F.cross_entropy(logits.view(bs * copies, data.classes), y.repeat_interleave(copies), reduction="sum") / bs
            opt.zero_grad()
            (loss * recipe.loss_scale).backward()
            opt.step()
    errors = _test_errors(model, data, copies, recipe, data_gen, dev)
    wall = time.time() - started
    prov = {**environment(), "torch_threads": torch.get_num_threads()}
    return [CellResult(data.name, c.id, float(e), seed, arch.name, recipe.record(), backend, str(dev),
                       round(wall / copies, 4), copies, prov) for c, e in zip(configs, errors)]


def _test_errors(model: nn.Module, data: ImageData, copies: int, recipe: Recipe, gen: torch.Generator,
                 dev: torch.device) -> np.ndarray:
    """Test error of each copy with the quantizers active (BatchNorm in eval mode)."""
    model.eval()
    train_aug = data.source in recipe.train_augmentation_at_test_for
    wrong = torch.zeros(copies)
    with torch.no_grad():
        for start in range(0, data.x_test.shape[0], 256):
            x = _augment(data.x_test[start:start + 256], train_aug, data.flip, gen).to(dev)
            y = data.y_test[start:start + 256].to(dev)
            logits = model(x.repeat(1, copies, 1, 1) if copies > 1 else x).view(len(y), copies, data.classes)
            wrong += (logits.argmax(-1) != y[:, None]).sum(0).cpu()
    return (wrong / data.x_test.shape[0]).numpy()


def _qtorch_model_and_optimizer(model: nn.Module, config: Configuration, recipe: Recipe) -> tuple[nn.Module, Any]:
    """The reference: qtorch's quantizer modules' function and OptimLP around torch's SGD."""
    from qtorch import FloatingPoint
    from qtorch.optim import OptimLP
    from qtorch.quant import quantizer

    def q(fmt: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        number = FloatingPoint(exp=fmt.exp, man=fmt.man)
        return quantizer(forward_number=number, backward_number=number,
                         forward_rounding=recipe.rounding, backward_rounding=recipe.rounding)

    qa, qb = q(config.a), q(config.b)
    for m in model.modules():
        if isinstance(m, Quant):
            m.fn = qa if m.role == "A" else qb
    sgd = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    opt = OptimLP(sgd, weight_quant=qa, grad_scaling=1.0 / recipe.loss_scale, grad_quant=qa, momentum_quant=qb, acc_quant=qb)
    return model, opt


def train_cell(data: ImageData, config: Configuration | str, arch: AnyArchitecture, recipe: Recipe, seed: int,
               device: str = "cpu", backend: str = "native") -> CellResult:
    """Train one (dataset, configuration) cell and return its test error with provenance."""
    return train_cells(data, [config], arch, recipe, seed, device, backend)[0]
