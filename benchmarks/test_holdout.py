"""Does holding tasks out in groups move results? ED-MF on `paper` under meta-LOOCV and under the grouped
hold-out the suite's size would choose (22 groups of at most 4 tasks: every fold keeps at least 95 % of the
tasks to meta-train on), on the standard protocol (settings I–VI, n = 5, 10, 15, mask seeds 0–9).

Pass: in every (setting, n) cell, the grouped mean of the board's primary and reported metrics lies inside
the 95 % bootstrap interval of the leave-one-out mean (the board's interval: datasets and seeds resampled).

Run: pytest benchmarks/test_holdout.py --benchmark-enable -s
"""

from __future__ import annotations

import numpy as np
import pytest

import baselines
from peppp_bench import evaluate
from peppp_bench.board.render import REPORTED
from peppp_bench.board.statistics import bootstrap_means, cube
from peppp_bench.protocol.runner import PRIMARY_METRIC


def test_grouped_holdout_keeps_every_metric_of_ed_mf_inside_its_leave_one_out_interval(paper) -> None:
    grouped = paper.with_holdout("groups")
    assert grouped.holdout_groups == 22
    assert min(len(grouped.meta_training_rows(r)) for r in range(87)) >= 0.95 * 87
    runs = {
        rule: evaluate(baselines.make("ed-mf"), paper, workers=2, progress=False, isolate=False, holdout=rule).results
        for rule in ("loo", "groups")
    }
    outside = []
    print(f"\n{'setting':>7} {'n':>3} {'metric':>16} {'LOO [95 % interval]':>28} {'groups':>8}")
    for metric in (PRIMARY_METRIC, *REPORTED):
        for (setting, n), loo in runs["loo"].groupby(["setting", "n"]):
            groups = runs["groups"].query("setting == @setting and n == @n")
            scores = cube(loo, metric).values
            lo, hi = np.percentile(bootstrap_means(scores)[:, 0], [2.5, 97.5])
            mean = float(np.nanmean(groups[metric]))
            print(f"{setting:>7} {n:>3} {metric:>16} {scores.mean():.4f} [{lo:.4f}, {hi:.4f}] {mean:>8.4f}")
            if not lo <= mean <= hi:
                outside.append((setting, n, metric, mean, (lo, hi)))
    assert not outside, f"grouped means outside the leave-one-out interval: {outside}"


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
