"""The screen of candidate tasks of rounds 8 and 9 (PILOT.md): per task, the mean Kendall τ between single seeds'
configuration orders over every pair of its seeds, the τ between means of four and of six seeds that this
predicts, and whether the task is kept (mean τ ≥ BAR); prints Markdown, and with --kept FILE writes the kept
tasks, best first. Stores of other tasks on the same seeds and configurations are pooled (round 9 adds
candidates to round 8's).

    python datasets/modern-mini/pilot/screen.py [--kept FILE] STORE [STORE ...]
    python datasets/modern-mini/pilot/screen.py --calibrate   # the bar on rounds 5-7's rows, seeds 0-7

The prediction: Greiner's relation ρ = sin(πτ/2) turns a single seed's τ into a correlation, Spearman-Brown
turns it into the correlation of two means of four seeds, and τ = (2/π) arcsin ρ back into Kendall's τ.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from analyse import read_all

from peppp_bench.suites.structure import seed_group_tau

HERE = Path(__file__).resolve().parent
BAR = 0.344  # a single seed's τ that predicts τ = 0.60 between means of four seeds


def pair_tau(errors: np.ndarray, seeds: list[int]) -> np.ndarray:
    """Per row, the mean over every pair of the given seed positions of Kendall τ between the two seeds' orders."""
    pairs = [seed_group_tau(errors, ([a], [b])) for a, b in itertools.combinations(seeds, 2)]
    return np.nanmean(pairs, axis=0)


def predicted(tau: np.ndarray | float, k: int = 4) -> np.ndarray:
    """The τ between means of k seeds that a single seed's τ predicts (Greiner, then Spearman-Brown)."""
    rho = np.clip(np.sin(np.pi * np.asarray(tau) / 2), 0, 1)
    return 2 / np.pi * np.arcsin(k * rho / (1 + (k - 1) * rho))


def read_tasks(stores: list[Path]) -> tuple[list[str], list[str], list[int], np.ndarray]:
    """The finished tasks of every store, which must hold the same configurations and seeds, as one table."""
    parts = [read_all([store]) for store in stores]
    if any((ids, seeds) != parts[0][1:3] for _, ids, seeds, _ in parts):
        raise SystemExit("the screen pools stores of the same configurations and seeds only")
    tasks = [t for p in parts for t in p[0]]
    if len(set(tasks)) != len(tasks):
        raise SystemExit("two stores hold the same task")
    return tasks, parts[0][1], parts[0][2], np.concatenate([p[3] for p in parts])


def screen(stores: list[Path], kept_file: Path | None) -> None:
    tasks, ids, seeds, errors = read_tasks(stores)
    taus = pair_tau(errors, list(range(len(seeds))))
    keep = taus >= BAR
    print(f"## {len(tasks)} tasks × {len(ids)} configurations × seeds {', '.join(map(str, seeds))}: "
          f"{keep.sum()} kept (mean pair τ ≥ {BAR})\n")  # fmt: skip
    print("| task | mean pair τ | predicted τ, 4 vs 4 seeds | 6 vs 6 seeds | kept | fp32 error | spread of "
          "configuration means |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    fp32 = ids.index("fp32")
    for i in np.argsort(-taus, kind="stable"):
        means = errors[i].mean(axis=1)
        print(
            f"| {tasks[i]} | {taus[i]:.2f} | {predicted(taus[i]):.2f} | {predicted(taus[i], 6):.2f} | "
            f"{'yes' if keep[i] else 'no'} | {means[fp32]:.3f} | {np.ptp(means):.3f} |"
        )
    if kept_file is not None:
        kept_file.write_text("".join(f"{tasks[i]}\n" for i in np.argsort(-taus, kind="stable") if keep[i]))


def calibrate() -> None:
    """How often rounds 5-7's rows pass the bar on three of their seeds, against their τ between seeds 0-3 and 4-7."""
    keep = (HERE / "round7-configurations.txt").read_text().split()
    cells = [HERE / f"round{r}-cells.parquet" for r in (5, 6, 7)]
    tasks, ids, seeds, errors = read_all(cells)
    errors = errors[:, [ids.index(c) for c in keep]]
    halves = seed_group_tau(errors, ([0, 1, 2, 3], [4, 5, 6, 7]))
    triples = np.array([pair_tau(errors, list(t)) for t in itertools.combinations(range(len(seeds)), 3)])
    print(f"## The bar on {len(tasks)} rows of rounds 5-7, over all {len(triples)} triples of seeds 0-7\n")
    print("| row | τ, seeds 0-3 vs 4-7 | mean pair τ of a triple (mean, range) | predicted τ | triples kept |")
    print("| --- | --- | --- | --- | --- |")
    for i in np.argsort(-halves):
        t = triples[:, i]
        print(
            f"| {tasks[i]} | {halves[i]:.2f} | {t.mean():.2f} ({t.min():.2f}-{t.max():.2f}) | "
            f"{predicted(t.mean()):.2f} | {np.mean(t >= BAR):.0%} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The screen of candidate tasks of rounds 8 and 9 (PILOT.md).")
    parser.add_argument("stores", nargs="*", type=Path, help="generation stores or committed cells tables")
    parser.add_argument("--kept", type=Path, help="write the kept tasks here, best first")
    parser.add_argument("--calibrate", action="store_true", help="the bar on rounds 5-7's rows, seeds 0-7")
    args = parser.parse_args()
    if args.calibrate:
        calibrate()
    elif args.stores:
        screen(args.stores, args.kept)
    else:
        parser.error("give the stores to screen, or --calibrate")
