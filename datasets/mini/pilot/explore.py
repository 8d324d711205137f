"""First exploration for mini's pilot (a suite whose configurations really differ).

Two questions, each answered with 2 or 3 training seeds on the `mini` ResNet (blocks [1, 1], width 8),
clean recipe, 10 epochs:
1. `recipes`: do 12 paper configurations differ more than seeds do, on 10-class digits and on 16-px
   colour photo patches, at lr 0.05 and 0.02? (F = configuration mean square / seed-noise mean square)
2. `augmentation`: does fp32 learn 10-class digits, with and without the clean recipe's augmentation,
   and do bf16, FP8 and MXFP4 then differ from it?

Run: python datasets/mini/pilot/explore.py recipes|augmentation   (2 worker processes, one thread each)
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from multiprocessing import get_context
from typing import Any

import numpy as np

PAPER = ["e3m1-e6m7", "e3m2-e6m7", "e3m3-e7m9", "e4m1-e6m7", "e4m2-e7m9", "e4m3-e8m11"]
PAPER += ["e4m4-e8m11", "e5m1-e6m7", "e5m2-e7m9", "e5m3-e8m11", "e3m1-e8m11", "e5m3-e6m7"]
MODERN = ["fp32", "bf16", "fp8-current-e4m3-e5m2-opt-fp32", "mxfp4-b32-opt-fp32"]
TASKS = {
    "digits-0to9": ("digits", {"classes": list(range(10))}),
    "photo-objects-g16": (
        "photo-patches",
        {"photos": ["astronaut", "coffee", "rocket", "chelsea"], "patch": 16, "colour": True},
    ),
}


def train(job: tuple[str, list[str], dict[str, Any], int]) -> list[float]:
    import torch

    from peppp_bench.generate.architectures import Architecture
    from peppp_bench.generate.data import DataSpec, load_data
    from peppp_bench.generate.recipes import get_recipe
    from peppp_bench.generate.train import train_cells

    torch.set_num_threads(1)
    task, configs, recipe, seed = job
    data = load_data(DataSpec(*TASKS[task]), name=task)
    cells = train_cells(data, configs, Architecture.resnet((1, 1), 8), get_recipe("clean", **recipe), seed)
    return [c.error for c in cells]


def main(question: str) -> None:
    if question == "recipes":
        jobs = [
            (task, PAPER, {"epochs": 10, "lr": lr}, seed)
            for task, lr, seed in itertools.product(TASKS, (0.05, 0.02), (0, 1, 2))
        ]
    else:
        jobs = [
            ("digits-0to9", MODERN, {"epochs": 10, "lr": 0.05, "augment": augment}, seed)
            for augment, seed in itertools.product((True, False), (0, 1))
        ]
    started = time.time()
    with get_context("spawn").Pool(2) as pool:
        errors = pool.map(train, jobs)
    print(f"{len(jobs)} units in {time.time() - started:.0f} s")
    groups: dict[str, list[list[float]]] = {}
    for (task, configs, recipe, seed), e in zip(jobs, errors):
        groups.setdefault(f"{task} {json.dumps(recipe)}", []).append(e)
        print(task, recipe, "seed", seed, dict(zip(configs, np.round(e, 3).tolist())))
    for key, rows in groups.items():
        cube = np.array(rows)  # seeds × configurations
        seeds = cube.shape[0]
        f = seeds * cube.mean(0).var(ddof=1) / cube.var(0, ddof=1).mean()
        print(f"{key}: configuration means {cube.mean(0).min():.3f}–{cube.mean(0).max():.3f}, F = {f:.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recipes")
