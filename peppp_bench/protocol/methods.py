"""Resolve a method specification from the command line: a registered method's short name,
`module:Class`, or `path/to/file.py:Class` (a file outside any package, as a researcher's submission often is)."""

from __future__ import annotations

from ..loading import load_attribute
from . import registry
from .rules import Method


def load_method_class(spec: str) -> type[Method]:
    """The Method subclass named by `spec`."""
    if ":" not in spec:
        return registry.method_class(spec)
    cls = load_attribute(spec, "method")
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{spec}: {spec.rpartition(':')[2]!r} is not a subclass of peppp_bench.Method")
    return cls


def make_method(spec: str, **params: object) -> Method:
    """An instance of the method named by `spec`, constructed with `params`."""
    cls = load_method_class(spec)
    try:
        return cls(**params)
    except TypeError as exc:
        raise TypeError(f"cannot construct {spec} with parameters {params}: {exc}") from exc
