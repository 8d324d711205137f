"""The operating-system boundary around a method's interpreter: a bubblewrap namespace sandbox.

Inside, a method's process has new user, PID, mount, network, IPC, UTS and cgroup namespaces; it sees
read-only the Python environment, this package's code (its bundled suites hidden), the code of the
registered methods and the method's own file or package, and nothing else: no suite, no cache, no
checkout, no `../shared`, no network, and a `/proc` of its own namespace (not the harness's). Everything is
read-only (the root and `/dev` are remounted so after the binds) except `/tmp` and `/dev/shm`: private,
empty, and of a size that counts against the method's memory limit. It dies with the harness. Without
bubblewrap, `available()` is False and the harness says that the run is not isolated by the operating system.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
HOME = "/tmp"  # the method's working folder and private temporary space inside the sandbox
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"


def _outermost(paths: set[Path]) -> list[Path]:
    """The paths that are not inside another of them, sorted."""
    return sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))


def interpreter() -> str:
    """This interpreter's path with `..` and folder links resolved (the sandbox binds resolved folders), but
    not the last link: a virtual environment's `python` must keep its name to find its environment."""
    return str(Path(sys.executable).parent.resolve() / Path(sys.executable).name)


def _environment() -> list[Path]:
    """The Python environment: the interpreter's prefixes (the virtual environment and its base)."""
    return _outermost(
        {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    )


def _code_of(module: str) -> Path | None:
    """The file or package folder that holds top-level module `module`, if it is importable."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve() if spec.origin and spec.origin not in ("built-in", "frozen") else None


def code_paths(spec: str) -> list[Path]:
    """What the sandbox binds read-only for a method: this package, the registered methods' packages,
    and the method's own file (`path.py:Class`) or top-level package (`module:Class`)."""
    from . import registry

    paths = {PACKAGE}
    paths |= {p for r in registry.registered().values() if (p := _code_of(r.cls.__module__)) is not None}
    where = spec.rpartition(":")[0]
    if where.endswith(".py"):
        paths.add(Path(where).resolve())
    elif where and (own := _code_of(where)) is not None:
        paths.add(own)
    inside = _environment()
    return _outermost({p for p in paths if not any(p == r or r in p.parents for r in inside)})


def command(spec: str, argv: list[str], tmp_bytes: int = 1 << 30, shm_bytes: int = 64 << 20) -> list[str]:
    """The bubblewrap command that runs `argv` for the method named by `spec` behind the boundary, with a
    private `/tmp` of `tmp_bytes` and `/dev/shm` of `shm_bytes`."""
    args = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-all",  # user, ipc, pid, net, uts, cgroup
        "--unshare-user",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(shm_bytes), "--tmpfs", "/dev/shm", "--size", str(tmp_bytes), "--tmpfs", HOME]  # before binds
    for root in [p for p in (*_environment(), *code_paths(spec)) if p.exists()]:
        args += ["--ro-bind", str(root), str(root)]
    for data in {PACKAGE / "data", *(Path(sys.prefix) / "lib").glob("python*/site-packages/peppp_bench/data")}:
        if data.is_dir():
            hidden = str(data.resolve())  # the bundled suites stay out of sight, under an empty read-only tmpfs
            args += ["--size", "4096", "--tmpfs", hidden, "--remount-ro", hidden]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]  # last: nothing but /tmp and /dev/shm stays writable
    return [*args, "--chdir", HOME, *argv]


@functools.cache
def available() -> bool:
    """Whether bubblewrap runs this interpreter here (probed once per process)."""
    if shutil.which("bwrap") is None:
        return False
    try:
        probe = subprocess.run(
            command("", [interpreter(), "-c", "import numpy, peppp_bench"]), capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0
