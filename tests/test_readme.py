"""The README's commands, run as written: loading, evaluating, and a contributor's path (evaluate, submit,
validate, build) from a clone that has no `paper` suite, which must leave the board's `paper` part as it was."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peppp_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def commands(heading: str) -> list[str]:
    """The indented `peppp-bench` command lines of one `## section` of the README, in order."""
    text = section(README, f"## {heading}")
    return [line.strip() for line in text.splitlines() if line.startswith("    peppp-bench ")]


def paper_part(board: dict) -> dict:
    """Everything board.json says about the `paper` suite."""
    return {
        "cells": [c for c in board["cells"] if c["suite"] == "paper"],
        "comparisons": [c for c in board["comparisons"] if c["suite"] == "paper"],
        "verified": [v for v in board["verified"] if v.endswith("@paper")],
    }


def section(markdown: str, heading: str) -> str:
    """The text under `heading` up to the next heading of its level."""
    level = heading.split()[0]
    return markdown.split(f"\n{heading}\n", 1)[1].split(f"\n{level} ", 1)[0]


def test_the_readme_names_only_commands_that_exist() -> None:
    """Every `peppp-bench` command line of the README parses (a renamed option fails here, not for a reader)."""
    from peppp_bench.cli import parser

    lines = [line.strip() for line in README.splitlines() if line.strip().startswith("peppp-bench ")]
    lines += re.findall(r"`(peppp-bench [^`]+)`", README)
    assert len(lines) > 10
    for line in lines:
        words = [w for w in shlex.split(line.split("&&")[0]) if w not in ("...", "…")]
        if words[1:2] == ["leaderboard"] and len(words) == 2 or "STORE" in words:
            continue  # a group named in prose; a placeholder
        parser().parse_args(words[1:])


def test_earlier_versions_are_at_the_commits_the_datasets_page_names() -> None:
    """Each `git archive SHA peppp_bench/data/SUITE` of datasets/README.md gives that suite at the version
    the sentence names (a commit, not a tag: a clone keeps every commit, not always its tags)."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs the repository's history")
    page = (ROOT / "datasets" / "README.md").read_text()
    found = re.findall(r"(\d+\.\d+\.\d+)[^|]*?`git archive ([0-9a-f]{12}) peppp_bench/data/([a-z-]+) ", page)
    assert {suite for _, _, suite in found} >= {"mini", "mini-arch", "modern-mini"}, found
    for version, commit, suite in found:
        shown = subprocess.run(
            ["git", "show", f"{commit}:peppp_bench/data/{suite}/metadata.json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(shown.stdout)["version"] == version, (suite, commit)


def test_the_load_example_runs_offline() -> None:
    load = python_blocks()[0]
    assert "peppp_bench.load" in load
    exec(compile(load, "README.md (load)", "exec"), {})


def test_the_structure_sentence_is_mini_s_own_report() -> None:
    """The README's numbers on `mini`'s structure are those its metadata holds, and the criteria are met."""
    import peppp_bench
    from peppp_bench.suites.structure import missed_criteria

    s = peppp_bench.load("mini").metadata["structure"]
    said = re.search(
        r"configuration F (\d+), interaction ([\d.]+)× seed\s+noise, .*? in (\d+) % of tasks", README, re.S
    )
    assert said is not None and missed_criteria(s) == []
    assert said.groups() == (
        f"{s['two_way_configuration_f']:.0f}",
        f"{s['two_way_interaction_over_noise']:.1f}",
        f"{100 * s['seed_split_tau_share_at_least_0_5']:.0f}",
    )


def test_the_mini_arch_sentence_is_its_own_report_pooled_and_per_network() -> None:
    """The README's figures on `mini-arch` are its metadata's, pooled and as ranges over its networks."""
    import peppp_bench

    s = peppp_bench.load("mini-arch").metadata["structure"]
    nets = s["by_architecture"].values()
    said = re.search(
        r"`mini-arch` meets them pooled \(F ([\d,]+),\s+interaction ([\d.]+)×, τ ≥ 0.5 in (\d+) % of tasks\)"
        r"\s+and on each\s+network's rows \(F ([\d,]+) to ([\d,]+), interaction ([\d.]+)× to\s+([\d.]+)×,"
        r" (\d+) % to (\d+) %\);"
        r".*?at\s+mean τ (\d\.\d+)",
        README,
        re.S,
    )
    assert said is not None
    share = [n["seed_split_tau_share_at_least_0_5"] for n in nets]
    assert said.groups() == (
        f"{s['two_way_configuration_f']:,.0f}",
        f"{s['two_way_interaction_over_noise']:.1f}",
        f"{100 * s['seed_split_tau_share_at_least_0_5']:.0f}",
        f"{min(n['two_way_configuration_f'] for n in nets):,.0f}",
        f"{max(n['two_way_configuration_f'] for n in nets):,.0f}",
        f"{min(n['two_way_interaction_over_noise'] for n in nets):.1f}",
        f"{max(n['two_way_interaction_over_noise'] for n in nets):.1f}",
        f"{100 * min(share):.0f}",
        f"{100 * max(share):.0f}",
        f"{s['same_task_kendall_tau_across_architectures_mean']:.2f}",
    )


def test_the_modern_mini_sentence_is_its_own_report() -> None:
    """The README's figures on `modern-mini` (today's formats) are its metadata's, and the criteria are met."""
    import peppp_bench
    from peppp_bench.suites.structure import missed_criteria

    bench = peppp_bench.load("modern-mini")
    s = bench.metadata["structure"]
    said = re.search(
        r"`modern-mini` meets\s+them\s+in\s+today's\s+formats\s+\(F ([\d,]+),\s+interaction ([\d.]+)×,\s+τ ≥ 0.5"
        r"\s+in\s+(\d+) %\s+of\s+tasks\)",
        README,
    )
    assert said is not None and missed_criteria(s) == []
    assert said.groups() == (
        f"{s['two_way_configuration_f']:,.0f}",
        f"{s['two_way_interaction_over_noise']:.1f}",
        f"{100 * s['seed_split_tau_share_at_least_0_5']:.0f}",
    )
    mean = bench.error.mean()  # over tasks, of the measured seeds' mean
    relative = bench.memory.div(bench.memory["fp32"], axis=0).median()
    said = re.search(
        r"fp32 has the lowest mean error\s+\(([\d.]+)\), NVFP4 in every role costs ([\d.]+) of its memory at ([\d.]+),"
        r"\s+FP4 activations with one scale per tensor reach\s+([\d.]+)\.",
        README,
    )
    assert said is not None and mean.idxmin() == "fp32" and relative.idxmin() == "all-e2m1nvfp4"
    assert said.groups() == (
        f"{mean['fp32']:.3f}",
        f"{relative['all-e2m1nvfp4']:.2f}",
        f"{mean['all-e2m1nvfp4']:.3f}",
        f"{max(mean['a-e2m1cur'], mean['wa-e2m1cur']):.2f}",
    )


def a_clone(tmp_path: Path) -> Path:
    """A folder laid out as a clone of this repository as a contributor has it: the board, pyproject.toml, and
    the README's method as my_method.py; no `paper` suite anywhere."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "leaderboard", clone / "leaderboard")
    shutil.copy(ROOT / "pyproject.toml", clone / "pyproject.toml")
    (clone / "my_method.py").write_text(python_blocks()[1])
    return clone


@pytest.mark.slow(seconds=85)
def test_the_evaluate_example_runs_as_a_script_and_from_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, os_sandbox: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's method file runs as a script, and its Evaluate command as written."""
    monkeypatch.chdir(a_clone(tmp_path))
    script = subprocess.run([sys.executable, "my_method.py"], capture_output=True, text=True, timeout=900)
    assert script.returncode == 0, script.stderr[-2000:]
    assert "cheapest" in script.stdout and "frontier_regret" in script.stdout
    (step,) = commands("Evaluate")
    assert main(shlex.split(step)[1:] + ["--quiet"]) == 0
    assert "cheapest" in capsys.readouterr().out


@pytest.mark.slow(seconds=320)
def test_the_contributor_path_from_a_clone_without_paper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, os_sandbox: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's Submit commands, as written, in a clone with no `paper` suite: the method is submitted,
    verified and put on the `mini` board, and the `paper` part of board.json is byte for byte what it was."""
    clone = a_clone(tmp_path)
    before = paper_part(json.loads((clone / "leaderboard" / "board.json").read_text()))
    paper_section = section((clone / "leaderboard" / "README.md").read_text(), "## Suite `paper`")
    monkeypatch.chdir(clone)
    steps = commands("Submit")
    assert [s.split()[1] for s in steps] == ["submit", "leaderboard", "leaderboard"]
    for step in steps:
        assert main(shlex.split(step)[1:] + (["--quiet"] if step.split()[1] == "submit" else [])) == 0
        out = capsys.readouterr().out
        if step.split()[1] == "submit":
            assert "ranks" in out and "on mini in" in out
        if "validate" in step:
            assert "1 valid, 0 invalid" in out and "NOT verified" not in out

    board = json.loads((clone / "leaderboard" / "board.json").read_text())
    assert paper_part(board) == before
    assert "cheapest@mini" in board["verified"]
    assert any(c["method"] == "cheapest" and c["suite"] == "mini" for c in board["cells"])
    built = (clone / "leaderboard" / "README.md").read_text()
    assert section(built, "## Suite `paper`") == paper_section
    assert "Measuring every configuration" in section(built, "## Suite `mini`")  # its references, from the suite
    assert "What seed noise alone costs a choice" in section(built, "## Suite `mini`")


@pytest.mark.slow(seconds=90)
def test_the_generate_commands_make_a_suite_that_loads_and_evaluates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's spec and Generate commands, as written but for /tmp, make a suite of one task; `evaluate` on
    it exits 0, with the settings that need more rows refused and said."""
    import peppp_bench

    monkeypatch.chdir(tmp_path)
    spec = re.findall(r"^```toml\n(.*?)^```", README, flags=re.S | re.M)[0]
    (tmp_path / "myspec.toml").write_text(spec)
    steps = commands("Generate")
    assert [s.split()[1] for s in steps] == ["generate", "generate"]
    for step in steps:
        assert main(shlex.split(step.replace("/tmp/", f"{tmp_path}/"))[1:] + ["--quiet"] * ("--to-suite" in step)) == 0
    assert "0 remaining" in capsys.readouterr().out
    bench = peppp_bench.load("my-suite", data_dir="suites")
    assert bench.E.shape == (1, 99)
    assert main(["evaluate", "ed-mf", "--suite", "my-suite", "--data-dir", "suites", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "a suite of at least 2 datasets is needed" in captured.err and "(1 dataset)" in captured.out


@pytest.mark.slow
def test_the_first_command_scores_ed_mf_on_the_default_suite(capsys: pytest.CaptureFixture[str]) -> None:
    install_and_run = next(line for line in README.splitlines() if "pip install" in line)
    command = install_and_run.split("&&")[-1].strip()
    assert command == ".venv/bin/peppp-bench evaluate ed-mf"
    assert main(shlex.split(command)[1:]) == 0
    out = capsys.readouterr().out
    assert "ed-mf" in out and "frontier_regret_mean" in out
