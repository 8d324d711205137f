"""Resolve a method specification from the command line: a baseline's short name, `module:Class`,
or `path/to/file.py:Class` (a file outside any package, as a researcher's submission often is)."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .rules import Method


def load_method_class(spec: str) -> type[Method]:
    """The Method subclass named by `spec`."""
    if ":" not in spec:
        import baselines

        if spec not in baselines.BASELINES:
            raise KeyError(
                f"unknown method {spec!r}: use a baseline ({', '.join(baselines.BASELINES)}), "
                "'module:Class' or 'path/to/file.py:Class'"
            )
        return baselines.BASELINES[spec]
    cls = load_attribute(spec, "method")
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{spec}: {spec.rpartition(':')[2]!r} is not a subclass of peppp_bench.Method")
    return cls


def load_attribute(ref: str, what: str) -> object:
    """The object `ref` names: 'package.module:attr' (importable) or 'path/to/file.py:attr'."""
    where, _, attr = ref.rpartition(":")
    if not where or not attr:
        raise ValueError(f"{what} {ref!r}: write 'package.module:name' or 'path/to/file.py:name'")
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {path} does not exist")
        name = "peppp_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # so worker processes and pickle find what it defines
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    if not hasattr(module, attr):
        raise AttributeError(f"{what} {ref!r}: {where} defines no {attr!r}")
    return getattr(module, attr)


def make_method(spec: str, **params: object) -> Method:
    """An instance of the method named by `spec`, constructed with `params`."""
    cls = load_method_class(spec)
    try:
        return cls(**params)
    except TypeError as exc:
        raise TypeError(f"cannot construct {spec} with parameters {params}: {exc}") from exc
