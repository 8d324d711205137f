"""A probe beside round 2 (PILOT.md): how much of its seed noise is the test set's size? The same networks
(same seed, same training data) scored on 32 and on 512 test patches per class of `photo-six-c8`.

    python datasets/modern-mini/pilot/probe_test_size.py      # output: probe_test_size.log
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from peppp_bench.generate.architectures import Architecture
from peppp_bench.generate.data import DataSpec, load_data
from peppp_bench.generate.recipes import get_recipe
from peppp_bench.generate.train import train_cells

PHOTOS = ["rocket", "hubble_deep_field", "coffee", "astronaut", "immunohistochemistry", "retina"]
CONFIGS = ["fp32", "mxfp8-b32-opt-fp32", "mxfp6-e3m2-b32-opt-fp32", "nvfp4-sr-opt-fp32"]


def main() -> None:
    torch.set_num_threads(1)
    big = load_data(DataSpec("photo-patches", {"photos": PHOTOS, "patch": 8, "colour": True, "test_per_class": 512}))
    keep = torch.cat([torch.nonzero(big.y_test == k).flatten()[:32] for k in range(big.classes)])
    small = dataclasses.replace(big, x_test=big.x_test[keep], y_test=big.y_test[keep])
    arch = Architecture.builtin("vgg", channels=[16, 32, 64], layers=1)
    recipe = get_recipe("clean", epochs=20, lr=0.05, augment=False, schedule="cosine")
    errors: dict[str, list[list[float]]] = {"small": [], "big": []}
    started = time.time()
    for seed in range(4):
        for name, data in (("small", small), ("big", big)):
            errors[name].append([r.error for r in train_cells(data, CONFIGS, arch, recipe, seed)])
        print(seed, errors["small"][-1], errors["big"][-1], f"{time.time() - started:.0f}s", flush=True)
    for name, rows in errors.items():
        e = np.array(rows)
        print(name, "mean", e.mean(0).round(3), "seed sd", e.std(0, ddof=1).round(3))


if __name__ == "__main__":
    main()
