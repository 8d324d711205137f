"""Architectures as a spec names them: a built-in network by name and arguments, or a user's factory.

    architecture = { name = "resnet", blocks = [1, 1], width = 8 }        # built-ins: resnet, vgg, mlp, vit
    architecture = { factory = "mynets.py:small_vgg", args = { width = 16 },
                     quantize = { modules = ["Conv2d", "Linear", "BatchNorm2d", "ReLU"], functions = ["add"] } }

A factory is called as `factory(classes, in_channels, **args)` and returns a torch.nn.Module that maps
(batch, in_channels, H, W) images to (batch, classes) logits. Its quantizer sites are the declared ones
(sites.py); `Architecture.unquantized` lists what a forward pass leaves unquantized. Many configurations
train together: built-ins side by side in one network (networks.py), a factory's network as stacked
copies under torch.func.vmap (train.StackedNetwork).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import sysconfig
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..memory import BATCH_SIZE, NetworkCounts, count_network
from .networks import MLP, VGG, ResNet, VisionTransformer
from .sites import DEFAULT_MODULE_SITES, QuantizedNetwork, check_functions, module_types, unquantized_operations

# Each built-in: its arguments with their defaults and the checks each must pass.
_POSITIVE_INTS = "a list of integers ≥ 1"
BUILTINS: dict[str, dict[str, Any]] = {
    "resnet": {"blocks": [2, 2, 2, 2], "width": 64},
    "vgg": {"channels": [16, 32, 64], "layers": 1},
    "mlp": {"hidden": [128, 64]},
    "vit": {"patch": 4, "dim": 32, "depth": 2, "heads": 4, "mlp_ratio": 2},
}


class ArchitectureError(ValueError):
    """An architecture is misnamed, misconfigured or cannot run on a task's images."""


def _check_args(kind: str, args: Mapping[str, Any], where: str) -> dict[str, Any]:
    defaults = BUILTINS[kind]
    unknown = sorted(set(args) - set(defaults))
    if unknown:
        raise ArchitectureError(f"{where}: unknown key(s) {unknown} for {kind}; allowed: {sorted(defaults)}")
    out = {**defaults, **args}
    for key, value in out.items():
        if isinstance(defaults[key], list):
            if not (
                isinstance(value, list)
                and value
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
            ):
                raise ArchitectureError(f"{where}.{key} = {value!r}: expected {_POSITIVE_INTS}")
        elif not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ArchitectureError(f"{where}.{key} = {value!r}: expected an integer ≥ 1")
    return out


@dataclass(frozen=True)
class Architecture:
    """A network to train: `kind` is a built-in name or "factory"; `args` its arguments (JSON values)."""

    kind: str = "resnet"
    args: tuple[tuple[str, Any], ...] = ()
    factory: str = ""  # "package.module:function" or "/abs/path/file.py:function" (kind "factory")
    modules: tuple[str, ...] = DEFAULT_MODULE_SITES  # declared sites of a factory's network
    functions: tuple[str, ...] = ()
    label: str = ""  # a name given in the spec
    _callable: Callable[..., nn.Module] | None = field(default=None, compare=False, repr=False)

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def builtin(cls, kind: str, where: str = "architecture", **args: Any) -> Architecture:
        if kind not in BUILTINS:
            raise ArchitectureError(
                f"{where}: unknown architecture {kind!r}; built-ins: {', '.join(BUILTINS)} "
                "(or give factory = 'module:function')"
            )
        full = _check_args(kind, {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}, where)
        return cls(kind, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in full.items())))

    @classmethod
    def resnet(cls, blocks: Sequence[int] = (2, 2, 2, 2), width: int = 64) -> Architecture:
        return cls.builtin("resnet", blocks=list(blocks), width=width)

    @classmethod
    def paper(cls) -> Architecture:
        """The paper's CIFAR-style ResNet-18 (spec §4)."""
        return cls.resnet()

    @classmethod
    def from_factory(
        cls,
        factory: str | Callable[..., nn.Module],
        args: Mapping[str, Any] | None = None,
        modules: Sequence[str] = DEFAULT_MODULE_SITES,
        functions: Sequence[str] = (),
        label: str = "",
        where: str = "architecture",
    ) -> Architecture:
        """A user's network: `factory` is a callable or a 'module:function' / 'file.py:function' reference."""
        try:
            module_types(modules, f"{where}.quantize.modules")
            check_functions(functions, f"{where}.quantize.functions")
        except ValueError as exc:
            raise ArchitectureError(str(exc)) from exc
        if callable(factory):
            ref, fn = (
                f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}",
                factory,
            )
        else:
            from ..loading import load_attribute

            try:
                fn = load_attribute(factory, f"{where}.factory")
            except (ValueError, OSError, ImportError, AttributeError) as exc:
                raise ArchitectureError(str(exc)) from exc
            if not callable(fn):
                raise ArchitectureError(f"{where}.factory {factory!r} is not callable")
            ref = factory
        return cls("factory", tuple(sorted((args or {}).items())), ref, tuple(modules), tuple(functions), label, fn)

    # -- what it is -----------------------------------------------------------------------------
    @property
    def options(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.args}

    @property
    def name(self) -> str:
        """A readable name; the ResNet keeps the form recorded in earlier suites (resnet-1-1-w8)."""
        if self.label:
            return self.label
        o = self.options
        if self.kind == "resnet":
            return f"resnet-{'-'.join(map(str, o['blocks']))}-w{o['width']}"
        if self.kind == "vgg":
            return f"vgg-{'-'.join(map(str, o['channels']))}-l{o['layers']}"
        if self.kind == "mlp":
            return f"mlp-{'-'.join(map(str, o['hidden']))}"
        if self.kind == "vit":
            return f"vit-p{o['patch']}-d{o['dim']}-x{o['depth']}-h{o['heads']}-r{o['mlp_ratio']}"
        return self.factory.rpartition(":")[2]

    def record(self) -> dict[str, Any]:
        """What defines the network (recorded with every cell and suite; part of a cell's meaning)."""
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "args": self.options}
        if self.kind == "factory":
            out.update(
                factory=self.factory,
                quantize={"modules": list(self.modules), "functions": list(self.functions)},
                source=definitions(self._callable) if self._callable is not None else {},
            )
        return out

    # -- building ---------------------------------------------------------------------------------
    def build(self, classes: int, input_shape: Sequence[int], copies: int = 1) -> nn.Module:
        """The network for `classes` classes and (channels, H, W) inputs, `copies` side by side."""
        c, h, w = input_shape
        o = self.options
        if self.kind == "resnet":
            return ResNet(classes, tuple(o["blocks"]), o["width"], c, copies)
        if self.kind == "vgg":
            return VGG(classes, tuple(o["channels"]), o["layers"], c, copies)
        if self.kind == "mlp":
            return MLP(classes, tuple(o["hidden"]), c * h * w, copies)
        if self.kind == "vit":
            if h != w:
                raise ArchitectureError(f"the vision transformer needs square images, got {h}×{w}")
            return VisionTransformer(
                classes, h, o["patch"], o["dim"], o["depth"], o["heads"], o["mlp_ratio"], c, copies
            )
        if copies != 1:
            raise ArchitectureError(f"{self.name}: a factory builds one network; copies are stacked by the trainer")
        assert self._callable is not None, "a factory architecture needs its callable"
        net = self._callable(classes, c, **o)
        if not isinstance(net, nn.Module):
            raise ArchitectureError(f"{self.factory} returned {type(net).__name__}, not a torch.nn.Module")
        opaque = sorted({type(m).__name__ for m in net.modules() if isinstance(m, nn.MultiheadAttention)})
        if opaque:
            raise ArchitectureError(
                f"{self.name} uses {opaque[0]} (also inside nn.Transformer layers), whose projections, scores and "
                "softmax run inside one torch call that no site can enter: they would train unquantized and "
                "uncounted in memory. Write attention from parts instead: nn.Linear for the q, k, v and output "
                "projections, `q @ k.transpose(-2, -1)` and `attn @ v` (declare matmul) and torch.softmax "
                "(declare softmax_input and/or softmax), as the built-in vit does"
            )
        return QuantizedNetwork(net, self.modules, self.functions)

    def counts(self, classes: int, input_shape: Sequence[int], batch: int = BATCH_SIZE) -> NetworkCounts:
        """Element counts of the memory model (memory.py), from the network as trained, sites included;
        built and run on the meta device, so this is also the check that the network fits the data."""
        import torch

        try:
            with torch.device("meta"):
                net = self.build(classes, input_shape)
            counts = count_network(net, input_shape, batch)
        except ArchitectureError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a user's network on the data's shape
            raise ArchitectureError(f"{self.name} cannot run on {tuple(input_shape)} images: {exc}") from exc
        if counts.logits != batch * classes:
            raise ArchitectureError(
                f"{self.name} outputs {counts.logits // batch} logits per image for a task with {classes} classes"
            )
        return counts

    def unquantized(self, classes: int, input_shape: Sequence[int]) -> dict[str, int]:
        """Floating-point operations a forward pass leaves unquantized (name → calls); see sites.py."""
        return unquantized_operations(self.build(classes, input_shape), input_shape)


def definitions(fn: Callable[..., Any]) -> dict[str, str]:
    """What defines a factory's network: the sha256 of the syntax of the factory and of every function,
    class and module-level value of the user's code it uses, transitively, by qualified name, with the values
    of default arguments and class attributes (fixed when the code was defined, not read from its text).
    Comments, docstrings and code it does not use are left out; library code (torch, numpy, ...) is not
    followed."""
    out: dict[str, str] = {}
    todo: list[tuple[str, Any]] = [(_qualified(fn), fn)]
    while todo:
        name, obj = todo.pop()
        if name in out:
            continue
        source = _user_source(obj)
        if source is None:  # a value: its repr is what it means (less an address, which differs run to run)
            out[name] = hashlib.sha256(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj)).encode()).hexdigest()
            continue
        try:
            syntax = ast.dump(_without_docstrings(ast.parse(source)))
        except SyntaxError:  # a lambda's line, say: its text
            syntax = source.strip()
        out[name] = hashlib.sha256(syntax.encode()).hexdigest()
        for label, value in _values_fixed_at_definition(obj):
            if _user_source(value) is not None:
                todo.append((_qualified(value), value))
            else:
                todo.append((f"{name}.{label}", value))
        scope = getattr(inspect.getmodule(obj), "__dict__", {})
        for used in sorted(_names_used(obj)):
            value = scope.get(used)
            if value is None or used in out:
                continue
            if inspect.ismodule(value) or callable(value):
                if _user_source(value) is not None:
                    todo.append((_qualified(value), value))
            elif not used.startswith("__"):
                todo.append((f"{_module_label(inspect.getmodule(obj))}:{used}", value))
    return dict(sorted(out.items()))


def _qualified(obj: Any) -> str:
    """module:name, a spec's factory file named by its file name (not the path-keyed module it loads as)."""
    return f"{_module_label(inspect.getmodule(obj))}:{getattr(obj, '__qualname__', '')}"


def _module_label(module: Any) -> str:
    name = getattr(module, "__name__", "?")
    if name.startswith("peppp_user_") and getattr(module, "__file__", None):  # loading.load_attribute's file modules
        return Path(module.__file__).name
    return str(name)


def _user_source(obj: Any) -> str | None:
    """The source of a function, class or module written by the user (not installed as a library)."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj) or inspect.ismethod(obj)):
        return None
    try:
        path = inspect.getsourcefile(obj)
        if path is None or any(Path(path).is_relative_to(p) for p in _LIBRARY_PATHS):
            return None
        return textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError):
        return None


_LIBRARY_PATHS = tuple(
    {
        Path(p)
        for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
    }
)


def _functions_of(cls: type) -> list[Any]:
    """The functions a class defines: methods, static and class methods, and property accessors."""
    found = []
    for value in vars(cls).values():
        value = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if isinstance(value, property):
            found += [f for f in (value.fget, value.fset, value.fdel) if f is not None]
        elif inspect.isfunction(value):
            found.append(value)
    return found


def _values_fixed_at_definition(obj: Any) -> list[tuple[str, Any]]:
    """Values a function's or class's text does not show: default arguments (of a class's functions too) and
    class attributes, each labelled by where it sits."""
    if inspect.isclass(obj):
        functions = [(f"{f.__name__}.", f) for f in _functions_of(obj)]
        attributes = [
            (attr, value)
            for attr, value in vars(obj).items()
            if not attr.startswith("__")
            and not callable(value)
            and not isinstance(value, (staticmethod, classmethod, property))
        ]
    elif inspect.isfunction(obj):
        functions, attributes = [("", obj)], []
    else:
        return []
    for prefix, f in functions:
        defaults = dict(enumerate(f.__defaults__ or ())) | dict(f.__kwdefaults__ or {})
        attributes += [(f"{prefix}default[{key}]", value) for key, value in defaults.items()]
    return attributes


def _names_used(obj: Any) -> set[str]:
    """Global names the code of a function, or a class's methods and base classes, refer to (nested code
    included); a module's source is hashed whole and not followed."""
    if inspect.isclass(obj):
        codes = [f.__code__ for f in _functions_of(obj)]
        names = {b.__name__ for b in obj.__bases__}
    elif hasattr(obj, "__code__"):
        codes, names = [obj.__code__], set()
    else:
        return set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
    return names


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def parse_architecture(raw: Any, where: str = "architecture") -> Architecture:
    """An architecture from a spec table (see the module docstring), every key checked."""
    if not isinstance(raw, dict):
        raise ArchitectureError(f'{where} must be a table, e.g. {{ name = "resnet", blocks = [1, 1], width = 8 }}')
    raw = dict(raw)
    if "factory" in raw:
        unknown = sorted(set(raw) - {"factory", "args", "quantize", "label"})
        if unknown:
            raise ArchitectureError(
                f"{where}: unknown key(s) {unknown}; a factory takes factory, args, quantize, label"
            )
        quantize = raw.get("quantize", {})
        if not isinstance(quantize, dict) or set(quantize) - {"modules", "functions"}:
            raise ArchitectureError(f"{where}.quantize must be a table with keys modules and/or functions")
        args = raw.get("args", {})
        if not isinstance(args, dict) or not isinstance(raw["factory"], str):
            raise ArchitectureError(f"{where}: factory must be a string and args a table")
        return Architecture.from_factory(
            raw["factory"],
            args,
            tuple(quantize.get("modules", DEFAULT_MODULE_SITES)),
            tuple(quantize.get("functions", ())),
            str(raw.get("label", "")),
            where,
        )
    kind = raw.pop("name", "resnet")  # the earlier form { blocks, width } is the ResNet
    return Architecture.builtin(str(kind), where, **raw)
