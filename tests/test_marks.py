"""What a verification mark is bound to: every module a verdict imports, the method's whole package, and
trust that follows the installed files rather than a module name on the path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import baselines
from peppp_bench.board.code import PACKAGE, harness_fingerprint, method_fingerprint

BASELINES = Path(baselines.__file__).parent


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the package's code to edit."""
    return Path(
        shutil.copytree(PACKAGE, tmp_path / "peppp_bench", ignore=shutil.ignore_patterns("data", "__pycache__"))
    )


@pytest.mark.parametrize(
    "module",
    [
        "__init__.py",
        "board/leaderboard.py",
        "board/verify.py",
        "protocol/zygote.py",
        "protocol/kernel.py",
        "numerics.py",
    ],
)
def test_an_edit_to_any_module_a_verdict_imports_makes_every_mark_stale(package: Path, module: str) -> None:
    before = harness_fingerprint(package)
    with open(package / module, "a") as f:
        f.write("\nPATCHED = True\n")
    assert harness_fingerprint(package) != before


def test_a_module_added_later_is_bound_as_soon_as_the_harness_imports_it(package: Path) -> None:
    (package / "protocol" / "extra.py").write_text("LIMIT = 1\n")
    alone = harness_fingerprint(package)  # imported by nothing yet: not part of any verdict
    with open(package / "protocol" / "scoring.py", "a") as f:
        f.write("\nfrom . import extra  # noqa\n")
    imported = harness_fingerprint(package)
    assert imported != alone
    (package / "protocol" / "extra.py").write_text("LIMIT = 2\n")
    assert harness_fingerprint(package) != imported


def test_comments_and_code_no_verdict_imports_leave_marks_fresh(package: Path) -> None:
    before = harness_fingerprint(package)
    with open(package / "board" / "leaderboard.py", "a") as f:
        f.write("\n# a comment runs nothing\n")
    with open(package / "generate" / "train.py", "a") as f:
        f.write("\nTRAINING_ONLY = True\n")
    assert harness_fingerprint(package) == before


@pytest.mark.parametrize("module", ["__init__.py", "gaussian_process.py", "plugin.py"])
def test_a_registered_methods_mark_binds_its_whole_package(tmp_path: Path, module: str) -> None:
    copy = Path(shutil.copytree(BASELINES, tmp_path / "baselines", ignore=shutil.ignore_patterns("__pycache__")))
    before = method_fingerprint(copy / "experiment_design.py")
    with open(copy / module, "a") as f:
        f.write("\nEDMF.predict = lambda self, task, measured: None\n")  # the patch of the package's __init__
    assert method_fingerprint(copy / "experiment_design.py") != before


def test_trust_follows_the_installed_files_not_a_module_name(tmp_path: Path) -> None:
    """A copy of `baselines` earlier on the path is somebody else's code: not nested, never a reference bound."""
    shutil.copytree(BASELINES, tmp_path / "baselines", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import baselines\n"
        "from peppp_bench.protocol import registry\n"
        "print(baselines.__file__)\n"
        "print(registry.home_method('ed-mf'), registry.reference_bound('baselines:OracleBound'))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr
    where, trusted = out.stdout.splitlines()
    assert where.startswith(str(tmp_path)) and trusted == "None False"
    from peppp_bench.protocol import registry  # the installed one, here

    assert registry.home_method("ed-mf") is not None and registry.reference_bound("baselines:OracleBound")
