"""GPU check of the generator: the paper's ResNet-18 on CIFAR-shaped random data, on one device.

1. batched = one at a time: a few configurations trained together and each alone give the same errors;
2. device ≈ CPU: the same cells trained on the CPU give errors within `--tolerance`;
3. throughput: one batched unit of the paper recipe (ResNet-18, batch 32) timed for one epoch of
   `--images` images, reported as cells per device-hour for CIFAR-10 (50,000 images, 10 epochs).

    python benchmarks/gpu_check.py --device cuda          # on a GPU machine
    python benchmarks/gpu_check.py --device cpu --small   # what CI runs: the same code, tiny sizes

Prints one JSON object (the numbers and the device's provenance) and exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from peppp_bench.generate.architectures import Architecture
from peppp_bench.generate.data import ImageData
from peppp_bench.generate.recipes import get_recipe
from peppp_bench.generate.train import configure_device, device_record, train_cells

CONFIGS = ["e3m1-e6m7", "e4m3-e7m9", "e5m2-e8m11", "e4m4-e8m7"]


def random_cifar(images: int, classes: int = 10, side: int = 32, seed: int = 0) -> ImageData:
    """CIFAR-shaped random images with labels a small linear rule can learn (so errors differ by precision)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(images + images // 4, 3, side, side, generator=g)
    w = torch.randn(3 * side * side, classes, generator=g)
    y = (x.flatten(1) @ w).argmax(1)
    n = images
    return ImageData("random-cifar", x[:n], y[:n], x[n:], y[n:], classes, True, "random CIFAR-shaped images", "random")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="a small ResNet and few images (a smoke run on a CPU)")
    p.add_argument("--images", type=int, default=2048, help="training images of the timed epoch")
    p.add_argument("--configs", type=int, default=33, help="configurations in the timed batched unit")
    p.add_argument("--tolerance", type=float, default=0.05, help="largest |error(device) - error(cpu)| accepted")
    p.add_argument("--deterministic", action="store_true")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: no CUDA device here", file=sys.stderr)
        return 2
    configure_device(args.device, args.deterministic)
    arch = Architecture.resnet((1, 1), 4) if args.small else Architecture.paper()
    check_images = 64 if args.small else 256
    recipe = get_recipe("peppp2022", epochs=1)
    small = random_cifar(check_images, side=8 if args.small else 32)

    together = [r.error for r in train_cells(small, CONFIGS, arch, recipe, seed=0, device=args.device)]
    alone = [train_cells(small, [c], arch, recipe, seed=0, device=args.device)[0].error for c in CONFIGS]
    on_cpu = [r.error for r in train_cells(small, CONFIGS, arch, recipe, seed=0, device="cpu")]
    batched_ok = max(abs(a - b) for a, b in zip(together, alone)) <= args.tolerance
    device_ok = max(abs(a - b) for a, b in zip(together, on_cpu)) <= args.tolerance

    images = 64 if args.small else args.images
    timed = random_cifar(images, side=8 if args.small else 32, seed=1)
    from peppp_bench.configs import CONFIG_IDS

    configs = list(CONFIG_IDS[: (4 if args.small else args.configs)])
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_cells(timed, configs, arch, recipe, seed=0, device=args.device)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    per_cell_epoch = seconds / len(configs) / images  # seconds per cell per training image per epoch
    cells_per_hour = 3600 / (per_cell_epoch * 50_000 * 10)
    report = {
        "architecture": arch.name,
        "checked_cells": CONFIGS,
        "errors_batched": together,
        "errors_alone": alone,
        "errors_cpu": on_cpu,
        "batched_equals_alone": batched_ok,
        "device_matches_cpu": device_ok,
        "timed_unit": {"configurations": len(configs), "images": images, "epochs": 1, "seconds": round(seconds, 2)},
        "cells_per_device_hour_cifar10_paper_recipe": round(cells_per_hour, 1),
        "device": device_record(torch.device(args.device)),
    }
    print(json.dumps(report, indent=1))
    return 0 if batched_ok and device_ok else 1


if __name__ == "__main__":
    sys.exit(main())
