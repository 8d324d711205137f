"""Quantizer sites: where a network's values are rounded to a configuration's formats (spec §2).

A site is a `Quant` module, so the memory counter sees each quantized copy as one module call. The
built-in networks (networks.py) place their sites in code, each by a stated rule. A user's network is
wrapped in `QuantizedNetwork`, which puts sites where the spec declares them:

- after every module of the named `torch.nn` types (forward hooks), and
- on the outputs of the named functional operations (residual adds, matmuls, normalisation, ...), or on
  the input of softmax, through a torch function mode entered around the network's forward.

`unquantized_operations` runs the network once on the meta device and lists every floating-point
operation whose result reaches the rest of the network without passing through a site.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .quantize import QuantizeFn

_QUANTIZING = [0]  # how many sites are quantizing right now (a module-site hook runs inside the network's forward)


class Quant(nn.Module):
    """A quantization site: Format `role` ("A" or "B") on the values forward and their error backward.

    It is the identity until a trainer sets `fn` (an autograd-aware function). In a network that trains
    several configurations side by side, `copies_dim` is the dimension its input's copies lie along
    (1: batch first, copies merged with channels; 0: copies first).
    """

    def __init__(self, role: str, copies_dim: int = 1) -> None:
        super().__init__()
        if role not in ("A", "B"):
            raise ValueError(f"a quantization site is Format 'A' or 'B', got {role!r}")
        self.role, self.copies_dim = role, copies_dim
        self.fn: QuantizeFn | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fn is None:
            return x
        _QUANTIZING[0] += 1  # the quantizer's own arithmetic is not the network's: no function site sees it
        try:
            return self.fn(x)
        finally:
            _QUANTIZING[0] -= 1

    def extra_repr(self) -> str:
        return f"role={self.role}"


# Module types a spec may name (torch.nn classes with a floating-point output).
MODULE_SITES: dict[str, type[nn.Module]] = {
    t.__name__: t
    for t in (
        nn.Conv1d,
        nn.Conv2d,
        nn.Conv3d,
        nn.ConvTranspose2d,
        nn.Linear,
        nn.Bilinear,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.InstanceNorm2d,
        nn.ReLU,
        nn.GELU,
        nn.SiLU,
        nn.Tanh,
        nn.Sigmoid,
        nn.LeakyReLU,
        nn.Softmax,
        nn.AvgPool2d,
        nn.AdaptiveAvgPool2d,
        nn.Embedding,
    )
}
DEFAULT_MODULE_SITES = ("Conv2d", "Linear", "BatchNorm2d", "ReLU")

# Functional operations a spec may name, and the torch functions that perform them. "softmax_input"
# quantizes the input of softmax (the attention scores); every other name quantizes the output (name both
# softmax sides to quantize both, as the built-in vit does).
# In-place forms (`out += y` runs `add_`) count as their operation: the tensor changed in place holds the
# site's values too.
_IN_PLACE = (torch.Tensor.add_, torch.Tensor.sub_, torch.Tensor.mul_, torch.Tensor.div_)
_ADD = (torch.add, torch.Tensor.add, torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.add_)
FUNCTION_SITES: dict[str, tuple[Callable[..., Any], ...]] = {
    "add": _ADD,
    "sub": (torch.sub, torch.Tensor.sub, torch.Tensor.__sub__, torch.Tensor.__rsub__, torch.Tensor.sub_),
    "mul": (torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__, torch.Tensor.mul_),
    "div": (
        torch.div,
        torch.true_divide,
        torch.Tensor.div,
        torch.Tensor.__truediv__,
        torch.Tensor.__rtruediv__,
        torch.Tensor.__rdiv__,
        torch.Tensor.div_,
    ),
    "matmul": (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm, torch.einsum),
    "softmax_input": (torch.softmax, F.softmax, torch.Tensor.softmax),
    "softmax": (torch.softmax, F.softmax, torch.Tensor.softmax),
    "layer_norm": (F.layer_norm,),
    "batch_norm": (F.batch_norm,),
    "relu": (F.relu, torch.relu, torch.Tensor.relu),
    "gelu": (F.gelu,),
    "scaled_dot_product_attention": (F.scaled_dot_product_attention,),
    "mean": (torch.mean, torch.Tensor.mean),
}


_INPUT_SITES = ("softmax_input",)


def module_types(names: Sequence[str], where: str = "quantize.modules") -> tuple[type[nn.Module], ...]:
    """The torch.nn classes named, refusing unknown names with the list of known ones."""
    unknown = [n for n in names if n not in MODULE_SITES]
    if unknown:
        raise ValueError(f"{where}: unknown module type(s) {unknown}; known: {', '.join(sorted(MODULE_SITES))}")
    return tuple(MODULE_SITES[n] for n in names)


def check_functions(names: Sequence[str], where: str = "quantize.functions") -> tuple[str, ...]:
    unknown = [n for n in names if n not in FUNCTION_SITES]
    if unknown:
        raise ValueError(f"{where}: unknown function(s) {unknown}; known: {', '.join(sorted(FUNCTION_SITES))}")
    return tuple(names)


class _OutputSite:
    """A forward hook that sends a module's output through its site (a callable object, not a closure,
    so that a deep copy of the network calls the copy's site)."""

    def __init__(self, site: Quant) -> None:
        self.site = site

    def __call__(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return self.site(output)


class _FunctionSites(TorchFunctionMode):
    """Routes the declared functional operations through their sites while the network runs."""

    def __init__(self, sites: nn.ModuleDict) -> None:
        super().__init__()
        self.inputs = {fn: sites[name] for name in sites if name in _INPUT_SITES for fn in FUNCTION_SITES[name]}
        self.outputs = {fn: sites[name] for name in sites if name not in _INPUT_SITES for fn in FUNCTION_SITES[name]}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if _QUANTIZING[0]:
            return func(*args, **kwargs)
        before, after = self.inputs.get(func), self.outputs.get(func)
        if before is not None:
            args = (before(args[0]), *args[1:])
        out = func(*args, **kwargs)
        if after is None or not (isinstance(out, torch.Tensor) and out.is_floating_point()):
            return out
        quantized = after(out)
        if func in _IN_PLACE:  # `x.add_(y)` as a statement: x itself holds the rounded values
            with torch.no_grad():
                out.copy_(quantized)
        return quantized


class QuantizedNetwork(nn.Module):
    """A user's network with Format B on its input and logits and Format A at the declared sites."""

    def __init__(
        self, net: nn.Module, modules: Sequence[str] = DEFAULT_MODULE_SITES, functions: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.q_input = Quant("B")
        self.net = net
        targets = [m for m in net.modules() if isinstance(m, module_types(modules))]
        if not targets and not functions:
            raise ValueError(
                f"the network has no module of types {list(modules)} to quantize after, and no "
                "functional operation is declared"
            )
        self.module_sites = nn.ModuleList(Quant("A") for _ in targets)
        for module, site in zip(targets, self.module_sites):
            module.register_forward_hook(_OutputSite(site))  # type: ignore[arg-type]
        self.function_sites = nn.ModuleDict({name: Quant("A") for name in check_functions(functions)})
        self.q_logits = Quant("B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_input(x)
        if len(self.function_sites):
            with _FunctionSites(self.function_sites):
                out = self.net(x)
        else:
            out = self.net(x)
        return self.q_logits(out)


# Operations that move or reshape values without computing new ones: never listed as unquantized.
_MOVES = {
    "view",
    "reshape",
    "flatten",
    "unflatten",
    "permute",
    "transpose",
    "t",
    "contiguous",
    "squeeze",
    "unsqueeze",
    "expand",
    "expand_as",
    "repeat",
    "chunk",
    "split",
    "unbind",
    "cat",
    "stack",
    "narrow",
    "select",
    "__getitem__",
    "to",
    "float",
    "clone",
    "copy_",
    "detach",
    "max_pool2d",
    "max_pool1d",
    "adaptive_max_pool2d",
    "dropout",
    "identity",
    "pad",
    "flip",
    "roll",
    "movedim",
    "swapaxes",
    "type_as",
    "new_empty",
    "empty_like",
}


class _Recorder(TorchFunctionMode):
    """Notes every floating-point result and which of them enter a quantization site."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[tuple[str, torch.Tensor, int]] = []  # an in-place result is the tensor at a new version
        self.quantized: set[tuple[int, int]] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        name = _operation(getattr(func, "__name__", str(func)))
        first = out[0] if isinstance(out, tuple) and out else out  # of (output, weights), the output
        if isinstance(first, torch.Tensor) and first.is_floating_point() and name not in _MOVES and name:
            self.results.append((name, first, first._version))
        return out


def _operation(name: str) -> str:
    """The operation a torch function performs, as a spec names it: `__radd__`, `add_` → add, `__truediv__`
    → div; '' for torch's private helpers (leading underscore) and other dunders."""
    if name.endswith("_") and not name.startswith("_") and name[:-1] in _ARITHMETIC:
        return name[:-1]
    if name.startswith("__") and name.endswith("__"):
        core = name[2:-2]
        core = core[1:] if core[:1] in ("i", "r") and core[1:] in _ARITHMETIC else core
        return {"truediv": "div", "floordiv": "floor_divide"}.get(core, core) if core in _ARITHMETIC else ""
    return "" if name.startswith("_") else name


_ARITHMETIC = {"add", "sub", "mul", "div", "truediv", "floordiv", "matmul", "pow", "neg"}


def unquantized_operations(model: nn.Module, input_shape: Sequence[int], batch: int = 2) -> dict[str, int]:
    """Floating-point operations of one forward pass whose result never enters a site, with their counts.

    Runs a copy of `model` on the meta device (no memory, no data). A result counts as quantized when a
    site receives it, or a view of it. The network's final output (the logits, Format B) is not listed.
    """
    import copy

    probe = copy.deepcopy(model).to("meta").eval()
    recorder = _Recorder()

    def mark(_site: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        t = inputs[0]
        recorder.quantized.add((id(t), t._version))
        while t._base is not None:
            t = t._base
            recorder.quantized.add((id(t), t._version))

    handles = [m.register_forward_pre_hook(mark) for m in probe.modules() if isinstance(m, Quant)]
    try:
        with torch.no_grad(), recorder:
            out = probe(torch.empty((batch, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()

    def root(t: torch.Tensor) -> torch.Tensor:  # a view's storage: a site that receives any view of it counts
        return t if t._base is None else t._base

    left = Counter(
        name
        for name, t, version in recorder.results
        if {(id(t), version), (id(root(t)), version)}.isdisjoint(recorder.quantized) and t is not out
    )
    return dict(sorted(left.items()))
