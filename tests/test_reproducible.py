"""Every bundled method reproduces its folds on any x86-64 CPU and any number of BLAS threads, and the board
built from them is the same number for number.

numpy's OpenBLAS picks its kernels by processor; `OPENBLAS_CORETYPE=Prescott` makes it run the generic
kernels every x86-64 CPU has, so one machine shows what another CPU computes; with two BLAS threads beside, the
run is that of another machine in both respects. Where the environment sets
`OPENBLAS_CORETYPE` already (some processors need it), the run "as the machine is" keeps it. The folds
must reproduce by verification's rule (`same_folds`): exact but for a near-tie flipped on at most 1 % of
them, every cell's mean within 1e-4.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from peppp_bench.board.leaderboard import same_folds

RUN = """
import sys
import peppp_bench
from peppp_bench.protocol import registry
ev = peppp_bench.evaluate(registry.names(), "mini", settings=("I", "III", "V"), budgets=(5, 10), seeds=(0,),
                          workers=1, progress=False)
ev.results.to_parquet(sys.argv[1])
"""
COLUMNS = ["setting", "seed", "dataset_id", "n", "frontier_regret", "convergence", "hyperdiff", "regret",
           "relative_memory", "n_measured", "status", "reason"]  # fmt: skip


BOARD = """
import json, sys
from pathlib import Path
from peppp_bench.board.render import board_tables
subs = [json.loads(p.read_text()) for p in sorted(Path(sys.argv[2]).glob("mini-arch--*.json"))]
for i, table in enumerate(board_tables(subs)):
    table.to_parquet(f"{sys.argv[1]}-{i}.parquet")
"""
SUBMISSIONS = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions"


def _run(script: str, out: Path, *args: str, **env: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", script, str(out), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]


def _folds(tmp_path: Path, name: str, **env: str) -> pd.DataFrame:
    _run(RUN, tmp_path / f"{name}.parquet", **env)
    return pd.read_parquet(tmp_path / f"{name}.parquet")


@pytest.mark.slow(seconds=85)
@pytest.mark.skipif(platform.machine() != "x86_64", reason="OPENBLAS_CORETYPE=Prescott names an x86-64 core")
def test_every_bundled_method_reproduces_under_other_blas_kernels_and_thread_counts(tmp_path: Path) -> None:
    mine = _folds(tmp_path, "mine")
    other = _folds(tmp_path, "other", OPENBLAS_CORETYPE="Prescott", OPENBLAS_NUM_THREADS="2")  # another machine
    for method, folds in mine.groupby("method"):
        again = other[other.method == method]
        table = lambda f: {"columns": COLUMNS, "rows": f[COLUMNS].values.tolist()}  # noqa: E731
        assert same_folds(table(again), table(folds)), method


@pytest.mark.slow(seconds=30)
@pytest.mark.skipif(platform.machine() != "x86_64", reason="OPENBLAS_CORETYPE=Prescott names an x86-64 core")
def test_the_board_is_the_same_under_other_blas_kernels_and_thread_counts(tmp_path: Path) -> None:
    """The board's tables of the committed `mini-arch` submissions (cells, comparisons, transfer cells: bootstrap
    sums run through BLAS) come out bit for bit the same on another CPU."""
    _run(BOARD, tmp_path / "mine", str(SUBMISSIONS))
    _run(BOARD, tmp_path / "other", str(SUBMISSIONS), OPENBLAS_CORETYPE="Prescott", OPENBLAS_NUM_THREADS="2")
    for i in range(3):
        mine, other = (pd.read_parquet(tmp_path / f"{name}-{i}.parquet") for name in ("mine", "other"))
        assert len(mine) and mine.columns.equals(other.columns)
        pd.testing.assert_frame_equal(other, mine, check_exact=True)
