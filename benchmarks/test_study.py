"""The whole baseline study on the paper suite under the standard protocol: every baseline × settings I–VI
× n = 5, 10, 15 × mask seeds 0–9 × 87 folds, every method isolated in its sandbox (the default).

Run: pytest benchmarks/test_study.py --benchmark-enable -s
Reports the wall time on all cores (target: at most 15 min on 2 cores), and the isolation cost on one
seed: the same study isolated against in the harness's own processes (isolate=False).
"""

from __future__ import annotations

import os
import time

import pandas as pd

import baselines
import peppp_bench


def test_whole_study(benchmark, paper) -> None:
    ev = benchmark.pedantic(
        lambda: peppp_bench.evaluate(list(baselines.BASELINES), paper, progress=False), rounds=1, iterations=1
    )
    assert (ev.results.status == "ok").all()
    benchmark.extra_info.update(
        {"workers": os.cpu_count(), "rows": len(ev.results), "isolated_seconds": ev.meta["wall_seconds"]}
    )
    print(
        f"\nwhole study, {len(baselines.BASELINES)} baselines, seeds {ev.meta['seeds'][0]}-{ev.meta['seeds'][-1]}, "
        f"{os.cpu_count()} workers, isolated: {ev.meta['wall_seconds']:.1f} s ({len(ev.results)} fold-budgets)"
    )


def test_isolation_cost(benchmark, paper) -> None:
    """The study on one seed isolated (behind bubblewrap where it runs) against in-process: the same results."""
    from peppp_bench.protocol import boundary

    methods = [baselines.make(name) for name in baselines.BASELINES]
    ev = benchmark.pedantic(
        lambda: peppp_bench.evaluate(methods, paper, progress=False, seeds=(0,)), rounds=1, iterations=1
    )
    started = time.perf_counter()
    plain = peppp_bench.evaluate(methods, paper, progress=False, isolate=False, seeds=(0,))
    plain_seconds = time.perf_counter() - started
    pd.testing.assert_frame_equal(ev.results, plain.results)
    ratio = ev.meta["wall_seconds"] / plain_seconds
    benchmark.extra_info.update(
        {
            "os_sandbox": boundary.available(),
            "isolated_seconds": ev.meta["wall_seconds"],
            "in_process_seconds": plain_seconds,
        }
    )
    print(
        f"\nwhole study on {os.cpu_count()} workers, OS sandbox {boundary.available()}: isolated "
        f"{ev.meta['wall_seconds']:.1f} s, in-process {plain_seconds:.1f} s: isolation costs {ratio:.2f}x"
    )
