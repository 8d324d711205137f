"""How the protocol's cost grows with rows: ED-MF alone, one mask seed, budgets 5 and 10, settings III and
V, on synthetic rank-4 suites of 100 to 800 rows (`suites/synthetic.py`), on every core, isolated.

Run: pytest benchmarks/test_scaling.py --benchmark-enable -s
Reports each time and the growth exponent (least squares of log time on log rows); the target is V at
800 rows in at most 60 s on 2 cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

import peppp_bench
from peppp_bench.suites.suite import read_suite
from peppp_bench.suites.synthetic import synthetic_suite

ROWS = (100, 200, 400, 800)


def test_ed_mf_cost_grows_with_rows(benchmark, tmp_path: Path) -> None:
    times: dict[str, dict[int, float]] = {"III": {}, "V": {}}

    def run() -> None:
        for rows in ROWS:
            bench = read_suite(synthetic_suite(tmp_path / f"rows-{rows}", n=rows, name=f"synthetic-{rows}", seed=3))
            for setting in times:
                started = time.perf_counter()
                ev = peppp_bench.evaluate(
                    "ed-mf", bench, settings=[setting], budgets=[5, 10], seeds=[0], progress=False
                )
                times[setting][rows] = time.perf_counter() - started
                assert (ev.results.status == "ok").all()

    benchmark.pedantic(run, rounds=1, iterations=1)
    exponents = {s: float(np.polyfit(np.log(list(t)), np.log(list(t.values())), 1)[0]) for s, t in times.items()}
    benchmark.extra_info.update({"workers": os.cpu_count(), "seconds": times, "growth_exponent": exponents})
    print(f"\nED-MF, one mask seed, budgets 5 and 10, {os.cpu_count()} workers, isolated:")
    print("rows  " + "  ".join(f"{s:>8}" for s in times))
    for rows in ROWS:
        print(f"{rows:4d}  " + "  ".join(f"{times[s][rows]:7.1f}s" for s in times))
    print("growth exponent  " + "  ".join(f"{s} {e:.2f}" for s, e in exponents.items()))
