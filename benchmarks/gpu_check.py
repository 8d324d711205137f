"""GPU check of the generator, a check that can fail: on one device, on a task it learns.

1. batched = alone, bit for bit: paper configurations (stochastic rounding) and modern ones trained
   together give exactly the errors each gets trained alone, on the device (an MLP, a ResNet and a
   transformer factory);
2. device ≈ CPU: the same cells trained on the CPU give errors within `--tolerance` (CPU and GPU cells
   cannot be equal: other kernels, and stochastic rounding draws its bits from the device's generator);
3. the comparisons say something: in each check the best cell learned the task (error at least 0.15 below
   chance) and at least half of the errors sit away from 0 and from chance (a task too easy or too hard makes
   every error 0 or chance, where checks 1 and 2 compare nothing: the patterns carry 40 % of each image);
4. throughput, with the device synchronized and a warm-up excluded: one paper cell alone and one batched
   unit of `--configs` configurations (the paper's ResNet-18, batch 32, one epoch of `--images` images),
   as cells per device-hour at the paper's CIFAR-10 recipe (50,000 images, 10 epochs); plain and fused
   quantizers.

    python benchmarks/gpu_check.py --device cuda --out gpu_check.json     # on a GPU machine (< 10 min)
    python benchmarks/gpu_check.py --device cpu --small                   # the same code, tiny sizes

Prints one JSON object (every figure and the device's provenance), writes it to `--out` if given, and
exits 1 if a check fails, 2 if the device is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from peppp_bench.configs import CONFIG_IDS
from peppp_bench.generate.architectures import Architecture
from peppp_bench.generate.data import ImageData
from peppp_bench.generate.recipes import get_recipe
from peppp_bench.generate.train import configure_device, device_record, train_cells

PAPER = ["e3m1-e6m7", "e4m2-e7m9", "e5m2-e8m11", "e5m3-e8m11"]
MODERN = ["fp32", "bf16", "fp8-delayed-e4m3-e5m2-opt-fp32", "mxfp4-sr-b32-opt-fp32", "nvfp4-sr-opt-fp32"]


class Transformer(nn.Module):
    """A small transformer written from parts (a factory's network: stacked copies under vmap): 8×8 images as
    4 tokens of 4×4 patches, one pre-norm attention block with a residual, the token mean, a linear head."""

    def __init__(self, classes: int, channels: int, dim: int = 16) -> None:
        super().__init__()
        self.embed, self.qkv = nn.Linear(channels * 16, dim), nn.Linear(dim, 3 * dim)
        self.proj, self.norm, self.head = nn.Linear(dim, dim), nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        tokens = x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(b, c, -1, 16).permute(0, 2, 1, 3).flatten(2)
        h = self.embed(tokens)
        q, k, v = self.qkv(self.norm(h)).chunk(3, -1)
        attention = torch.softmax(q @ k.transpose(-2, -1) * h.shape[-1] ** -0.5, -1)
        return self.head((h + self.proj(attention @ v)).mean(1))


TRANSFORMER = Architecture.from_factory(
    Transformer,
    modules=("Linear", "LayerNorm"),
    functions=("add", "matmul", "mean", "softmax_input", "softmax"),
    label="transformer-factory",
)
CHECKED = [Architecture.builtin("mlp", hidden=[64, 32]), TRANSFORMER, Architecture.resnet((1, 1), 8)]


def balanced_task(images: int, classes: int = 4, side: int = 8, seed: int = 0, signal: float = 0.6) -> ImageData:
    """Equal numbers of each class: a class's images are its own random pattern (`signal` of each pixel) plus
    noise, so chance error is exactly 1 − 1/classes; at 0.6 a small network learns it within an epoch or two,
    at 0.4 it learns it partly, so that formats differ."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(classes, 3, side, side, generator=g)
    test = images // 2

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % classes
        y = y[torch.randperm(n, generator=g)]
        return (signal * patterns[y] + (1 - signal) * torch.rand(n, 3, side, side, generator=g)).clamp(0, 1), y

    (x, y), (xt, yt) = split(images), split(test)
    return ImageData("balanced-random", x, y, xt, yt, classes, True, "class patterns plus noise", "random")


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def timed(run: Callable[[], Any], device: str) -> float:
    """Seconds of `run` after one warm-up call, with the device synchronized before and after."""
    run()
    _synchronize(device)
    start = time.perf_counter()
    run()
    _synchronize(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="time a small ResNet on few images (a smoke run on a CPU)")
    p.add_argument("--images", type=int, default=2048, help="training images of each timed epoch")
    p.add_argument("--configs", type=int, default=33, help="configurations in the timed batched unit")
    p.add_argument("--tolerance", type=float, default=0.05, help="largest |error(device) − error(CPU)| accepted")
    p.add_argument("--out", type=Path, help="also write the JSON report here")
    p.add_argument("--no-timing", action="store_true", help="the checks only")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: no CUDA device here", file=sys.stderr)
        return 2
    configure_device(args.device, None)
    task = balanced_task(256, signal=0.4)  # partly learned in 3 epochs: errors away from 0 and chance
    recipe = get_recipe("clean", epochs=3, lr=0.05, augment=False, rounding="stochastic")
    chance = 1 - 1 / task.classes
    report: dict[str, Any] = {"task": {"classes": task.classes, "chance_error": chance, "images": len(task.y_train)}}
    failures = []
    for arch in CHECKED:
        for family, configs in (("paper", PAPER), ("modern", MODERN)):
            together = [r.error for r in train_cells(task, configs, arch, recipe, seed=0, device=args.device)]
            alone = [train_cells(task, [c], arch, recipe, seed=0, device=args.device)[0].error for c in configs]
            on_cpu = (
                together
                if args.device == "cpu"
                else [r.error for r in train_cells(task, configs, arch, recipe, seed=0, device="cpu")]
            )
            gap = max(abs(a - b) for a, b in zip(together, on_cpu))
            where = f"{arch.name}, {family}"
            report[where] = {
                "configurations": configs,
                "errors_batched": together,
                "errors_alone": alone,
                "errors_cpu": on_cpu,
                "batched_equals_alone": together == alone,
                "largest_device_cpu_difference": gap,
            }
            if together != alone:
                failures.append(f"{where}: batched and alone differ on the device: {together} vs {alone}")
            if gap > args.tolerance:
                failures.append(f"{where}: device and CPU errors differ by {gap:.3f} > {args.tolerance}")
            informative = [e for e in together if 0.02 < e < chance - 0.02]
            report[where]["errors_away_from_0_and_chance"] = len(informative)
            if min(together) > chance - 0.15:
                failures.append(f"{where}: no configuration learned the task ({together}; chance {chance:.2f})")
            if 2 * len(informative) < len(together):
                failures.append(f"{where}: most errors are 0 or chance ({together}): the comparisons say little")

    if not args.no_timing:
        report["timing"] = timing(args)
    report["device"] = device_record(torch.device(args.device))
    report["failures"] = failures
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if failures else 0


def timing(args: argparse.Namespace) -> dict[str, Any]:
    """One paper cell alone and one batched unit, one epoch each, plain and fused quantizers."""
    arch = Architecture.resnet((1, 1), 4) if args.small else Architecture.paper()
    images = 64 if args.small else args.images
    side = 8 if args.small else 32
    timing_task = balanced_task(images, classes=10, side=side, seed=1)
    epoch = get_recipe("peppp2022", epochs=1)
    configs = list(CONFIG_IDS[: 4 if args.small else args.configs])
    seconds = {}
    for fused in (False, True):
        one = timed(
            lambda f=fused: train_cells(
                timing_task, configs[:1], arch, epoch, 0, args.device, fused_quantizer=f, exact_alone=False
            ),
            args.device,
        )
        unit = timed(
            lambda f=fused: train_cells(timing_task, configs, arch, epoch, 0, args.device, fused_quantizer=f),
            args.device,
        )
        seconds["fused" if fused else "plain"] = {"one_cell": one, "batched_unit": unit}

    def cells_per_hour(unit_seconds: float, cells: int) -> float:  # 50,000 images × 10 epochs per cell
        return round(3600 / (unit_seconds / cells / images * 50_000 * 10), 2)

    return {
        "architecture": arch.name,
        "images_per_epoch": images,
        "batched_configurations": len(configs),
        "seconds": {k: {n: round(v, 3) for n, v in d.items()} for k, d in seconds.items()},
        "cells_per_device_hour_cifar10_paper_recipe": {
            k: {
                "one_at_a_time": cells_per_hour(d["one_cell"], 1),
                "batched": cells_per_hour(d["batched_unit"], len(configs)),
            }
            for k, d in seconds.items()
        },
    }


if __name__ == "__main__":
    sys.exit(main())
