"""`peppp-bench generate --status`: its estimate of the time left against the time the rest then takes.

A small spec (two digit tasks, the mini recipe's MLP shortened, units of 4 configurations, 2 workers)
is generated the way long generations are: a first run stopped with SIGTERM part-way (its units in
flight are lost), then `--status`, then the same command to the end, timed. The estimate comes from the
finished cells' own unit times; the former estimate (the runs' wall clock over their cells) is printed
beside it. Target: the estimate within 1.5× of the time the rest took to generate (the run's seconds in
runs.jsonl; the command's few seconds of start-up, imports and checks, come on top and are printed).

Run: pytest benchmarks/test_status.py --benchmark-enable -s
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
[suite]
name = "status-bench"
version = "0.0.1"
seeds = [0, 1]
configurations = {configs}
architecture = {{ name = "mlp", hidden = [64, 32] }}
recipe = {{ name = "clean", epochs = 6, lr = 0.05, batch_size = 16 }}
configs_per_unit = 4

[[tasks]]
id = "digits-0-4"
source = "digits"
options = {{ classes = [0, 1, 2, 3, 4] }}

[[tasks]]
id = "digits-5-9"
source = "digits"
options = {{ classes = [5, 6, 7, 8, 9] }}
"""


def _cells(store: Path) -> int:
    return len(list(store.glob("cells/*/*/*/*.json")))


def test_status_estimate_within_one_and_a_half_times_of_the_rest(tmp_path: Path) -> None:
    from peppp_bench.configs import CONFIG_IDS
    from peppp_bench.generate.store import Store

    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(SPEC.format(configs=json.dumps(list(CONFIG_IDS[::4][:24]))))  # 24 configurations, 96 cells
    command = [sys.executable, "-m", "peppp_bench.cli", "generate", str(spec), "--store", str(store)]
    command += ["--workers", "2", "--quiet"]
    first = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    while _cells(store) < 30 and first.poll() is None:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGTERM)  # stopped part-way: the units in flight are lost
    first.wait()

    opened = Store.open(store)
    status = opened.status()
    runs = opened.runs()
    former = status["remaining"] * sum(r["seconds"] for r in runs) / sum(r["cells"] for r in runs)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    wall = time.perf_counter() - started
    took = Store.open(store).runs()[-1]["seconds"]  # generating, as runs.jsonl records it (no CLI start-up)
    ratio = status["seconds_left"] / took
    print(
        f"\n{status['done']} of {status['total']} cells done after the stopped run; the rest took {took:.1f} s "
        f"({wall:.1f} s with the command's start-up); --status estimated {status['seconds_left']:.1f} s "
        f"({ratio:.2f}×); the runs' rate estimated {former:.1f} s ({former / took:.2f}×)"
    )
    assert 1 / 1.5 <= ratio <= 1.5
