"""The meta-training study (paper Figures 9/10): how well completion from a sample recovers each row.

For each sampling ratio (uniform) or maximum probability (non-uniform) and seed, the whole matrix is
sampled and completed; each dataset's completed row is scored against its true row: relative error,
and convergence and HyperDiff of its estimated frontier (true memory, completed error).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..completion import soft_impute
from ..configs import format_features
from ..pareto import frontier_scores, pareto_mask, relative_error
from ..suites.suite import Benchmark
from .sampling import completion_weights, observation_mask, probabilities


def meta_training_study(
    bench: Benchmark,
    kind: str = "uniform",
    ratios: Iterable[float] = (0.05, 0.1, 0.2),
    seeds: Iterable[int] = (0, 1, 2),
    rank: int = 5,
    fill: bool = True,
) -> pd.DataFrame:
    """Long table: kind, ratio, seed, dataset_id, relative_error, convergence, hyperdiff, observed.

    `fill=False` completes never-observed configurations to 0 as the paper did (its Figure 10 numbers)."""
    E, M = bench.E, bench.M
    rows = []
    for ratio in ratios:
        weights = completion_weights(kind, probabilities(kind, M, ratio))
        for seed in seeds:
            mask = observation_mask(kind, M, seed, ratio)
            Z = soft_impute(
                np.where(mask, E, np.nan),
                rank,
                weights,
                column_features=format_features(bench.configurations),
                fill=fill,
            )
            for i, dataset in enumerate(bench.dataset_ids):
                front = pareto_mask(M[i], Z[i])
                s = frontier_scores(M[i], E[i], M[i][front], Z[i][front], bench.max_memory)
                rows.append(
                    {
                        "kind": kind,
                        "ratio": float(ratio),
                        "seed": int(seed),
                        "dataset_id": dataset,
                        "relative_error": relative_error(E[i], Z[i]),
                        "convergence": s.convergence,
                        "hyperdiff": s.hyperdiff,
                        "observed": float(mask[i].mean()),
                    }
                )
    return pd.DataFrame(rows)
