"""Load an object named by `package.module:name` or `path/to/file.py:name` (methods, network factories)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path


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
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"{what} file {path} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # so worker processes and pickle find what it defines
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    if not hasattr(module, attr):
        raise AttributeError(f"{what} {ref!r}: {where} defines no {attr!r}")
    return getattr(module, attr)


def absolute_file_ref(ref: str) -> str:
    """A 'path/to/file.py:name' reference with the path made absolute against the caller's working
    directory (a sandbox runs elsewhere); other references unchanged."""
    where, sep, attr = ref.rpartition(":")
    if sep and where.endswith(".py"):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return ref
