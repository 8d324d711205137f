"""Analyse a pilot for a suite (mini's rounds; modern-mini's) from its generation stores; prints Markdown.

    python datasets/mini/pilot/pilot.py PILOT_STORE [FP32_STORE]
    python datasets/mini/pilot/pilot.py --cells OUT.parquet STORE...   # every cell: error, curve, seed, git sha

PILOT_STORE holds datasets/mini/pilot/pilot.toml's cells (tasks × 99 paper configurations × seeds, with the test
error after every epoch); FP32_STORE, optionally, datasets/mini/pilot/pilot-fp32.toml's (the same tasks and
seeds in fp32: does the network learn each task, and reliably?). Against the structure criteria for the
suite (computed from the pilot's own seeds, so they are a screen, not the suite's verdict):
- the configuration main effect's F and p against seed noise, and interaction / seed-noise mean squares;
- per task, Kendall's τ between the configuration orders of seed 0 and of the other seeds;
- groups of configurations the recipe cannot tell apart (identical in every task and seed);
- from the learning curves, the epoch by which each task's configuration effect is visible.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from peppp_bench.generate.store import Store
from peppp_bench.suites.structure import duplicate_columns, seed_group_tau, two_way


def read(root: Path) -> tuple[list[str], list[str], list[int], np.ndarray, np.ndarray | None]:
    """Tasks, configuration ids, seeds, errors[task, config, seed] and curves[task, config, seed, epoch], of
    the tasks whose every cell is finished (a generation still under way is analysed so far)."""
    store = Store.open(root)
    spec = store.spec
    ids, seeds = list(spec.config_ids), list(spec.seeds)
    rows = [(t, a) for t, a in spec.rows() if all(store.done(t.id, a, s, c) for s in seeds for c in ids)]
    if not rows:
        sys.exit(f"{root}: no task has all its cells yet")
    cells = [[[store.read(t.id, a, s, c) for s in seeds] for c in ids] for t, a in rows]
    errors = np.array([[[cell["error"] for cell in by_seed] for by_seed in by_config] for by_config in cells])
    curves = None
    if all(cell.get("curve") for by_config in cells for by_seed in by_config for cell in by_seed):
        curves = np.array([[[cell["curve"] for cell in by_seed] for by_seed in by_config] for by_config in cells])
    return [label(spec, t.id, a) for t, a in rows], ids, seeds, errors, curves


def label(spec: Any, task: str, arch: str) -> str:
    """A row's name: its task, or TASK--NETWORK when the spec trains several networks."""
    return task if len(spec.architectures) == 1 else f"{task}--{arch}"


def main(pilot: Path, fp32: Path | None = None) -> None:
    tasks, ids, seeds, errors, curves = read(pilot)
    print(f"## {len(tasks)} finished tasks × {len(ids)} configurations × {len(seeds)} seeds ({pilot.name})\n")
    if fp32 is not None:
        f_tasks, _, f_seeds, f_errors, _ = read(fp32)
        print("| task | fp32 error per seed | best paper configuration (seed mean) | median | worst |")
        print("| --- | --- | --- | --- | --- |")
        for i, task in enumerate(tasks):
            if task not in f_tasks:
                continue
            mine = f_errors[f_tasks.index(task), 0, :]
            means = errors[i].mean(axis=1)
            print(
                f"| {task} | {', '.join(f'{e:.3f}' for e in mine)} | {means.min():.3f} ({ids[int(means.argmin())]}) "
                f"| {np.median(means):.3f} | {means.max():.3f} ({ids[int(means.argmax())]}) |"
            )
        print()
    report = two_way(errors)
    ms = report["mean_squares"]
    print("| two-way analysis | value |\n| --- | --- |")
    for key in ("task", "configuration", "interaction", "seed_noise"):
        print(f"| mean square: {key} | {ms[key]:.3g} |")
    print(f"| configuration F (p) | {report['configuration_f']:.1f} ({report['configuration_p']:.2g}) |")
    print(f"| interaction / seed noise | {report['interaction_over_noise']:.2f} |")
    print(f"| share of seed noise that shifts whole rows | {report['row_shift_share_of_seed_noise']:.2f} |\n")
    taus = seed_group_tau(errors, ([0], list(range(1, len(seeds)))))
    print("| task | Kendall τ, seed 0 vs the others | F of configurations (this task) |")
    print("| --- | --- | --- |")
    for i, task in enumerate(tasks):
        one = two_way(errors[i : i + 1])  # one task: its configuration F against its seed noise
        print(f"| {task} | {taus[i]:.2f} | {one['configuration_f']:.1f} |")
    print(f"\nτ ≥ 0.5 in {np.mean(taus >= 0.5):.0%} of tasks.\n")
    subsets = groups(tasks)
    if subsets:
        print("| rows | count | configuration F | interaction / seed noise | τ ≥ 0.5 |")
        print("| --- | --- | --- | --- | --- |")
        for label, rows in subsets.items():
            part = two_way(errors[rows])
            print(
                f"| {label} | {len(rows)} | {part['configuration_f']:.1f} | {part['interaction_over_noise']:.2f} "
                f"| {np.mean(taus[rows] >= 0.5):.0%} |"
            )
        print()
    duplicates = duplicate_columns(errors, ids)
    print(f"Configurations identical in every task and seed: {len(duplicates)} groups")
    for group in duplicates:
        print(f"- {', '.join(group)}")
    if curves is not None:
        print("\n| task | epoch | spread of configuration means (max − min) | configuration F |")
        print("| --- | --- | --- | --- |")
        epochs = curves.shape[-1]
        for i, task in enumerate(tasks):
            for e in sorted({1, 2, 5, 10, epochs // 2, epochs} & set(range(1, epochs + 1))):
                at = curves[i : i + 1, :, :, e - 1]
                means = at[0].mean(axis=1)
                f = two_way(at)["configuration_f"]
                print(f"| {task} | {e} | {means.max() - means.min():.3f} | {f:.1f} |")


def groups(tasks: list[str]) -> dict[str, list[int]]:
    """Subsets of rows by network (`TASK--NETWORK` ids), by pixel gain (task ids ending `-gGAIN`) and by
    data source (the id's first word), each with at least two rows and fewer than all."""
    out: dict[str, list[int]] = {}
    for i, label in enumerate(tasks):
        task, _, network = label.partition("--")
        if network:
            out.setdefault(f"network {network}", []).append(i)
        gain = task.rsplit("-", 1)[-1]
        if gain.startswith("g") and len(task.split("-")) > 2:
            out.setdefault(f"gain {gain[1:]}", []).append(i)
        out.setdefault(f"source {task.split('-')[0]}", []).append(i)
    return {label: rows for label, rows in out.items() if 1 < len(rows) < len(tasks)}


def export(out: Path, roots: list[Path]) -> None:
    """The stores' cells as one table (what PILOT.md's numbers are computed from, committed beside it)."""
    import pandas as pd

    records = []
    for root in roots:
        store = Store.open(root)
        for t, a in store.spec.rows():
            for seed in store.spec.seeds:
                for c in store.spec.config_ids:
                    if not store.done(t.id, a, seed, c):  # a pilot stopped early: its finished cells
                        continue
                    cell = store.read(t.id, a, seed, c)
                    records.append(
                        {
                            "store": store.spec.name,
                            "dataset_id": label(store.spec, t.id, a),
                            "config_id": c,
                            "seed": seed,
                            "error": cell["error"],
                            "curve": cell["curve"],
                            "git_sha": cell["provenance"]["git_sha"],
                        }
                    )
    pd.DataFrame(records).to_parquet(out, index=False)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--cells":
        export(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]])
    elif len(sys.argv) in (2, 3):
        main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None)
    else:
        sys.exit(__doc__)
