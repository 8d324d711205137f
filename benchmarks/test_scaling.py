"""How the protocol's cost grows with rows: ED-MF alone, one mask seed, budgets 5 and 10, settings III and
V, on synthetic rank-4 suites of 100 to 800 rows (`suites/synthetic.py`), on every core, isolated.

Run: pytest benchmarks/test_scaling.py --benchmark-enable -s
Reports each time and the growth exponent (least squares of log time on log rows). Suites of more than
GROUPED_ABOVE tasks (400 and 800 rows here) hold datasets out in groups; the reference in the same run is
the 800-row suite under meta-LOOCV, one completion per dataset. The target is V at 800 rows in at most
60 s on 2 cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

import peppp_bench
from peppp_bench.suites import suite
from peppp_bench.suites.suite import read_suite
from peppp_bench.suites.synthetic import synthetic_suite

ROWS = (100, 200, 400, 800)


def _seconds(bench: suite.Benchmark, setting: str) -> float:
    started = time.perf_counter()
    ev = peppp_bench.evaluate("ed-mf", bench, settings=[setting], budgets=[5, 10], seeds=[0], progress=False)
    assert (ev.results.status == "ok").all()
    return time.perf_counter() - started


def test_ed_mf_cost_grows_with_rows(benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    times: dict[str, dict[int, float]] = {"III": {}, "V": {}}
    loocv: dict[str, float] = {}

    def run() -> None:
        for rows in ROWS:
            bench = read_suite(synthetic_suite(tmp_path / f"rows-{rows}", n=rows, name=f"synthetic-{rows}", seed=3))
            for setting in times:
                times[setting][rows] = _seconds(bench, setting)
        with monkeypatch.context() as m:  # the reference: the same 800 rows held out one at a time
            m.setattr(suite, "GROUPED_ABOVE", 10**9)
            bench = read_suite(tmp_path / f"rows-{ROWS[-1]}")  # grouping is decided when a suite is read
            assert bench.holdout_groups is None
            for setting in times:
                loocv[setting] = _seconds(bench, setting)

    benchmark.pedantic(run, rounds=1, iterations=1)
    exponents = {s: float(np.polyfit(np.log(list(t)), np.log(list(t.values())), 1)[0]) for s, t in times.items()}
    benchmark.extra_info.update(
        {"workers": os.cpu_count(), "seconds": times, "growth_exponent": exponents, "loocv_800_seconds": loocv}
    )
    print(f"\nED-MF, one mask seed, budgets 5 and 10, {os.cpu_count()} workers, isolated:")
    print("rows  " + "  ".join(f"{s:>8}" for s in times))
    for rows in ROWS:
        print(f"{rows:4d}  " + "  ".join(f"{times[s][rows]:7.1f}s" for s in times))
    print("growth exponent  " + "  ".join(f"{s} {e:.2f}" for s, e in exponents.items()))
    print(
        "800 rows under meta-LOOCV (reference)  "
        + "  ".join(f"{s} {loocv[s]:.1f}s ({loocv[s] / times[s][800]:.1f}x the grouped time)" for s in times)
    )
