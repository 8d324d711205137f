"""The package's layers import downward only: base modules ← suites ← protocol ← board, and the generator
beside the protocol; nothing imports the baselines, which join through the method registry."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "peppp_bench"
LAYER = {"suites": 1, "generate": 2, "protocol": 2, "board": 3}  # base modules (configs, memory, ...) are 0


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "peppp_bench" or len(parts) == 1 or parts[1] in ("cli", "__init__"):
        return None  # the package's front door and the CLI may import anything
    return LAYER.get(parts[1], 0)


def _imports() -> dict[str, set[str]]:
    """Every module of the package and the modules it imports (at any depth of its code)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = name if rel.name == "__init__" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, node.module] if node.module else base)
                found.add(target)
        graph[name] = found
    return graph


def test_no_layer_imports_upward_and_nothing_imports_the_baselines() -> None:
    upward = []
    for module, imported in _imports().items():
        assert not any(i == "baselines" or i.startswith("baselines.") for i in imported), module
        mine = _layer(module)
        for target in imported:
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} -> {target}")
            if module.startswith(("peppp_bench.suites", "peppp_bench.generate")) and target.startswith(
                "peppp_bench.protocol"
            ):
                upward.append(f"{module} -> {target}")
    assert not upward, upward


def test_the_subpackages_have_no_import_circle() -> None:
    edges: dict[str, set[str]] = {}
    for module, imported in _imports().items():
        src = module.split(".")[1] if "." in module else ""
        for target in imported:
            if target.startswith("peppp_bench.") and src in LAYER:
                dst = target.split(".")[1]
                if dst in LAYER and dst != src:
                    edges.setdefault(src, set()).add(dst)

    def reaches(a: str, b: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n})) for n in edges.get(a, ()))

    assert not [p for p in LAYER if reaches(p, p)], edges
