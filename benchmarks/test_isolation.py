"""What isolation costs: a method from a user's file scored on `mini` behind the sandbox (bubblewrap, a fresh
copy forked from the method's zygote for every fold) against the same method in the harness's own process, and
what one fork of a process with the zygote's libraries loaded costs on its own.

Run: pytest benchmarks/test_isolation.py --benchmark-enable -s
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.timing import best_of
from peppp_bench.protocol import boundary
from peppp_bench.protocol.runner import evaluate

METHOD = """
import numpy as np
from peppp_bench import Method, regress


class Cheapest(Method):
    name = "cheapest"

    def select(self, task, oracle):
        for j in task.valid[np.argsort(task.test_memory[task.valid])][: task.budget]:
            oracle.measure(int(j))

    def predict(self, task, measured):
        return regress(task.embeddings(rank=5), measured, task.valid)
"""

FORK = """
import gc, os, time
from peppp_bench.protocol import registry
registry.registered()  # what the zygote preloads: the registered methods and their libraries
import pandas
gc.freeze()
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    for _ in range(50):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    best = min(best, (time.perf_counter() - t) / 50)
print(best)
"""


def test_what_isolation_costs_per_fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not boundary.available():
        pytest.skip(f"needs bubblewrap: {boundary.INSTALL_HINT}")
    (tmp_path / "user_method.py").write_text(METHOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    cheapest = importlib.import_module("user_method").Cheapest

    def run(isolate: bool) -> int:
        method = f"{tmp_path / 'user_method.py'}:Cheapest" if isolate else cheapest()
        ev = evaluate(method, "mini", seeds=(0, 1), workers=1, progress=False, isolate=isolate)
        return len(ev.results)

    folds = run(False)
    inside = best_of(lambda: run(False), 2)
    behind = best_of(lambda: run(True), 2)
    fork = float(subprocess.run([sys.executable, "-c", FORK], capture_output=True, text=True, check=True).stdout)
    print(
        f"\n{folds} folds (mini, settings I-VI, n = 5, 10, 15, mask seeds 0-1, one worker): in-process {inside:.1f} s, "
        f"behind the sandbox {behind:.1f} s ({behind / inside:.1f}x), {1000 * (behind - inside) / folds:.1f} ms more "
        f"per fold; one fork of a process with the zygote's libraries loaded {1000 * fork:.1f} ms"
    )
    assert behind > inside
