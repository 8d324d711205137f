"""Analyse a round of modern-mini 2's pilot by network (rows TASK--NETWORK, where a round trains several) or
else by pixel gain (rows ending -g32th: 1/32; the others: 1); prints Markdown.

    python datasets/modern-mini/pilot/analyse.py STORE

For each group, the round's rule (PILOT.md), from its own seeds: the configuration main effect's F and p against
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
    groups = by_network(tasks) or by_gain(tasks)
    header = f"{'network' if '--' in tasks[0] else 'gain'} | rows | configuration F (p) | interaction / seed noise"
    header += " | τ ≥ 0.5 (seed 0 vs the others) | identical"
    print(f"| {header} columns |")
    print("| --- | --- | --- | --- | --- | --- |")
    for group, rows in groups.items():
        part = errors[rows]
        report = two_way(part)
        taus = seed_group_tau(part, ([0], list(range(1, len(seeds)))))
        same = duplicate_columns(part, ids)
        print(
            f"| {group} | {len(rows)} | {report['configuration_f']:.1f} ({report['configuration_p']:.2g}) | "
            f"{report['interaction_over_noise']:.2f} | {np.mean(np.nan_to_num(taus) >= 0.5):.0%} | "
            f"{'; '.join(', '.join(g) for g in same) or 'none'} |"
        )
    print("\n| row | τ, seed 0 vs the others | fp32 error (seed mean) | spread of configuration means | best | worst |")
    print("| --- | --- | --- | --- | --- | --- |")
    taus = seed_group_tau(errors, ([0], list(range(1, len(seeds)))))
    fp32 = ids.index("fp32")
    for i, task in enumerate(tasks):
        means = errors[i].mean(axis=1)
        print(
            f"| {task} | {taus[i]:.2f} | {means[fp32]:.3f} | {means.max() - means.min():.3f} | "
            f"{ids[int(means.argmin())]} {means.min():.3f} | {ids[int(means.argmax())]} {means.max():.3f} |"
        )


def by_network(rows: list[str]) -> dict[str, list[int]]:
    """Row positions by the network after "--" (empty where a round trains one network)."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if "--" in row:
            groups.setdefault(row.rsplit("--", 1)[1], []).append(i)
    return groups


def by_gain(rows: list[str]) -> dict[str, list[int]]:
    """Row positions by pixel gain: rows ending -g32th at 1/32, the others at 1."""
    low = [i for i, row in enumerate(rows) if row.endswith("-g32th")]
    groups = {"1/32": low, "1": [i for i in range(len(rows)) if i not in low]}
    return {gain: positions for gain, positions in groups.items() if positions}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
