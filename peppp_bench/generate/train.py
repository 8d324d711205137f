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

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..configs import Configuration
from ..modern import ModernConfiguration, resolve_configuration
from ..provenance import cpu_model, environment
from .architectures import Architecture
from .data import ImageData
from .fused import available as fused_available
from .fused import fused
from .modern_sites import ModernSites
from .networks import side_by_side
from .quantize import Formats, activation_quantizer, native_float_quantize, random_int32
from .recipes import Recipe
from .sites import Quant


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
    curve: list[float] | None = None  # the test error after each epoch, where the recipe asks (recipe.curves)


class SetupError(Exception):
    """A unit failed before training (its spec, device, data or network): retrying a part of it cannot help."""


class LowPrecisionSGD:
    """SGD with momentum and weight decay in qtorch OptimLP's low-precision order (see module doc).

    `quantize(role, i, tensor)` rounds parameter i's gradient, master copy ("master": the accumulator),
    weights or momentum ("optimizer"); grouped networks use a different format for each copy's rows.
    Paper configurations: gradients and weights in Format A, master and momentum in Format B
    (`two_formats`).
    """

    def __init__(
        self,
        params: Sequence[nn.Parameter],
        lr: float,
        momentum: float,
        weight_decay: float,
        loss_scale: float,
        quantize: Callable[[str, int, torch.Tensor], torch.Tensor],
    ) -> None:
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.loss_scale = lr, momentum, weight_decay, loss_scale
        self.quantize = quantize
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
            grad = self.quantize("gradients", i, p.grad * (1.0 / self.loss_scale))
            weight = self.accumulators[i]
            d_p = grad.add(weight, alpha=self.weight_decay)
            buf = self.buffers[i]
            buf = d_p.clone() if buf is None else buf.mul_(self.momentum).add_(d_p)
            stepped = weight.add(buf, alpha=-self.lr)
            self.accumulators[i] = self.quantize("master", i, stepped)
            p.copy_(self.quantize("weights", i, self.accumulators[i]))
            self.buffers[i] = self.quantize("optimizer", i, buf)


def two_formats(
    quant_a: Callable[[int, torch.Tensor], torch.Tensor], quant_b: Callable[[int, torch.Tensor], torch.Tensor]
) -> Callable[[str, int, torch.Tensor], torch.Tensor]:
    """The paper's roles: gradients and weights in Format A, master copy and momentum in Format B."""
    return lambda role, i, x: quant_a(i, x) if role in ("gradients", "weights") else quant_b(i, x)


def _augment(x: torch.Tensor, train: bool, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Train: 64-px data resize to 72 then random-crop 64, smaller data random-crop with padding H/4;
    then a random horizontal flip where labels allow. Test: 64-px data resize 72 → centre crop 64."""
    b, c, h, w = x.shape
    if h >= 64:
        big = h * 9 // 8
        x = F.interpolate(x, size=(big, big), mode="bilinear", align_corners=False, antialias=True)
        if not train:
            o = (big - h) // 2
            return x[:, :, o : o + h, o : o + w]
        span = big - h
    elif not train:
        return x
    else:
        span = 2 * max(1, h // 4)
        x = F.pad(x, (span // 2,) * 4)
    dev = x.device  # random draws on the CPU generator (the same on every device), applied on x's device
    dy = torch.randint(0, span + 1, (b,), generator=gen).to(dev)
    dx = torch.randint(0, span + 1, (b,), generator=gen).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, :]
    x = x[torch.arange(b, device=dev)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        flipped = (torch.rand(b, generator=gen) < 0.5).to(dev)
        x = torch.where(flipped[:, None, None, None], x.flip(3), x)
    return x.contiguous()


class _NativeSites:
    """Quantizer functions of a grouped network: each copy quantized in its own configuration's formats.

    A tensor of the grouped network is viewed as (lead, copies, rest): an activation's
    copies lie along its channels, a parameter's along its rows. Stochastic rounding draws one copy's
    worth of random bits and shares it across copies, so each configuration rounds with exactly the
    bits that training it alone with the same seed draws (same generator, same draws, same order).
    """

    def __init__(
        self,
        configs: Sequence[Configuration],
        rounding: str,
        gen: torch.Generator,
        device: torch.device,
        fuse: bool = False,
    ) -> None:
        self.configs, self.rounding, self.gen, self.device = configs, rounding, gen, device
        self.kernel = fused(native_float_quantize) if fuse else native_float_quantize
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
        """Quantize x, whose copies lie along dimension `along` (0 for parameters and copies-first activations)."""
        grouped = x.reshape(math.prod(x.shape[:along]), self.copies, -1)
        bits = None
        if self.rounding == "stochastic":
            bits = random_int32(torch.Size((grouped.shape[0], 1, grouped.shape[2])), x.device, self.gen)
        return self.kernel(grouped, self._formats[role], None, self.rounding, None, bits).view(x.shape)

    def activation(self, role: str, copies_dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def q(x: torch.Tensor) -> torch.Tensor:  # copies along `copies_dim` (merged with the next dimension)
            return self.quantize(x, role, copies_dim)

        return activation_quantizer(q, q)

    def optimizer(self, role: str, _i: int, x: torch.Tensor) -> torch.Tensor:
        """LowPrecisionSGD's quantizer: parameters have their copies along their rows."""
        return self.quantize(x, "A" if role in ("gradients", "weights") else "B", 0)

    # Stacked copies of any network under torch.func.vmap (StackedNetwork): inside the vmapped call a
    # site sees one copy's tensor, and its formats arrive as batched inputs, set in `current`.
    def stacked_fields(self) -> dict[str, tuple[torch.Tensor, ...]]:
        """Each role's format constants as (copies,) tensors, the vmapped inputs of the call."""
        return {
            role: tuple(
                torch.as_tensor(getattr(f, k.name), device=self.device).reshape(-1).expand(self.copies).contiguous()
                for k in fields(Formats)
            )
            for role, f in self._formats.items()
        }

    def quantize_copy(self, x: torch.Tensor, formats: tuple[torch.Tensor, ...]) -> torch.Tensor:
        bits = random_int32(x.shape, x.device, self.gen) if self.rounding == "stochastic" else None
        return native_float_quantize(x, Formats(*formats), None, self.rounding, random_bits=bits)

    def stacked_activation(self, role: str) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda x: _VmapQuantize.apply(x, self, *self.current[role])


class _VmapQuantize(torch.autograd.Function):
    """A site inside torch.func.vmap: quantize forward and the error backward, the formats being (batched) inputs."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, sites: _NativeSites, *formats: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return sites.quantize_copy(x, formats)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.sites = inputs[1]
        ctx.save_for_backward(*inputs[2:])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):  # type: ignore[override]
        formats = ctx.saved_tensors
        return (ctx.sites.quantize_copy(grad, formats), None, *(None for _ in formats))


class StackedNetwork(nn.Module):
    """`copies` copies of any network (one set of weights each, stacked along a new first dimension), run
    with torch.func.vmap: input (B, copies·C, H, W) as the built-ins take it, logits (B, copies·classes).
    A factory's network trains this way even alone (one copy), because vmap's kernels round differently
    from the plain ones; each copy then computes what it computes alone, bit for bit, with the random bits
    shared as in the grouped networks (vmap's randomness="same")."""

    def __init__(self, single: nn.Module, copies: int, sites: _NativeSites | ModernSites) -> None:
        super().__init__()
        self.copies, self.sites = copies, sites
        object.__setattr__(self, "single", single)  # not a child: its own weights are not trained
        self.names = [n for n, _ in single.named_parameters()]
        self.buffer_names = [n for n, _ in single.named_buffers()]
        self.stacked = nn.ParameterList(
            nn.Parameter(p.detach().unsqueeze(0).repeat(copies, *([1] * p.dim()))) for p in single.parameters()
        )
        for i, b in enumerate(single.buffers()):
            self.register_buffer(f"buffer_{i}", b.detach().unsqueeze(0).repeat(copies, *([1] * b.dim())).clone())
        self.formats = sites.stacked_fields() if isinstance(sites, _NativeSites) else {}
        _install_sites(single, sites, stacked=True)

    def train(self, mode: bool = True) -> StackedNetwork:
        self.single.train(mode)
        return super().train(mode)

    def _one(
        self,
        params: list[torch.Tensor],
        buffers: list[torch.Tensor],
        formats: dict[str, tuple[torch.Tensor, ...]],
        x: torch.Tensor,
    ) -> torch.Tensor:
        self.sites.current = formats
        state = {**dict(zip(self.names, params)), **dict(zip(self.buffer_names, buffers))}
        return torch.func.functional_call(self.single, state, (x,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        one = x[:, : x.shape[1] // self.copies]  # the copies of the input are repeats
        buffers = [getattr(self, f"buffer_{i}") for i in range(len(self.buffer_names))]
        copies = one.expand(self.copies, *one.shape)  # batched from the start, so every site sees all copies
        logits = torch.func.vmap(self._one, in_dims=(0, 0, 0, 0), randomness="same")(
            list(self.stacked), buffers, self.formats, copies
        )
        return logits.transpose(0, 1).reshape(one.shape[0], -1)


def _install_sites(model: nn.Module, sites: _NativeSites | ModernSites, stacked: bool) -> None:
    """Set every site's quantizer: paper formats by role, modern ones by site (each its own scaling
    state). `stacked`: the sites of a factory's network, one copy per call or all under vmap."""
    for k, m in enumerate(model.modules()):
        if not isinstance(m, Quant):
            continue
        if isinstance(sites, _NativeSites):
            m.fn = sites.stacked_activation(m.role) if stacked else sites.activation(m.role, m.copies_dim)
        else:
            m.fn = sites.stacked_activation(k) if stacked else sites.activation(k, m.copies_dim)
    if isinstance(sites, ModernSites):
        model.register_forward_pre_hook(lambda *_: sites.new_pass())


def configure_device(device: str, deterministic: bool | None) -> None:
    """GPU numerics this package trains with: TF32 off for matmuls and convolutions, no cuDNN autotuning,
    and torch's deterministic algorithms when `deterministic` (the spec's switch; unset: on for CUDA, where
    some kernels are otherwise not; a CPU's are already). A CUDA worker works on its own GPU only."""
    if deterministic is None:
        deterministic = device.startswith("cuda")
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))  # else pinned memory and contexts open on GPU 0 in every worker
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)


def device_record(dev: torch.device) -> dict[str, Any]:
    """The device and numerics switches a cell was trained with (recorded in its provenance)."""
    record: dict[str, Any] = {
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        # CPU and GPU cells differ by construction: other kernels, and stochastic rounding's bits come from
        # a generator on the training device (seeded alike, a different stream)
        "random_bits": f"torch.Generator on {dev.type}",
    }
    if dev.type == "cpu":  # CPU kernels differ by instruction set: cells reproduce bit for bit only on the same
        record["cpu"] = f"{cpu_model()}, torch {torch.backends.cpu.get_cpu_capability()}"
    if dev.type == "cuda":
        record.update(
            gpu=torch.cuda.get_device_name(dev), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version()
        )
    return record


def _on_device(t: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """The whole split on the training device once (pinned, non-blocking copy to a GPU)."""
    if dev.type == "cuda":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)


def _check(data: ImageData, configs: Sequence[Any], arch: Architecture, recipe: Recipe, backend: str) -> None:
    """Everything that can be wrong is found here, before any training."""
    if not configs:
        raise ValueError("no configurations to train")
    if len({type(c) for c in configs}) > 1:
        raise ValueError("a unit trains paper configurations or modern ones, not both")
    if isinstance(configs[0], ModernConfiguration) and backend != "native":
        raise ValueError("modern configurations train with the native back end only (qtorch has none of their formats)")
    if backend not in ("native", "qtorch"):
        raise ValueError(f"unknown back end {backend!r}: 'native' or 'qtorch'")
    if data.x_train.shape[0] < recipe.batch_size:
        raise ValueError(
            f"{data.name}: {data.x_train.shape[0]} training images are fewer than one batch of {recipe.batch_size}"
        )
    if data.y_train.max() >= data.classes or data.y_train.min() < 0:
        raise ValueError(f"{data.name}: labels must lie in 0..{data.classes - 1}")
    arch.counts(data.classes, data.shape, batch=2)  # the network runs on these images (meta device)


def train_cells(
    data: ImageData,
    configs: Sequence[Configuration | str],
    arch: Architecture,
    recipe: Recipe,
    seed: int,
    device: str = "cpu",
    backend: str = "native",
    fused_quantizer: bool = False,
    progress: Callable[[int, int], None] | None = None,
    exact_alone: bool = True,
) -> list[CellResult]:
    """Train `configs` on `data` and return their test errors. `fused_quantizer`: the quantizers as
    compiled kernels (fused.py; the same results), where torch.compile works. `progress(done, total)` is
    called after every epoch (of every configuration where they train one at a time). A unit of one
    configuration trains beside a copy of itself, which is dropped: torch's batched kernels for one copy round
    differently from those for two or more (measured: a batched matmul of the MLP, a convolution's weight
    gradient under vmap), so only then is a cell trained alone bit for bit the cell trained in any unit;
    `exact_alone=False` trains it on its own (half the work, for timing one configuration at a time).

    The native back end trains the configurations all at once: a built-in network side by side in one
    network (networks.py), a factory's network as stacked copies under torch.func.vmap
    (StackedNetwork); the qtorch back end trains them one at a time.
    """
    configs = [resolve_configuration(c) if isinstance(c, str) else c for c in configs]
    _check(data, configs, arch, recipe, backend)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # never TF32, whoever calls (configure_device sets the rest)
        torch.backends.cudnn.allow_tf32 = False
    fuse = fused_quantizer and fused_available(device)
    if backend == "native" and len(configs) == 1 and exact_alone:  # beside a copy of itself (see above)
        (alone, _) = _train_together(data, configs * 2, arch, recipe, seed, device, backend, fuse, progress)
        return [dataclasses.replace(alone, wall_seconds=round(alone.wall_seconds * 2, 4), batched_with=1)]
    if backend == "native":
        return _train_together(data, configs, arch, recipe, seed, device, backend, fuse, progress)
    epochs = recipe.epochs * len(configs)
    return [
        r
        for i, c in enumerate(configs)
        for r in _train_together(
            data,
            [c],
            arch,
            recipe,
            seed,
            device,
            backend,
            fuse,
            None if progress is None else lambda e, _n, i=i: progress(i * recipe.epochs + e, epochs),
        )
    ]


def _train_together(
    data: ImageData,
    configs: Sequence[Any],
    arch: Architecture,
    recipe: Recipe,
    seed: int,
    device: str,
    backend: str,
    fuse: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[CellResult]:
    started = time.time()
    dev = torch.device(device)
    copies = len(configs)
    torch.manual_seed(seed)
    try:
        single = arch.build(data.classes, data.shape)  # the same initial weights for every configuration
    except Exception as exc:  # a network that cannot be built fails every configuration alike
        raise SetupError(f"{type(exc).__name__}: {exc}") from exc
    data_gen = torch.Generator().manual_seed(seed)
    if backend == "native":
        quant_gen = torch.Generator(device=dev).manual_seed(seed + 1)
        modern = isinstance(configs[0], ModernConfiguration)
        # paper formats on a factory quantize one copy inside vmap, where a compiled kernel does not run:
        # no fused quantizer there (so the provenance says what ran)
        fuse = fuse and (modern or arch.kind != "factory")
        sites: Any = (
            ModernSites(configs, quant_gen, dev, fuse)
            if modern
            else _NativeSites(configs, recipe.rounding, quant_gen, dev, fuse)
        )
        factory = arch.kind == "factory"
        if factory:  # stacked even alone: vmap's kernels differ from plain ones (a linear layer's bias add, say)
            model: nn.Module = StackedNetwork(single.to(dev), copies, sites)
        else:
            model = (
                side_by_side(single, arch.build(data.classes, data.shape, copies), copies) if copies > 1 else single
            ).to(dev)
            _install_sites(model, sites, stacked=False)
        params = list(model.parameters())
        opt: Any = LowPrecisionSGD(
            params,
            recipe.lr,
            recipe.momentum,
            recipe.weight_decay,
            recipe.loss_scale,
            sites.stacked_optimizer if modern and factory else sites.optimizer,
        )
    else:
        model, opt = _qtorch_model_and_optimizer(single.to(dev), configs[0], recipe)
        sites = None
    gens = [data_gen] + ([quant_gen] if backend == "native" else [])

    def test_aside() -> np.ndarray:  # a learning curve's point: the test error, leaving training as it was
        with _untouched(gens, sites, dev):
            return _test_errors(model, data, copies, recipe, data_gen, dev)

    try:
        errors, curves = _train_and_test(
            model, opt, data, copies, recipe, data_gen, dev, progress, test_aside if recipe.curves else None
        )
    except RuntimeError as exc:
        if "deterministic implementation" not in str(exc):
            raise
        raise SetupError(
            f"{exc}. Set deterministic = false in the spec's [suite] table, or compute this operation another "
            "way (the built-in networks average-pool with a mean for this reason)"
        ) from exc
    wall = time.time() - started
    majority = float(1 - np.bincount(data.y_test.numpy()).max() / len(data.y_test))  # always the commonest class
    prov = {**environment(), **device_record(dev), "fused_quantizer": fuse, "majority_class_error": majority}
    return [
        CellResult(
            data.name,
            c.id,
            float(e),
            seed,
            arch.name,
            recipe.record(),
            backend,
            str(dev),
            round(wall / copies, 4),
            copies,
            prov,
            None if curves is None else [float(v) for v in curves[i]],
        )
        for i, (c, e) in enumerate(zip(configs, errors))
    ]


@contextmanager
def _untouched(gens: Sequence[torch.Generator], sites: Any, dev: torch.device) -> Iterator[None]:
    """What runs inside leaves training as it was: its random streams (the data order and rounding bits,
    torch's global generator that qtorch rounds with) and delayed scaling's amax histories."""
    states = [g.get_state() for g in gens]
    global_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None
    history = getattr(sites, "history", None)
    saved = None if history is None else {k: copy.deepcopy(v) for k, v in history.items()}
    try:
        yield
    finally:
        for g, state in zip(gens, states):
            g.set_state(state)
        torch.set_rng_state(global_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, dev)
        if history is not None and saved is not None:
            history.clear()
            history.update(saved)


def _train_and_test(
    model: nn.Module,
    opt: Any,
    data: ImageData,
    copies: int,
    recipe: Recipe,
    data_gen: torch.Generator,
    dev: torch.device,
    progress: Callable[[int, int], None] | None,
    test_aside: Callable[[], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The recipe's epochs of training (`progress` told after each), then each copy's test error; with
    `test_aside`, also each copy's test error after every epoch (copies × epochs; the last is the final)."""
    x_train, y_train = _on_device(data.x_train, dev), _on_device(data.y_train, dev)
    n, bs = x_train.shape[0], recipe.batch_size
    curve: list[np.ndarray] = []
    per_epoch = n // bs
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(n, generator=data_gen) if recipe.shuffle else torch.arange(n)
        for step, start in enumerate(range(0, n - bs + 1, bs)):  # drop_last
            idx = order[start : start + bs].to(dev)
            x = _augment(x_train[idx], recipe.augment, data.flip, data_gen)
            y = y_train[idx]
            logits = model(x.repeat(1, copies, 1, 1) if copies > 1 else x)
            # Sum over configurations of each one's mean loss: every copy gets exactly its own gradient.
            loss = (
                F.cross_entropy(logits.view(bs * copies, data.classes), y.repeat_interleave(copies), reduction="sum")
                / bs
            )
            opt.zero_grad()
            (loss * recipe.loss_scale).backward()
            _set_lr(opt, recipe.lr_at(epoch * per_epoch + step, recipe.epochs * per_epoch))
            opt.step()
        if test_aside is not None and epoch + 1 < recipe.epochs:
            curve.append(test_aside())
        if progress is not None:
            progress(epoch + 1, recipe.epochs)
    errors = _test_errors(model, data, copies, recipe, data_gen, dev)
    return errors, None if test_aside is None else np.stack([*curve, errors], axis=1)


def _set_lr(opt: Any, lr: float) -> None:
    """The next step's learning rate, for LowPrecisionSGD or qtorch's OptimLP (torch's parameter groups)."""
    if isinstance(opt, LowPrecisionSGD):
        opt.lr = lr
    else:
        for group in opt.param_groups:
            group["lr"] = lr


def _test_errors(
    model: nn.Module, data: ImageData, copies: int, recipe: Recipe, gen: torch.Generator, dev: torch.device
) -> np.ndarray:
    """Test error of each copy with the quantizers active (BatchNorm in eval mode)."""
    model.eval()
    train_aug = data.source in recipe.train_augmentation_at_test_for
    wrong = torch.zeros(copies)
    with torch.no_grad():
        x_test, y_test = _on_device(data.x_test, dev), _on_device(data.y_test, dev)
        for start in range(0, x_test.shape[0], 256):
            x = _augment(x_test[start : start + 256], train_aug, data.flip, gen)
            y = y_test[start : start + 256]
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
        return quantizer(
            forward_number=number,
            backward_number=number,
            forward_rounding=recipe.rounding,
            backward_rounding=recipe.rounding,
        )

    qa, qb = q(config.a), q(config.b)
    for m in model.modules():
        if isinstance(m, Quant):
            m.fn = qa if m.role == "A" else qb
    sgd = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    opt = OptimLP(
        sgd, weight_quant=qa, grad_scaling=1.0 / recipe.loss_scale, grad_quant=qa, momentum_quant=qb, acc_quant=qb
    )
    return model, opt


def train_cell(
    data: ImageData,
    config: Configuration | str,
    arch: Architecture,
    recipe: Recipe,
    seed: int,
    device: str = "cpu",
    backend: str = "native",
) -> CellResult:
    """Train one (dataset, configuration) cell and return its test error with provenance."""
    return train_cells(data, [config], arch, recipe, seed, device, backend)[0]
