"""Resolve a method specification from the command line: a baseline's short name, `module:Class`,
or `path/to/file.py:Class` (a file outside any package, as a researcher's submission often is)."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .protocol import Method


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
    where, _, attr = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"method file {path} does not exist")
        name = "peppp_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # so worker processes and pickle find the class
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{spec}: {attr!r} is not a subclass of peppp_bench.Method")
    return cls


def make_method(spec: str, **params: object) -> Method:
    """An instance of the method named by `spec`, constructed with `params`."""
    cls = load_method_class(spec)
    try:
        return cls(**params)
    except TypeError as exc:
        raise TypeError(f"cannot construct {spec} with parameters {params}: {exc}") from exc
