"""Figures of a suite's data and of the study: written as PNG and SVG, computed from the suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peppp_bench
from peppp_bench.board import plots
from peppp_bench.cli import main
from peppp_bench.modern import modern_table
from peppp_bench.suites.structure import frontier_grouping, frontier_shares

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[1]


def test_frontier_shares_count_each_label_among_frontier_columns() -> None:
    labels = np.array([5, 5, 7, 9])
    assert frontier_shares(labels, np.array([0, 2, 2, 3])) == {5: 0.25, 7: 0.5, 9: 0.25}
    assert frontier_shares(np.array(["a", "b"]), np.array([1])) == {"a": 0.0, "b": 1.0}


def test_frontier_grouping_is_format_a_bits_for_paper_columns_and_weights_format_for_modern() -> None:
    mini = peppp_bench.load("mini")
    name, labels = frontier_grouping(mini.configurations)
    assert name == "format_a_bits" and list(labels) == list(mini.configurations.a_bits)
    name, labels = frontier_grouping(modern_table())
    assert name == "weights_format"
    assert dict(zip(modern_table().config_id, labels))["mxfp8-b32-opt-fp32"] == "fp8_e4m3 mx"
    assert dict(zip(modern_table().config_id, labels))["nvfp4-sr-opt-fp32"] == "fp4_e2m1 nvfp4"
    assert frontier_grouping(pd.DataFrame({"config_id": ["x"]})) is None


@pytest.mark.parametrize("kind", ["bits", "spectrum", "kendall", "frontier"])
def test_suite_figures_are_written(kind: str, tmp_path: Path, capsys) -> None:
    assert main(["plot", kind, "--suite", "mini", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert {Path(p).suffix for p in written} == {".png", ".svg"}
    assert all(Path(p).stat().st_size > 1000 for p in written)


def test_bits_figure_refuses_a_table_without_formats(tmp_path: Path) -> None:
    class NoFormats:
        name = "x"
        configurations = pd.DataFrame({"config_id": ["a"]})

    with pytest.raises(ValueError, match="neither Format A bits nor a weights format"):
        plots.bits_figure(NoFormats(), tmp_path)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_study_figures_from_the_committed_board(tmp_path: Path, capsys) -> None:
    assert main(["plot", "study", "--suite", "mini", "--board", str(ROOT / "leaderboard"), "--out", str(tmp_path)]) == 0
    names = {Path(p).name for p in capsys.readouterr().out.split()}
    assert {"mini-metrics-vs-n.png", "mini-metrics-vs-memory.svg", "mini-ranking.png"} <= names
