"""Warm load of the paper suite, against reading its Parquet table alone (the floor)."""

from __future__ import annotations

import pandas as pd

import peppp_bench


def test_warm_load(benchmark, suites_dir) -> None:
    peppp_bench.load("paper", data_dir=suites_dir)
    bench = benchmark(peppp_bench.load, "paper", data_dir=suites_dir)
    assert bench.E.shape == (87, 99)


def test_reference_read_cells_only(benchmark, suites_dir) -> None:
    benchmark(pd.read_parquet, suites_dir / "paper" / "cells.parquet")
