"""Methods known by name: the ones installed packages register under the `peppp_bench.methods` entry
point group (the bundled baselines register themselves there in pyproject.toml).

The harness and the board find methods only through here, so neither imports a method package.
A registered method is made by its short name (`ed-mf`); its code reference on the board is
`package:Class`, with `package` the top-level package that defines it (`baselines:EDMF`).

Trust (to run nested, or as a reference bound shown the held-out row) follows the installed files, not a
name: a method is this package's own only if the file that defines its class is one the peppp-bench
distribution installed (its RECORD lists it with that sha256) or, for an editable install, lies in one of
the distribution's top-level packages in the source folder it was installed from. A `baselines` found
earlier on the path is somebody else's code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import sys
import sysconfig
from dataclasses import dataclass
from importlib.metadata import distributions, entry_points
from pathlib import Path
from urllib.parse import unquote, urlparse

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

    @property
    def home(self) -> bool:
        """Whether this is this package's own method: registered by it, and defined in a file it installed."""
        return self.distribution == HOME_DISTRIBUTION and installed_here(self.source)


@functools.cache
def _installed() -> tuple[tuple[Path, ...], dict[Path, str]]:
    """The home distribution's trusted source folders (editable install) and its recorded files' sha256: the
    one installed in this interpreter's site-packages, never a copy of its metadata elsewhere on the path."""
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    dist = next((d for d in distributions(path=site) if d.metadata["Name"] == HOME_DISTRIBUTION), None)
    if dist is None:
        return (), {}
    folders: tuple[Path, ...] = ()
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("dir_info", {}).get("editable") and str(direct.get("url", "")).startswith("file:"):
        source = Path(unquote(urlparse(direct["url"]).path)).resolve()
        folders = tuple(source / top for top in (dist.read_text("top_level.txt") or "").split())
    recorded = {
        Path(str(dist.locate_file(f))).resolve(): f.hash.value
        for f in dist.files or ()
        if f.hash is not None and f.hash.mode == "sha256"
    }
    return folders, recorded


def installed_here(path: Path) -> bool:
    """Whether `path` is a file the home distribution installed, unchanged (or lies in its editable source)."""
    p = Path(path).resolve()
    folders, recorded = _installed()
    if any(p.is_relative_to(folder) for folder in folders):
        return True
    if p not in recorded or not p.is_file():
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(p.read_bytes()).digest()).rstrip(b"=").decode()
    return digest == recorded[p]


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
        if spec in (r.name, r.code, f"{r.cls.__module__}:{r.cls.__qualname__}") and r.home:
            return r
    return None


def reference_bound(code: str) -> bool:
    """Whether `code` names one of this package's own reference bounds; no other code ever is one."""
    found = by_code(code)
    return found is not None and found.home and bool(found.cls.reference)
