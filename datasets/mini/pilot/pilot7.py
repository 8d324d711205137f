"""Pilot round 7 of mini: does the width of mini's configuration space make the baselines rank unlike `paper`?

    python datasets/mini/pilot/pilot7.py suites PAPER_SUITE OUT --seed S [--rows R]  # two variants of `paper`
    python datasets/mini/pilot/pilot7.py table BOARD SUITE OUT/pilot7-SUITE.parquet  # a study's per-dataset means
    python datasets/mini/pilot/pilot7.py report OUT  # the round's Markdown (PILOT.md, round 7), from OUT's tables
    python datasets/mini/pilot/pilot7.py format-b PAPER_SUITE  # does Format B change the error, within each Format A?

`suites` writes, from a built `paper` suite folder, `paper-rR-sS` (R of its 87 datasets drawn with seed S, all
99 configurations; R is 34, mini's rows, unless given) and `paper-rRc33-sS` (the same rows, the 33
configurations with Format B's exponent at 6 bits: mini's configuration space). Both are scored against their
own matrix, as `paper` is, so the two differ only in width. `table` keeps a study's per-dataset means (as
pilot6.py's). Both write only outside the repository: what they write is derived from the authors' values and
is never committed. `report` prints each variant's mean Kendall τ with the full `paper` board over the 12
non-trivial baselines and I-IV, with a bootstrap interval over the variant's datasets, and the same without
ed-mf-memory, from the tables `pilot7-*.parquet` in OUT. `format-b` tests, within each Format A, whether
Format B's options change the error: on `paper` (one run per cell) against the dataset × Format B
interaction, on `mini` against its six seeds (`two_way`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pilot6 import BOARD, agreement_cells, means, table, wide

import peppp_bench
from peppp_bench.suites.structure import two_way
from peppp_bench.suites.suite import read_suite, replicate_cube, write_suite

REPOSITORY = Path(__file__).resolve().parents[3]
ROWS = 34  # mini's rows


def outside_repository(path: Path) -> Path:
    """`path`, refused (before anything is written) if it lies in this repository: what is derived from
    `paper` is never committed."""
    if path.resolve().is_relative_to(REPOSITORY):
        sys.exit(f"{path} is inside the repository; write what is derived from paper elsewhere (e.g. /tmp)")
    return path


def suites(paper_folder: Path, out: Path, seed: int, n_rows: int = ROWS) -> list[Path]:
    """The two variants of `paper` on the same `n_rows` datasets drawn with `seed`."""
    outside_repository(out)
    paper = read_suite(paper_folder)
    rows = np.sort(np.random.default_rng(seed).choice(len(paper.datasets), n_rows, replace=False))
    configurations = paper.configurations.reset_index(drop=True)
    narrow = np.flatnonzero(configurations["b_exp"].to_numpy() == 6)
    written = []
    wide_name, narrow_name = f"paper-r{n_rows}-s{seed}", f"paper-r{n_rows}c33-s{seed}"
    for name, cols in ((wide_name, np.arange(len(configurations))), (narrow_name, narrow)):
        written.append(
            write_suite(
                out / name,
                name=name,
                version="0.0.0",
                error=paper.E[np.ix_(rows, cols)],
                memory=paper.M[np.ix_(rows, cols)],
                datasets=paper.datasets.iloc[rows].reset_index(drop=True),
                description=f"Pilot round 7: paper's rows {rows.tolist()} (seed {seed}), {len(cols)} configurations.",
                provenance={"command": " ".join(sys.argv), "paper_data_sha256": paper.data_sha256, "seed": seed},
                configurations=configurations.iloc[cols].reset_index(drop=True),
            )
        )
    return written


def report(tables: Path, resamples: int = 1000, seed: int = 0) -> str:
    reference = means(wide(table(BOARD, "paper")))
    rng = np.random.default_rng(seed)
    lines = [
        "| variant | datasets | columns | mean τ with paper [95 % interval] | without ed-mf-memory |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path in sorted(tables.glob("pilot7-*.parquet")):
        mine = wide(pd.read_parquet(path))
        cols = agreement_cells(reference, mine, rng, resamples)
        columns = 33 if "c33" in path.stem else 99
        lines.append(f"| `{path.stem.removeprefix('pilot7-')}` | {mine.shape[1]} | {columns} | {cols[0]} | {cols[1]} |")
    return "\n".join(lines)


def _blocked_f(errors: np.ndarray) -> tuple[float, float]:
    """F and p of the column effect in `errors[row, column]` with rows as blocks (one value per cell)."""
    from scipy.stats import f as f_dist

    n, k = errors.shape
    residual = errors - errors.mean(1, keepdims=True) - errors.mean(0, keepdims=True) + errors.mean()
    f = n * float(((errors.mean(0) - errors.mean()) ** 2).sum()) / (k - 1)
    f /= float((residual**2).sum()) / ((n - 1) * (k - 1))
    return f, float(f_dist.sf(f, k - 1, (n - 1) * (k - 1)))


def format_b(paper_folder: Path) -> str:
    """Per Format A, the F (p) of Format B's effect on the error, on `paper` and on `mini`; and Format A's own."""
    paper, mini = read_suite(paper_folder), peppp_bench.load("mini")
    cube = replicate_cube(mini.replicates, list(mini.datasets.dataset_id), list(mini.configurations.config_id), True)
    lines = ["| Format A | `paper`: F (p), 9 options of B | `mini`: F (p), 3 options of B |", "| --- | --- | --- |"]
    a_means, a_cube = [], []
    for e, m in mini.configurations[["a_exp", "a_man"]].drop_duplicates().itertuples(index=False):
        on_paper = paper.E[:, ((paper.configurations.a_exp == e) & (paper.configurations.a_man == m)).to_numpy()]
        on_mini = ((mini.configurations.a_exp == e) & (mini.configurations.a_man == m)).to_numpy()
        seeds = two_way(np.moveaxis(cube[:, :, on_mini], 0, 2))  # task × B option × seed
        f, p = _blocked_f(on_paper)
        mini_f = f"{seeds['configuration_f']:.2f} ({seeds['configuration_p']:.2g})"
        lines.append(f"| e{e}m{m} | {f:.2f} ({p:.2g}) | {mini_f} |")
        a_means.append(on_paper.mean(axis=1))
        a_cube.append(cube[:, :, on_mini].mean(axis=2))  # seed × task
    f, p = _blocked_f(np.stack(a_means, axis=1))
    seeds = two_way(np.stack(a_cube, axis=2).transpose(1, 2, 0))  # task × A option × seed
    mini_f = f"{seeds['configuration_f']:.1f} ({seeds['configuration_p']:.2g})"
    lines.append(f"| Format A's own effect (B averaged) | {f:.1f} ({p:.2g}) | {mini_f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    suites_args = sys.argv[1:2] == ["suites"] and sys.argv[4:5] == ["--seed"]
    if suites_args and (len(sys.argv) == 6 or (len(sys.argv) == 8 and sys.argv[6] == "--rows")):
        rows = int(sys.argv[7]) if len(sys.argv) == 8 else ROWS
        for folder in suites(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[5]), rows):
            print(folder)
    elif sys.argv[1:2] == ["table"] and len(sys.argv) == 5:
        table(Path(sys.argv[2]), sys.argv[3]).to_parquet(outside_repository(Path(sys.argv[4])), index=False)
    elif sys.argv[1:2] == ["report"] and len(sys.argv) == 3:
        print(report(Path(sys.argv[2])))
    elif sys.argv[1:2] == ["format-b"] and len(sys.argv) == 3:
        print(format_b(Path(sys.argv[2])))
    else:
        sys.exit(__doc__)
