"""Analyse round 1 of mini-arch 2's pilot (PILOT.md); prints Markdown.

    python datasets/mini-arch/pilot/analyse.py STORE

For each network, over the rows it has finished and seeds 0-2: the configuration main effect's F and p
against seed noise, interaction over seed noise, the share of tasks whose configuration order holds between
seed 0 and seeds 1-2 (Kendall τ ≥ 0.5), and the configurations identical in every task and seed, beside the
same for mini's own network on the same tasks and seeds (from mini's replicates). Then, per task, Kendall τ
between two networks' configuration orders (seed means), which the cross-architecture settings lean on.
"""

from __future__ import annotations

import sys
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "mini" / "pilot"))
from pilot import read  # noqa: E402

import peppp_bench  # noqa: E402
from peppp_bench.suites.structure import duplicate_columns, seed_group_tau, two_way  # noqa: E402

MINI = "vgg-mini"  # mini's own network: channels 8, 16, 32, one convolution per stage


def main(store: Path) -> None:
    rows, ids, seeds, errors, _ = read(store)
    cubes = by_network(rows, errors)
    tasks = sorted({task for network in cubes.values() for task in network}, key=[r.split("--")[0] for r in rows].index)
    cubes = {MINI: mini_cube(tasks, ids, seeds), **cubes}
    print(f"## {len(rows)} finished rows × {len(ids)} configurations × seeds {seeds} ({store.name})\n")
    print(
        "| network | rows | configuration F (p) | interaction / seed noise | τ ≥ 0.5 (seed 0 vs the others) | "
        "identical columns |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for network, by_task in cubes.items():
        cube = np.stack(list(by_task.values()))
        report = two_way(cube) if len(cube) > 1 else None
        taus = seed_group_tau(cube, ([0], list(range(1, len(seeds)))))
        same = duplicate_columns(cube, ids)
        effect = "– | –"
        if report is not None:
            effect = (
                f"{report['configuration_f']:.1f} ({report['configuration_p']:.2g}) | "
                f"{report['interaction_over_noise']:.2f}"
            )
        print(
            f"| {network} | {len(cube)} | {effect} | {np.mean(np.nan_to_num(taus) >= 0.5):.0%} "
            f"| {'; '.join(', '.join(g) for g in same) or 'none'} |"
        )
    print("\n| task | " + " | ".join(f"τ {a} vs {b}" for a, b in combinations(cubes, 2)) + " |")
    print("| --- |" + " --- |" * len(list(combinations(cubes, 2))))
    for task in tasks:
        cells = []
        for a, b in combinations(cubes, 2):
            if task in cubes[a] and task in cubes[b]:
                cells.append(f"{kendalltau(cubes[a][task].mean(1), cubes[b][task].mean(1)).statistic:.2f}")
            else:
                cells.append("–")
        print(f"| {task} | " + " | ".join(cells) + " |")


def by_network(rows: list[str], errors: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """errors[configuration, seed] of each finished row, by network and task (rows are TASK--NETWORK)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for row, cube in zip(rows, errors):
        task, network = row.rsplit("--", 1)
        out.setdefault(network, {})[task] = cube
    return out


def mini_cube(tasks: list[str], ids: list[str], seeds: list[int]) -> dict[str, np.ndarray]:
    """mini's errors[configuration, seed] of these tasks, configurations and seeds, from its replicates."""
    reps = peppp_bench.load("mini").replicates
    assert reps is not None
    table = reps[reps.seed.isin(seeds)].set_index(["dataset_id", "config_id", "seed"]).error
    return {t: np.array([[table[(t, c, s)] for s in seeds] for c in ids]) for t in tasks}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
