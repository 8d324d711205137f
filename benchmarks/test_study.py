"""The whole baseline study on the paper suite: every baseline × settings I–VI × n = 5…15 × 87 folds.

Run: pytest benchmarks/test_study.py --benchmark-enable -s
Reports the wall time on all cores and each method's share (each method alone, one worker), also per
fold (one setting and held-out dataset, every budget n = 5…15).
"""
from __future__ import annotations

import os
import time

import baselines
import peppp_bench


def test_whole_study(benchmark, paper) -> None:
    methods = [baselines.make(name) for name in baselines.BASELINES]
    ev = benchmark.pedantic(lambda: peppp_bench.evaluate(methods, paper, progress=False), rounds=1, iterations=1)
    assert (ev.results.status == "ok").all()
    shares = {}
    for m in methods:
        t = time.perf_counter()
        peppp_bench.evaluate(baselines.make(m.name), paper, workers=1, progress=False)
        shares[m.name] = time.perf_counter() - t
    total = sum(shares.values())
    folds = 6 * paper.E.shape[0]
    benchmark.extra_info.update({"workers": os.cpu_count(), "rows": len(ev.results), "wall_seconds": ev.meta["wall_seconds"],
                                 "single_worker_seconds": shares})
    print(f"\nwhole study on {os.cpu_count()} workers: {ev.meta['wall_seconds']:.1f} s; one worker, each method alone:")
    for name, sec in shares.items():
        print(f"  {name:<16} {sec:6.1f} s  {100 * sec / total:4.1f} %  {1000 * sec / folds:6.1f} ms per fold")
