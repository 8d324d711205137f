"""Analyse a round of modern-mini 2's pilot by pixel gain (rows ending -g32th: 1/32; the others: 1); prints Markdown.

    python datasets/modern-mini/pilot/analyse.py STORE

For each gain, the round's rule (PILOT.md), from its own seeds: the configuration main effect's F and p against
seed noise, interaction over seed noise, the share of tasks whose configuration order holds between seed 0 and
the other seeds (Kendall τ ≥ 0.5), and the configurations identical in every task and seed; then each task's
fp32 error, its spread of configuration means, and its best and worst configurations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "mini" / "pilot"))
from pilot import read  # noqa: E402

from peppp_bench.suites.structure import duplicate_columns, seed_group_tau, two_way  # noqa: E402


def main(store: Path) -> None:
    tasks, ids, seeds, errors, _ = read(store)
    print(f"## {len(tasks)} rows × {len(ids)} configurations × {len(seeds)} seeds ({store.name})\n")
    header = "gain | rows | configuration F (p) | interaction / seed noise | τ ≥ 0.5 (seed 0 vs the others) | identical"
    print(f"| {header} columns |")
    print("| --- | --- | --- | --- | --- | --- |")
    gains = {"1/32": [i for i, t in enumerate(tasks) if t.endswith("-g32th")]}
    gains["1"] = [i for i in range(len(tasks)) if i not in gains["1/32"]]
    for gain, rows in gains.items():
        part = errors[rows]
        report = two_way(part)
        taus = seed_group_tau(part, ([0], list(range(1, len(seeds)))))
        same = duplicate_columns(part, ids)
        print(
            f"| {gain} | {len(rows)} | {report['configuration_f']:.1f} ({report['configuration_p']:.2g}) | "
            f"{report['interaction_over_noise']:.2f} | {np.mean(np.nan_to_num(taus) >= 0.5):.0%} | "
            f"{'; '.join(', '.join(g) for g in same) or 'none'} |"
        )
    print("\n| row | fp32 error (seed mean) | spread of configuration means | best | worst |")
    print("| --- | --- | --- | --- | --- |")
    fp32 = ids.index("fp32")
    for i, task in enumerate(tasks):
        means = errors[i].mean(axis=1)
        print(
            f"| {task} | {means[fp32]:.3f} | {means.max() - means.min():.3f} | {ids[int(means.argmin())]} "
            f"{means.min():.3f} | {ids[int(means.argmax())]} {means.max():.3f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
