"""Pilot round 6 of mini: why does mini rank the baselines less like `paper` than 0.7, and what would fix it?

    python datasets/mini/pilot/pilot6.py table BOARD SUITE OUT.parquet   # a study's per-dataset means (submissions)
    python datasets/mini/pilot/pilot6.py report                          # the round's Markdown (PILOT.md, round 6)

`table` keeps, of a study's submissions (`peppp-bench submit all --suite SUITE --board BOARD`), the mean frontier
regret over mask seeds of every (setting, n, method, dataset) in I-IV: what the agreement needs, without the
1.7 MB of folds per submission. `report` reads the committed tables beside this file (pilot6-*.parquet) and
`paper`'s committed submissions, and prints, per variant of the suite: the mean Kendall τ with `paper` over the
12 non-trivial baselines and the board's 12 I-IV cells (as `peppp-bench leaderboard agreement`, from the
submissions' means), with a 95 % bootstrap interval over the variant's datasets (a resample repeats
datasets, so its means are noisier and rank less alike: the interval sits below the point), and the same without
ed-mf-memory; and `paper`'s own agreement between disjoint sets of 34 of its datasets (its reproducibility at
mini's size).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from peppp_bench.board.agreement import TRIVIAL

HERE = Path(__file__).resolve().parent
BOARD = HERE.parents[2] / "leaderboard" / "submissions"
SETTINGS = ("I", "II", "III", "IV")
LEFT_OUT = ("oracle", *TRIVIAL)  # as board.agreement: the reference bound, and what needs no method
VARIANTS = {  # table file → what the variant is
    "pilot6-mini-2.0.parquet": "mini 2.0.0 as bundled: matrix = mean of seeds 0-2, scored against seed 3",
    "pilot6-nf3.parquet": "no scoring noise: matrix = mean of seeds 0-2, scored against itself (the paper's protocol)",
    "pilot6-s345.parquet": "matrix = mean of seeds 0-2, scored against the mean of seeds 3-5",
}


def table(board: Path, suite: str) -> pd.DataFrame:
    """Mean frontier regret over mask seeds per (setting, n, method, dataset_id), of the suite's submissions."""
    frames = []
    for path in sorted(board.glob(f"{suite}--*.json")):
        sub = json.loads(path.read_text())
        folds = pd.DataFrame(sub["folds"]["rows"], columns=sub["folds"]["columns"])
        folds = folds[folds.setting.isin(SETTINGS)].assign(method=sub["method"]["name"])
        frames.append(folds)
    if not frames:
        sys.exit(f"no submissions on suite {suite} in {board}")
    folds = pd.concat(frames)
    return folds.groupby(["setting", "n", "method", "dataset_id"], as_index=False).frontier_regret.mean()


def wide(per_dataset: pd.DataFrame) -> pd.DataFrame:
    """(setting, n, method) × dataset_id."""
    return per_dataset.pivot_table(index=["setting", "n", "method"], columns="dataset_id", values="frontier_regret")


def means(by_dataset: pd.DataFrame, datasets: np.ndarray | None = None) -> pd.Series:
    """Mean over datasets (the given ones, with repeats, or all) per (setting, n, method), to 6 significant
    digits as board.json holds them (so methods that tie there tie here)."""
    mean = (by_dataset if datasets is None else by_dataset[datasets]).mean(axis=1)
    return mean.map(lambda v: float(f"{v:.6g}"))


def mean_tau(reference: pd.Series, mine: pd.Series, leave_out: tuple[str, ...] = ()) -> float:
    """Kendall τ between the two suites' method means, per (setting, n) cell, averaged over the cells."""
    taus = []
    for (setting, n), ref in reference.groupby(level=["setting", "n"]):
        ref = ref.droplevel(["setting", "n"])
        other = mine.loc[setting, n]
        methods = sorted(set(ref.index) & set(other.index) - set(LEFT_OUT) - set(leave_out))
        taus.append(kendalltau(ref[methods], other[methods]).statistic)
    return float(np.mean(taus))


def agreement_cells(reference: pd.Series, mine: pd.DataFrame, rng: np.random.Generator, resamples: int) -> list[str]:
    """Mean τ of `mine` (a `wide` table) with `reference` and its 95 % bootstrap interval over `mine`'s datasets,
    as table cells: with all 12 methods, and without ed-mf-memory."""
    ids = np.array(mine.columns)
    cells = []
    for leave_out in ((), ("ed-mf-memory",)):
        point = mean_tau(reference, means(mine), leave_out)
        boot = [mean_tau(reference, means(mine, rng.choice(ids, len(ids))), leave_out) for _ in range(resamples)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        cells.append(f"{point:.2f} [{lo:.2f}, {hi:.2f}]")
    return cells


def report(resamples: int = 1000, seed: int = 0) -> str:
    paper = wide(table(BOARD, "paper"))
    reference = means(paper)
    rng = np.random.default_rng(seed)
    lines = [
        "| variant | mean τ with paper [95 % interval] | without ed-mf-memory |",
        "| --- | --- | --- |",
    ]
    for name, what in VARIANTS.items():
        if not (HERE / name).is_file():
            continue
        cols = agreement_cells(reference, wide(pd.read_parquet(HERE / name)), rng, resamples)
        lines.append(f"| {what} | {cols[0]} | {cols[1]} |")
    ids = np.array(paper.columns)
    halves = []
    for _ in range(200):
        order = rng.permutation(ids)
        halves.append(mean_tau(means(paper, order[:34]), means(paper, order[34:68])))
    lo, hi = np.percentile(halves, [5, 95])
    lines += [
        "",
        f"`paper` against itself, two disjoint random sets of 34 of its 87 datasets (200 draws): mean τ "
        f"{np.mean(halves):.2f} (5-95 %: {lo:.2f}-{hi:.2f}).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["table"] and len(sys.argv) == 5:
        table(Path(sys.argv[2]), sys.argv[3]).to_parquet(sys.argv[4], index=False)
    elif sys.argv[1:] == ["report"]:
        print(report())
    else:
        sys.exit(__doc__)
