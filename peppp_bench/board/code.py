"""Which code a verdict depends on, found by following imports, and its fingerprint.

A verification mark binds the harness (every module of this package that the reproduction check and the
method's sandbox import, with each package's `__init__` on the way) and the method's own package (its
module, the modules of its package it imports and their `__init__`s). The lists are derived from the
import statements, so a module added later cannot be forgotten. Fingerprints hash the parsed syntax tree,
so comments and formatting do not make marks stale.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
# Where a verdict is made: the reproduction check and the board (verify imports leaderboard, the protocol and
# the suites), the method's side of the sandbox (run as a script, imported by nothing), the package itself.
HARNESS_ROOTS = ("board/verify.py", "protocol/zygote.py", "__init__.py")


def _syntax_digest(path: Path) -> bytes:
    """The file's syntax tree (what runs), or its bytes when it is not Python that parses."""
    raw = path.read_bytes() if path.is_file() else b""
    try:
        return ast.dump(ast.parse(raw)).encode()
    except (SyntaxError, ValueError):
        return raw


def source_fingerprint(files: Iterable[Path], base: Path) -> str:
    """sha256 over each file's name relative to `base` and its syntax tree, in name order."""
    h = hashlib.sha256()
    for f in sorted(set(files), key=lambda p: p.relative_to(base).as_posix()):
        h.update(f.relative_to(base).as_posix().encode() + b"\0" + _syntax_digest(f) + b"\0")
    return h.hexdigest()


def _module_file(package_dir: Path, dotted: str) -> Path | None:
    """The file of module `dotted` (relative to `package_dir`, '' for the package itself), if it exists."""
    base = package_dir.joinpath(*dotted.split(".")) if dotted else package_dir
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_closure(roots: Iterable[Path], package_dir: Path) -> set[Path]:
    """`roots` and every module of the package in `package_dir` they import, directly or not, wherever the
    import stands (in a function too), with the `__init__.py` of every package on the way."""
    top = package_dir.name
    seen: set[Path] = set()
    todo = [Path(r) for r in roots]
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen.add(f)
        here = f.parent.relative_to(package_dir).parts  # the package this module is in
        todo += [package_dir.joinpath(*here[:i], "__init__.py") for i in range(len(here) + 1)]
        try:
            tree = ast.parse(f.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [
                    a.name.split(".", 1)[1] if "." in a.name else "" for a in node.names if a.name.split(".")[0] == top
                ]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = here[: len(here) - node.level + 1]
                elif node.module and node.module.split(".")[0] == top:
                    anchor = ()
                else:
                    continue
                module = node.module or ""
                if not node.level:
                    module = module.split(".", 1)[1] if "." in module else ""
                stem = ".".join([*anchor, *([module] if module else [])])
                targets = [stem] + [f"{stem}.{a.name}" if stem else a.name for a in node.names]  # names may be modules
            todo += [m for t in targets if (m := _module_file(package_dir, t)) is not None]
    return seen


def harness_fingerprint(package_dir: Path = PACKAGE) -> str:
    """Fingerprint of every module of this package a verdict depends on (`HARNESS_ROOTS` and their imports)."""
    files = imported_closure([package_dir / r for r in HARNESS_ROOTS], package_dir)
    return source_fingerprint(files, package_dir)


def method_fingerprint(module_file: Path) -> str:
    """Fingerprint of a registered method's own code: its module and what it imports of its top-level package."""
    module_file = Path(module_file).resolve()
    package_dir = module_file.parent
    while (package_dir.parent / "__init__.py").is_file():
        package_dir = package_dir.parent
    return source_fingerprint(imported_closure([module_file], package_dir), package_dir)
