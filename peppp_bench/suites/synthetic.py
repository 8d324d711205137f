"""A small synthetic suite with an exactly low-rank error matrix: for smoke runs and tests, in seconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..configs import configurations_table
from ..memory import resnet18_counts
from .suite import Benchmark, read_suite, write_suite


def synthetic_suite(
    out: Path,
    n: int = 12,
    rank: int = 4,
    seed: int = 0,
    name: str = "tiny",
    cap_rule: str = "global-median",
    replicates: pd.DataFrame | None = None,
    seed_noise: float | Sequence[float] | None = None,
    architectures: int = 1,
) -> Path:
    """Write a suite whose error matrix has exactly rank `rank` (a constant plus rank − 1 factors).

    With `seed_noise`, four seeds of every cell add that much Gaussian noise to it: the matrix is the mean of
    seeds 0–2 and seed 3 is the scoring seed. With several `architectures`, row i is task i // architectures
    trained on network i % architectures, and `seed_noise` may name each network's noise."""
    rng = np.random.default_rng(seed)
    error = 0.55 + 0.12 * (rng.normal(size=(n, rank - 1)) @ rng.normal(size=(rank - 1, 99))) / rank
    if not (0 < error.min() and error.max() < 1):
        raise ValueError(f"seed {seed} gives errors outside (0, 1); choose another")
    seeds = None
    if seed_noise is not None:
        noise = np.resize(np.atleast_1d(seed_noise), architectures)[np.arange(n) % architectures]
        runs = np.clip(error + noise[:, None] * rng.normal(size=(4, *error.shape)), 0, 1)  # seeds × datasets × configs
        error, seeds = runs[:3].mean(axis=0), {"measured": [0, 1, 2], "scoring": [3]}
        s, i, j = np.indices(runs.shape).reshape(3, -1)
        replicates = pd.DataFrame(
            {"dataset_id": [f"toy-{k:02d}" for k in i], "config_id": configurations_table()["config_id"].to_numpy()[j]}
        ).assign(seed=s, error=runs.ravel())
    classes = [2 + i % 7 for i in range(n)]
    resolution = [32 if i % 4 == 0 else 64 for i in range(n)]
    rows = {key: resnet18_counts(*key).memory_row() for key in set(zip(resolution, classes))}  # 14 kinds of row
    memory = np.stack([rows[key] for key in zip(resolution, classes)])
    datasets = pd.DataFrame(
        {
            "dataset_id": [f"toy-{i:02d}" for i in range(n)],
            "name": [f"toy {i}" for i in range(n)],
            "name_confidence": "confirmed",
            "family": "toy",
            "resolution": resolution,
            "classes": classes,
            "source": f"synthetic rank-{rank} matrix, seed {seed}",
        }
    )
    if architectures > 1:
        datasets = datasets.assign(
            task=[f"task-{i // architectures}" for i in range(n)],
            architecture=[f"net-{i % architectures}" for i in range(n)],
        )
    return write_suite(
        out,
        name=name,
        version="0.0.1",
        error=error,
        memory=memory,
        datasets=datasets,
        description="A synthetic exactly low-rank suite for smoke runs and tests.",
        provenance={"seed": seed},
        cap_rule=cap_rule,
        replicates=replicates,
        seeds=seeds,
    )


def smoke_benchmark(folder: Path) -> Benchmark:
    """The synthetic suite, written into `folder` and loaded."""
    return read_suite(synthetic_suite(Path(folder) / "tiny"))
