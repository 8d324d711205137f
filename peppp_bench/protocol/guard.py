"""The in-process guard: an audit hook that refuses what a method may not do, a second line behind the OS boundary.

It refuses reading the suite folders and the Hub cache; writing anywhere but the method's own temporary
folder; subprocesses, exec, fork, signals to other processes, network connections, and loading native
code through ctypes or cffi; importing the file readers that bypass Python's `open` (pyarrow's parquet,
dataset and filesystem modules, polars, duckdb, fastparquet). The package's loaders are replaced by
stubs that refuse. CPython's audit hooks are not a sandbox: without bubblewrap this is all there is, and
the harness says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

BLOCKED_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "socket.connect",
        "socket.bind",
        "socket.getaddrinfo",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.dlsym/handle",
        "ctypes.call_function",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.cdata",
        "ctypes.cdata/buffer",
        "ctypes.addressof",
        "sys.addaudithook",
        "cpython.PyInterpreterState_New",
        "sys._current_frames",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
    }
)
BLOCKED_IMPORTS = (
    "ctypes",
    "_ctypes",
    "cffi",
    "pyarrow.parquet",
    "pyarrow._parquet",
    "pyarrow.dataset",
    "pyarrow._dataset",
    "pyarrow.fs",
    "pyarrow._fs",
    "pyarrow.feather",
    "pyarrow.csv",
    "pyarrow._csv",
    "pyarrow.json",
    "pyarrow._json",
    "pyarrow.orc",
    "pyarrow._orc",
    "fastparquet",
    "polars",
    "duckdb",
)
PATH_WRITES = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.truncate",
        "os.symlink",
        "os.link",
        "os.utime",
        "shutil.rmtree",
        "shutil.move",
        "shutil.copyfile",
    }
)
PATH_READS = frozenset({"os.listdir", "os.scandir", "glob.glob"})


def install_guard(protected: Sequence[str], tmpdir: str, serving: list[bool]) -> None:
    """The audit hook that refuses what a method may not do (see the module docstring). The zygote itself
    may fork once `serving[0]` is set, after the method is made; nothing else may."""
    roots = tuple(os.path.realpath(p) for p in protected)
    tmp = os.path.realpath(tmpdir)
    zygote = os.getpid()

    def under(path: Any, folders: tuple[str, ...]) -> bool:
        if isinstance(path, int) or path is None:
            return False
        p = os.path.realpath(os.fsdecode(path))
        return any(p == r or p.startswith(r + os.sep) for r in folders)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)
            )
            if writing and not isinstance(path, int) and not under(path, (tmp,)):
                raise PermissionError(f"sandbox: a method may write only under {tmp}, not {path}")
            if under(path, roots):
                raise PermissionError(f"sandbox: {path} holds benchmark data a method may not read")
        elif event == "os.fork" and serving[0] and os.getpid() == zygote:
            return
        elif event in BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed in a method")
        elif event == "import" and args[0] and args[0].startswith(BLOCKED_IMPORTS):
            name = args[0]
            if any(name == b or name.startswith(b + ".") for b in BLOCKED_IMPORTS):
                raise ImportError(f"sandbox: importing {name} is not allowed in a method")
        elif event in PATH_WRITES and args:
            # both ends of a rename, link, move or copy; of a symlink, the link made (its target may be anywhere:
            # reading through it is an open of the target, checked above)
            paths = args[1:2] if event == "os.symlink" else [a for a in args[:2] if isinstance(a, (str, bytes))]
            outside = next((p for p in paths if not under(p, (tmp,))), None)
            if outside is not None:
                raise PermissionError(f"sandbox: {event} of {outside!r} outside {tmp} is not allowed in a method")
        elif event in PATH_READS and args and under(args[0], roots):
            raise PermissionError(f"sandbox: {args[0]} holds benchmark data a method may not read")

    sys.addaudithook(hook)


def _refuse(*_: Any, **__: Any) -> Any:
    raise PermissionError("sandbox: a method may not load benchmark data; it gets what it may see in its Task")


def disable_loaders() -> None:
    from ..suites import hub, sources, suite

    for module, names in ((sources, ("load",)), (suite, ("read_suite", "verify_suite")), (hub, ("download_suite",))):
        for name in names:
            if hasattr(module, name):
                setattr(module, name, _refuse)
    import peppp_bench

    peppp_bench.load = _refuse
