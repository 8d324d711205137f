"""A suite's structure, the properties PEPPP relies on (spec §8): low rank, correlated rows, frontiers."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import kendalltau

from .configs import CONFIGS
from .pareto import pareto_mask


def structure_report(error: np.ndarray, memory: np.ndarray) -> dict[str, Any]:
    """Singular-value decay, Kendall τ between dataset rows, Pareto frontier sizes, Format-A bits on frontiers."""
    s = np.linalg.svd(error, compute_uv=False)
    n = error.shape[0]
    taus = np.array([kendalltau(error[i], error[j])[0] for i in range(n) for j in range(i + 1, n)])
    taus = taus[np.isfinite(taus)]
    fronts = [np.flatnonzero(pareto_mask(memory[i], error[i])) for i in range(n)]
    sizes = np.array([len(f) for f in fronts])
    a_bits = np.array([c.a.bits for c in CONFIGS])
    on_front = np.concatenate(fronts)
    shares = {int(b): round(float(np.mean(a_bits[on_front] == b)), 3) for b in sorted(set(a_bits))}
    return {
        "singular_values_top5": [round(float(v), 3) for v in s[:5]],
        "top5_share_of_singular_value_sum": round(float(s[:5].sum() / s.sum()), 3),
        "kendall_tau_mean": round(float(taus.mean()), 3) if len(taus) else None,
        "kendall_tau_positive_share": round(float((taus > 0).mean()), 3) if len(taus) else None,
        "frontier_size_mean": round(float(sizes.mean()), 2),
        "frontier_size_min": int(sizes.min()),
        "frontier_size_max": int(sizes.max()),
        "datasets_with_frontier_of_3_or_more": round(float((sizes >= 3).mean()), 3),
        "format_a_bits_share_on_frontiers": shares,
        "error_min": round(float(error.min()), 4),
        "error_max": round(float(error.max()), 4),
        "error_mean": round(float(error.mean()), 4),
        "datasets_whose_configurations_all_tie": int(sum(np.ptp(row) == 0 for row in error)),
    }
