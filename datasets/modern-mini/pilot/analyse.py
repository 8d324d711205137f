"""Analyse a round of modern-mini 2's pilot by network (rows TASK--NETWORK, where a round trains several) or
else by pixel gain (rows ending -g32th: 1/32; the others: 1); prints Markdown.

    python datasets/modern-mini/pilot/analyse.py [--configurations LIST] STORE [STORE ...]

A STORE is a generation store or a round's committed cells (ROUND-cells.parquet). Stores of the same
configurations hold other seeds of them (round 4 adds seeds 3-5 to round 3's); stores of other configurations
add those configurations, on the same seeds (round 7 adds 14 to rounds 5-6's). LIST, a file of configuration
ids one per line, keeps those (in its order) and drops the rest.
For each group, the round's rule (PILOT.md), from the seeds given: the configuration main effect's F and p
against seed noise, interaction over seed noise, the share of tasks whose configuration order holds between
two groups of seeds (Kendall τ ≥ 0.5: seed 0 against the others with 3 seeds, as a screen; the first half
against the second with more, as a suite is judged), and the configurations identical in every task and seed;
then each task's τ, fp32 error, spread of configuration means, and best and worst configurations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "mini" / "pilot"))
from pilot import read  # noqa: E402

from peppp_bench.suites.structure import duplicate_columns, seed_group_tau, two_way  # noqa: E402


def main(stores: list[Path], keep: list[str] | None = None) -> None:
    tasks, ids, seeds, errors = read_all(stores)
    if keep is not None:
        missing = [c for c in keep if c not in ids]
        if missing:
            sys.exit(f"no cells of configurations {missing} in the stores given")
        errors, ids = errors[:, [ids.index(c) for c in keep]], keep
    names = ", ".join(store.name for store in stores)
    print(f"## {len(tasks)} rows × {len(ids)} configurations × {len(seeds)} seeds ({names})\n")
    k = len(seeds)
    split = ([0], list(range(1, k))) if k < 4 else (list(range(k // 2)), list(range(k // 2, k)))
    said = " vs ".join(f"seed{'s' if len(part) > 1 else ''} {', '.join(str(seeds[i]) for i in part)}" for part in split)
    groups = by_network(tasks) or by_gain(tasks)
    header = f"{'network' if '--' in tasks[0] else 'gain'} | rows | configuration F (p) | interaction / seed noise"
    header += f" | τ ≥ 0.5 ({said}) | identical"
    print(f"| {header} columns |")
    print("| --- | --- | --- | --- | --- | --- |")
    taus = seed_group_tau(errors, split)
    for group, rows in groups.items():
        part = errors[rows]
        report = two_way(part)
        same = duplicate_columns(part, ids)
        print(
            f"| {group} | {len(rows)} | {report['configuration_f']:.1f} ({report['configuration_p']:.2g}) | "
            f"{report['interaction_over_noise']:.2f} | {np.mean(np.nan_to_num(taus[rows]) >= 0.5):.0%} | "
            f"{'; '.join(', '.join(g) for g in same) or 'none'} |"
        )
    print(f"\n| row | τ, {said} | fp32 error (seed mean) | spread of configuration means | best | worst |")
    print("| --- | --- | --- | --- | --- | --- |")
    fp32 = ids.index("fp32")
    for i, task in enumerate(tasks):
        means = errors[i].mean(axis=1)
        print(
            f"| {task} | {taus[i]:.2f} | {means[fp32]:.3f} | {means.max() - means.min():.3f} | "
            f"{ids[int(means.argmin())]} {means.min():.3f} | {ids[int(means.argmax())]} {means.max():.3f} |"
        )


def read_all(stores: list[Path]) -> tuple[list[str], list[str], list[int], np.ndarray]:
    """Rows, configuration ids, seeds and errors[row, configuration, seed] of the rows every store has finished."""
    parts = [read_cells(store) if store.suffix == ".parquet" else read(store)[:4] for store in stores]
    rows = [t for t in parts[0][0] if all(t in p[0] for p in parts)]
    groups: dict[tuple[str, ...], list[tuple[list[int], np.ndarray]]] = {}  # by configurations: seeds, errors
    for p_rows, p_ids, p_seeds, p_errors in parts:
        groups.setdefault(tuple(p_ids), []).append((p_seeds, p_errors[[p_rows.index(t) for t in rows]]))
    joined = [
        (ids, [s for seeds, _ in group for s in seeds], np.concatenate([e for _, e in group], axis=2))
        for ids, group in groups.items()
    ]
    if any(seeds != joined[0][1] for _, seeds, _ in joined):
        sys.exit("stores of different configurations must hold the same seeds: " + str([j[1] for j in joined]))
    ids = [c for group_ids, _, _ in joined for c in group_ids]
    if len(set(ids)) != len(ids):
        sys.exit("two stores of different configuration lists share a configuration")
    return rows, ids, joined[0][1], np.concatenate([e for _, _, e in joined], axis=1)


def read_cells(path: Path) -> tuple[list[str], list[str], list[int], np.ndarray]:
    """A committed cells table as `read` gives a store: its rows, configurations (in the order the table lists
    them, the spec's), seeds and errors[row, configuration, seed]; every cell must be there."""
    import pandas as pd

    cells = pd.read_parquet(path, columns=["dataset_id", "config_id", "seed", "error"])
    rows, ids = list(dict.fromkeys(cells.dataset_id)), list(dict.fromkeys(cells.config_id))
    seeds = sorted(int(s) for s in set(cells.seed))
    table = cells.set_index(["dataset_id", "config_id", "seed"]).error
    errors = table.reindex(pd.MultiIndex.from_product([rows, ids, seeds])).to_numpy().reshape(len(rows), len(ids), -1)
    if np.isnan(errors).any():
        sys.exit(f"{path}: some cells are missing")
    return rows, ids, seeds, errors


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
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    args = sys.argv[1:]
    keep = None
    if args[0] == "--configurations":
        keep = Path(args[1]).read_text().split()
        args = args[2:]
    main([Path(arg) for arg in args], keep)
