"""The board's tables from the committed submissions: each cell's cube built with numpy, against the pandas
pivot (group, unstack, drop) that built it before, in the same run, one call each (a call takes tens of seconds)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from peppp_bench.board import statistics
from peppp_bench.board.render import board_tables

SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"


def _pandas_cube(folds: pd.DataFrame, metric: str) -> statistics.Cube:
    """The reference: the same cube as a pandas pivot."""
    table = folds.groupby(["dataset_id", "seed", "method"])[metric].first().unstack("method")
    table = table.dropna(axis=1, how="all").dropna(axis=0, how="any").sort_index()
    seeds = sorted(set(table.index.get_level_values(1)))
    complete = table.groupby(level=0).size() == len(seeds)
    table = table[table.index.get_level_values(0).isin(complete[complete].index)]
    datasets = list(dict.fromkeys(table.index.get_level_values(0)))
    values = table.to_numpy(dtype=float).reshape(len(datasets), len(seeds), table.shape[1])
    return statistics.Cube(list(table.columns), datasets, values)


def test_board_tables_numpy_cubes_against_the_pandas_pivot(monkeypatch: pytest.MonkeyPatch) -> None:
    subs = [json.loads(p.read_text()) for p in sorted(SUBMISSIONS.glob("*.json"))]
    start = time.perf_counter()
    tables = board_tables(subs)
    fast = time.perf_counter() - start
    monkeypatch.setattr(statistics, "cube", _pandas_cube)
    start = time.perf_counter()
    reference = board_tables(subs)
    slow = time.perf_counter() - start
    for ours, theirs in zip(tables, reference):  # the same board but for the last bits of a mean's sum
        pd.testing.assert_frame_equal(ours, theirs, rtol=1e-12, atol=1e-15)
    print(
        f"\nboard tables, {len(subs)} submissions: numpy cubes {fast:.1f} s, pandas {slow:.1f} s ({slow / fast:.1f}×)"
    )
