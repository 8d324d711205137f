"""The one timing rule of the benchmarks: the fastest of several calls, after a warm-up call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeats: int, warm_up: bool = True) -> float:
    """Seconds of the fastest of `repeats` calls of fn (after one untimed call when `warm_up`)."""
    if warm_up:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best
