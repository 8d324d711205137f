"""The whole baseline study on the paper suite: every baseline × settings I–VI × n = 5…15 × 87 folds.

Run: pytest benchmarks/test_study.py --benchmark-enable -s
Reports the wall time on all cores with every method isolated in its sandbox (the default) against the
same study run in the harness's own processes (isolate=False), and each method's share (each method
alone, one worker, in-process), also per fold (one setting and held-out dataset, every n = 5…15).
"""

from __future__ import annotations

import os
import time

import pandas as pd

import baselines
import peppp_bench


def test_whole_study(benchmark, paper) -> None:
    methods = [baselines.make(name) for name in baselines.BASELINES]
    ev = benchmark.pedantic(lambda: peppp_bench.evaluate(methods, paper, progress=False), rounds=1, iterations=1)
    assert (ev.results.status == "ok").all()
    started = time.perf_counter()
    plain = peppp_bench.evaluate(methods, paper, progress=False, isolate=False)
    plain_seconds = time.perf_counter() - started
    pd.testing.assert_frame_equal(ev.results, plain.results)  # isolation changes no result
    shares = {}
    for m in methods:
        t = time.perf_counter()
        peppp_bench.evaluate(baselines.make(m.name), paper, workers=1, progress=False, isolate=False)
        shares[m.name] = time.perf_counter() - t
    total = sum(shares.values())
    folds = 6 * paper.E.shape[0]
    ratio = ev.meta["wall_seconds"] / plain_seconds
    benchmark.extra_info.update(
        {
            "workers": os.cpu_count(),
            "rows": len(ev.results),
            "isolated_seconds": ev.meta["wall_seconds"],
            "in_process_seconds": plain_seconds,
            "isolation_ratio": ratio,
            "single_worker_seconds": shares,
        }
    )
    print(
        f"\nwhole study on {os.cpu_count()} workers: isolated {ev.meta['wall_seconds']:.1f} s, in-process "
        f"{plain_seconds:.1f} s: isolation costs {ratio:.2f}x; one worker, each method alone:"
    )
    for name, sec in shares.items():
        print(f"  {name:<16} {sec:6.1f} s  {100 * sec / total:4.1f} %  {1000 * sec / folds:6.1f} ms per fold")


def test_isolation_cost(benchmark, paper) -> None:
    """The whole study isolated (behind bubblewrap where it runs) against in-process: the same results."""
    from peppp_bench.protocol import boundary

    methods = [baselines.make(name) for name in baselines.BASELINES]
    ev = benchmark.pedantic(lambda: peppp_bench.evaluate(methods, paper, progress=False), rounds=1, iterations=1)
    started = time.perf_counter()
    plain = peppp_bench.evaluate(methods, paper, progress=False, isolate=False)
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
