"""Recipes that turn the authors' released arrays (spec §1) into the `paper` and `paper-lr` suites.

The arrays are read at run time from a folder (e.g. ../shared/upstream/peppp); the built suite goes
to a cache or the Hub, never into git.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..memory import resnet18_counts
from ..provenance import environment
from .suite import write_suite

# sha256 of the released files (upstream README): the build refuses anything else.
UPSTREAM_SHA256 = {
    "acc_matrix_res64_all.npy": "ddd915ef3b4b59f484d73c616dc0c59af239244a1e67d00fbe13424de77df957",
    "mem_matrix_full.npy": "70bb0b8c7e285ce19e5cf71c5e347b7cb663d85a76cde5f33b0a624f4c0622fd",
    "err_cifar100_epo100_complete.npy": "891faeffb765a9e14851f1de7d725262dc8eab6debf50a6f5d9c12a772ba8385",
    "mem_cifar100_epo100_complete.npy": "87e4c6bdfe64699caaef53f8e57b3530335a4a3e85f9ca5893d8dfc7b40c087d",
    "rownames_cifar100_epo100_complete.npy": "827040838cace11157f861946611b6a9cc342d2e7be5a28fa79fd780665422f8",
}
UPSTREAM_BYTES = {  # each released file's size: a download is cut off past it, before its sha256 is checked
    "acc_matrix_res64_all.npy": 69824,
    "mem_matrix_full.npy": 69824,
    "err_cifar100_epo100_complete.npy": 35768,
    "mem_cifar100_epo100_complete.npy": 35768,
    "rownames_cifar100_epo100_complete.npy": 1883,
}
SUITE_VERSION = "1.1.0"  # 1.1.0: suite format 2 (the fingerprint covers normalizers and cap rule)
DROPPED_ROW = 28  # full 100-class CIFAR-100, a failed run (accuracy ≈ 1 %); the paper drops it
MEMORY_TOLERANCE_MB = 0.12

# Spec §1.1: CIFAR-100 superclass partitions and their fine-label ids, in row order (rows 1-20).
CIFAR100_PARTITIONS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("aquatic mammals", (4, 30, 55, 72, 95)),
    ("fish", (1, 32, 67, 73, 91)),
    ("flowers", (54, 62, 70, 82, 92)),
    ("food containers", (9, 10, 16, 28, 61)),
    ("fruit and vegetables", (0, 51, 53, 57, 83)),
    ("household electrical devices", (22, 39, 40, 86, 87)),
    ("household furniture", (5, 20, 25, 84, 94)),
    ("insects", (6, 7, 14, 18, 24)),
    ("large carnivores", (3, 42, 43, 88, 97)),
    ("large man-made outdoor things", (12, 17, 37, 68, 76)),
    ("large natural outdoor scenes", (23, 33, 49, 60, 71)),
    ("large omnivores and herbivores", (15, 19, 21, 31, 38)),
    ("medium-sized mammals", (34, 63, 64, 66, 75)),
    ("non-insect invertebrates", (26, 45, 77, 79, 99)),
    ("people", (2, 11, 35, 46, 98)),
    ("reptiles", (27, 29, 44, 78, 93)),
    ("small mammals", (36, 50, 65, 74, 80)),
    ("trees", (47, 52, 56, 59, 96)),
    ("vehicles 1", (8, 13, 48, 58, 90)),
    ("vehicles 2", (41, 69, 81, 85, 89)),
)
# Spec §1.2: DECA rows (released row, classes, best-match name, confidence). Row 28 is dropped.
DECA_ROWS: tuple[tuple[int, int, str, str], ...] = (
    (21, 100, "FGVC-Aircraft", "likely"),
    (22, 200, "CUB-200", "likely"),
    (23, 47, "DTD", "matched"),
    (24, 8, "unknown", "unknown"),
    (25, 21, "UC Merced", "likely"),
    (26, 67, "MIT Indoor-67", "likely"),
    (27, 101, "UCF101 dynamic images", "matched"),
    (29, 2, "Daimler pedestrians", "matched"),
    (30, 43, "GTSRB", "matched"),
    (31, 8, "unknown", "unknown"),
    (32, 1623, "Omniglot", "matched"),
    (33, 10, "SVHN", "matched"),
    (34, 102, "VGG-Flowers", "matched"),
    (35, 4, "unknown", "unknown"),
    (36, 28, "unknown (perhaps Kylberg textures)", "unknown"),
    (37, 23, "MINC-2500", "likely"),
)
# Spec §1.3: class counts of the 50 ImageNet 64×64 partitions, rows 38-87.
IMAGENET_CLASSES: tuple[int, ...] = (5,) * 15 + (6,) * 15 + (7,) * 12 + (8,) * 7 + (9,)
LR_STUDY = ((0.01, 16), (0.001, 16), (0.0001, 13))  # (learning rate, first k CIFAR-100 partitions)


class UpstreamError(ValueError):
    """The upstream folder does not hold the authors' released arrays."""


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def paper_datasets() -> pd.DataFrame:
    """The 87 datasets of the paper suite (spec §1), in row order, with names and their confidence."""
    rows = [("cifar10", "CIFAR-10", "confirmed", "cifar10", 32, 10, "CIFAR-10 (torchvision)")]
    for name, labels in CIFAR100_PARTITIONS:
        rows.append(
            (
                f"cifar100-{slug(name)}",
                f"CIFAR-100 {name}",
                "confirmed",
                "cifar100-partition",
                32,
                5,
                f"CIFAR-100 fine labels {list(labels)}, remapped 0-4 in this order",
            )
        )
    for row, classes, name, confidence in DECA_ROWS:
        rows.append(
            (
                f"deca-{row:02d}",
                name,
                confidence,
                "deca",
                64,
                classes,
                f"Visual-Decathlon-style dataset, released row {row}, {classes} classes",
            )
        )
    for i, classes in enumerate(IMAGENET_CLASSES):
        rows.append(
            (
                f"imagenet64-part-{i:02d}",
                f"ImageNet 64x64 partition {i}",
                "confirmed",
                "imagenet64-partition",
                64,
                classes,
                "Downsampled ImageNet 64x64, WordNet subtree (id not released)",
            )
        )
    return pd.DataFrame(
        rows, columns=["dataset_id", "name", "name_confidence", "family", "resolution", "classes", "source"]
    )


def lr_datasets() -> pd.DataFrame:
    """The 45 rows of the learning-rate study (spec §1.4): CIFAR-100 partitions × learning rate."""
    rows = []
    for lr, k in LR_STUDY:
        for name, labels in CIFAR100_PARTITIONS[:k]:
            rows.append(
                (
                    f"cifar100-{slug(name)}-lr{lr:g}",
                    f"CIFAR-100 {name}, lr {lr:g}",
                    "confirmed",
                    "cifar100-partition-lr",
                    32,
                    5,
                    f"CIFAR-100 fine labels {list(labels)}; SGD lr {lr:g}",
                )
            )
    return pd.DataFrame(
        rows, columns=["dataset_id", "name", "name_confidence", "family", "resolution", "classes", "source"]
    )


def model_memory(datasets: pd.DataFrame) -> np.ndarray:
    """Memory matrix of the paper's ResNet-18 for these datasets (spec §3)."""
    return np.stack([resnet18_counts(int(r.resolution), int(r.classes)).memory_row() for r in datasets.itertuples()])


def _load_array(upstream: Path, name: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Load one released array, refusing anything that is not the expected file."""
    path = Path(upstream) / name
    hint = "point --upstream at the folder of the authors' released arrays (e.g. ../shared/upstream/peppp)"
    if not path.is_file():
        raise UpstreamError(f"{path} does not exist: {hint}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UpstreamError(f"{path} is not a readable .npy array ({exc}): {hint}") from exc
    if kind == "names":
        if arr.dtype.kind != "S" or arr.shape != shape:
            raise UpstreamError(f"{path}: expected {shape} byte strings, got {arr.dtype} {arr.shape}")
    else:
        if arr.dtype != np.float64:
            raise UpstreamError(f"{path}: expected float64, got {arr.dtype}")
        if arr.shape != shape:
            raise UpstreamError(f"{path}: expected shape {shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise UpstreamError(f"{path}: holds NaN or infinite values")
        if kind == "fraction" and (arr.min() < 0 or arr.max() > 1):
            raise UpstreamError(
                f"{path}: values must lie in [0, 1] (accuracy or error), found {arr.min()}..{arr.max()}"
            )
        if kind == "memory" and arr.min() <= 0:
            raise UpstreamError(f"{path}: memory must be positive MB, found {arr.min()}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != UPSTREAM_SHA256[name]:
        raise UpstreamError(
            f"{path}: sha256 {digest} is not that of the released file ({UPSTREAM_SHA256[name]}); "
            f"the array has the right shape but different values: {hint}"
        )
    return arr


def _check_memory(released: np.ndarray, model: np.ndarray, what: str) -> float:
    worst = float(np.abs(released - model).max())
    if worst > MEMORY_TOLERANCE_MB:
        raise UpstreamError(
            f"{what}: the memory model differs from the released memory by {worst:.3f} MB (> {MEMORY_TOLERANCE_MB})"
        )
    return worst


def _provenance(upstream: Path, files: list[str], memory_gap: float, started: float) -> dict:
    return {
        "source": "Yang et al., ICLR 2022 (PEPPP), arrays released with the authors' code",
        "upstream_files": {f: UPSTREAM_SHA256[f] for f in files},
        "command": " ".join(["peppp-bench", *sys.argv[1:]])
        if Path(sys.argv[0]).name.startswith("peppp")
        else "peppp_bench.suites.build",
        "memory_model_max_abs_diff_mb": round(memory_gap, 6),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.time() - started, 3),
        **environment(),
    }


def build_paper(upstream: Path, out: Path) -> Path:
    """Build the 87 × 99 paper suite: drop row 28, error = 1 - accuracy, memory checked against the model."""
    started = time.time()
    acc = _load_array(upstream, "acc_matrix_res64_all.npy", (88, 99), "fraction")
    mem = _load_array(upstream, "mem_matrix_full.npy", (88, 99), "memory")
    error = 1.0 - np.delete(acc, DROPPED_ROW, axis=0)
    memory = np.delete(mem, DROPPED_ROW, axis=0)
    datasets = paper_datasets()
    gap = _check_memory(memory, model_memory(datasets), "paper suite")
    return write_suite(
        out,
        name="paper",
        version=SUITE_VERSION,
        error=error,
        memory=memory,
        datasets=datasets,
        description="The PEPPP paper's error and memory of 99 low-precision configurations on 87 image "
        "datasets (CIFAR-style ResNet-18, 10 epochs); row 28 of the release (full CIFAR-100, a failed run) dropped.",
        provenance=_provenance(upstream, ["acc_matrix_res64_all.npy", "mem_matrix_full.npy"], gap, started),
    )


def build_paper_lr(upstream: Path, out: Path) -> Path:
    """Build the 45 × 99 learning-rate study suite (spec §1.4)."""
    started = time.time()
    error = _load_array(upstream, "err_cifar100_epo100_complete.npy", (45, 99), "fraction")
    memory = _load_array(upstream, "mem_cifar100_epo100_complete.npy", (45, 99), "memory")
    names = _load_array(upstream, "rownames_cifar100_epo100_complete.npy", (45,), "names")
    datasets = lr_datasets()
    expected = [f"{name}_lr{lr:g}" for lr, k in LR_STUDY for name, _ in CIFAR100_PARTITIONS[:k]]
    # The release spells one name 'large_carnivores'; compare with underscores read as spaces.
    got = [n.decode().replace("_lr", "|lr").replace("_", " ").replace("|lr", "_lr") for n in names]
    if got != expected:
        raise UpstreamError(f"row names of the learning-rate study are not in the expected order: {got[:3]}...")
    gap = _check_memory(memory, model_memory(datasets), "paper-lr suite")
    files = [
        "err_cifar100_epo100_complete.npy",
        "mem_cifar100_epo100_complete.npy",
        "rownames_cifar100_epo100_complete.npy",
    ]
    return write_suite(
        out,
        name="paper-lr",
        version=SUITE_VERSION,
        error=error,
        memory=memory,
        datasets=datasets,
        description="The PEPPP paper's learning-rate study: CIFAR-100 partitions trained at learning rates "
        "0.01, 0.001 and 0.0001 in each of the 99 configurations.",
        provenance=_provenance(upstream, files, gap, started),
    )


BUILDERS = {"paper": build_paper, "paper-lr": build_paper_lr}
UPSTREAM_FILES = {  # the released arrays each suite is built from
    "paper": ("acc_matrix_res64_all.npy", "mem_matrix_full.npy"),
    "paper-lr": (
        "err_cifar100_epo100_complete.npy",
        "mem_cifar100_epo100_complete.npy",
        "rownames_cifar100_epo100_complete.npy",
    ),
}
