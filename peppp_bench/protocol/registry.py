"""Methods known by name: the ones installed packages register under the `peppp_bench.methods` entry
point group (the bundled baselines register themselves there in pyproject.toml).

The harness and the board find methods only through here, so neither imports a method package.
A registered method is made by its short name (`ed-mf`); its code reference on the board is
`package:Class`, with `package` the top-level package that defines it (`baselines:EDMF`).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from .rules import Method

GROUP = "peppp_bench.methods"
HOME_DISTRIBUTION = "peppp-bench"  # only this distribution's methods may be reference bounds (see `reference_bound`)


@dataclass(frozen=True)
class Registered:
    """One registered method: its short name, class, and the distribution that registered it."""

    name: str
    cls: type[Method]
    distribution: str

    @property
    def code(self) -> str:
        """The board's code reference: top-level package and class name, e.g. 'baselines:EDMF'."""
        return f"{self.cls.__module__.split('.')[0]}:{self.cls.__name__}"

    @property
    def source(self) -> Path:
        """The file that defines the class."""
        return Path(sys.modules[self.cls.__module__].__file__ or "")


@functools.cache
def registered() -> dict[str, Registered]:
    """Every registered method by short name, in name order."""
    found: dict[str, Registered] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(
                f"entry point {ep.name} = {ep.value!r} in group {GROUP} is not a peppp_bench.Method subclass"
            )
        if ep.name in found and found[ep.name].cls is not cls:
            raise ValueError(f"two packages register a method called {ep.name!r}: {found[ep.name].code} and {ep.value}")
        found[ep.name] = Registered(ep.name, cls, ep.dist.name if ep.dist else "")
    if not found:
        raise LookupError(
            f"no method is registered under the entry point group {GROUP!r}: install peppp-bench "
            "(pip install -e .) so that its baselines register"
        )
    return found


def names() -> list[str]:
    return list(registered())


def method_class(name: str) -> type[Method]:
    """The class registered as `name`, or a KeyError listing the known names."""
    known = registered()
    if name not in known:
        raise KeyError(
            f"unknown method {name!r}: use a registered one ({', '.join(known)}), "
            "'module:Class' or 'path/to/file.py:Class'"
        )
    return known[name].cls


def by_code(code: str) -> Registered | None:
    """The registered method whose board code reference is `code` ('baselines:EDMF'), if any."""
    return next((r for r in registered().values() if r.code == code), None)


def home_method(spec: str) -> Registered | None:
    """The method of this package's own registry that `spec` names (its short name, `package:Class` or
    `module:Class`), or None: only these are trusted to be nested or reference bounds."""
    for r in registered().values():
        if r.distribution == HOME_DISTRIBUTION and spec in (r.name, r.code, f"{r.cls.__module__}:{r.cls.__qualname__}"):
            return r
    return None


def reference_bound(code: str) -> bool:
    """Whether `code` names one of this package's own reference bounds; no other code ever is one."""
    found = by_code(code)
    return found is not None and found.distribution == HOME_DISTRIBUTION and bool(found.cls.reference)
