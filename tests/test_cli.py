"""The command line as a newcomer meets it: a version, help and an example for everything, one default suite
and budgets shared with Python, method files named relative to where you stand, normal file permissions."""

from __future__ import annotations

import argparse
import inspect
import os
import stat
from pathlib import Path

import pytest

import peppp_bench
from peppp_bench.cli import main, parser
from tests.conftest import USER_METHOD, make_tiny_suite, submit_args


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser()._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            found[name] = sub
            for nested in sub._subparsers._group_actions if sub._subparsers else ():
                found.update({f"{name} {n}": s for n, s in nested.choices.items()})
    return found


def test_version_and_every_option_has_help_and_every_subcommand_an_example(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"peppp-bench {peppp_bench.__version__}"
    undocumented = [
        f"{name}: {action.option_strings or action.dest}"
        for name, sub in _subcommands().items()
        for action in sub._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert not undocumented
    no_example = [name for name, sub in _subcommands().items() if "example: peppp-bench" not in (sub.epilog or "")]
    assert not no_example, no_example


def test_python_and_the_command_line_share_the_default_suite_and_budgets() -> None:
    from peppp_bench.protocol.runner import STANDARD_BUDGETS, STANDARD_SEEDS, evaluate

    defaults = inspect.signature(evaluate).parameters
    ev = _subcommands()["evaluate"]
    cli = {a.dest: a.default for a in ev._actions}
    assert defaults["suite"].default == cli["suite"] == inspect.signature(peppp_bench.load).parameters["name"].default
    assert list(defaults["budgets"].default) == list(STANDARD_BUDGETS) == [5, 10, 15] and cli["budgets"] == "5,10,15"
    assert list(defaults["seeds"].default) == list(STANDARD_SEEDS) == list(range(10)) and cli["seeds"] == "0-9"


def test_a_method_file_is_found_relative_to_where_the_command_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    make_tiny_suite(tmp_path / "data" / "tiny")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "my_method.py").write_text(USER_METHOD)
    monkeypatch.chdir(tmp_path / "work")
    args = [
        "--suite",
        "tiny",
        "--data-dir",
        str(tmp_path / "data"),
        "--settings",
        "I",
        "--budgets",
        "5",
        "--workers",
        "1",
    ]
    assert main(["evaluate", "my_method.py:CheapMean", *args, "--quiet"]) == 0
    assert "cheap-mean" in capsys.readouterr().out
    assert main(["submit", "my_method.py:CheapMean", "--smoke", *submit_args(tmp_path / "data", tmp_path / "lb")]) == 0


def test_files_the_board_writes_have_normal_permissions(tmp_path: Path) -> None:
    from peppp_bench.files import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "index.html", "<p>board</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "index.html").stat().st_mode) == 0o644


def test_the_paper_load_error_names_the_build_command(monkeypatch) -> None:
    monkeypatch.setenv("PEPPP_BENCH_OFFLINE", "1")
    with pytest.raises(peppp_bench.SuiteError, match="peppp-bench build paper"):
        peppp_bench.load("paper")


def test_the_package_cache_is_its_own(monkeypatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    from peppp_bench.suites.download import built_cache, upstream_cache

    monkeypatch.delenv("PEPPP_BENCH_CACHE")
    hf = Path(constants.HF_HUB_CACHE).resolve()
    for folder in (built_cache(), upstream_cache()):
        assert hf not in folder.resolve().parents and "peppp-bench" in str(folder)


def test_submit_outside_a_clone_refuses_without_a_board(tmp_path: Path, capsys, monkeypatch) -> None:
    """Run from the folder holding one's method, submit must not start a board of its own unawares."""
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "ed-mf", "--suite", "mini"]) == 2
    err = capsys.readouterr().err
    assert "no board found" in err and "--board PATH" in err and "--new-board" in err
    assert not (tmp_path / "leaderboard").exists()


def test_submit_inside_a_clone_finds_its_board(tmp_path: Path, monkeypatch) -> None:
    from peppp_bench.cli import _submission_board

    root = tmp_path / "clone"
    (root / "leaderboard" / "submissions").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "my" / "methods").mkdir(parents=True)
    monkeypatch.chdir(root / "my" / "methods")
    assert _submission_board(None, False) == (root / "leaderboard").resolve()
    assert _submission_board(str(tmp_path / "new"), True) == (tmp_path / "new").resolve()
