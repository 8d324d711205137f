"""`peppp-bench generate --status`: its estimate of the time left against the time the rest then takes.

A small spec (two digit tasks, the mini recipe's MLP shortened, 2 workers; 24 of the paper's
configurations in units of 4, or 12 of today's, cheap and dear mixed, in units of 2) is generated the way
long generations are: a first run stopped with SIGTERM part-way (its units in
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
configs_per_unit = {per_unit}

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


MODERN_MIX = [  # cheap and dear side by side: full precision, FP8 with scaling, block formats with stochastic rounding
    "fp32",
    "bf16",
    "fp8-delayed-e4m3-e5m2-opt-fp32",
    "mxfp8-b32-opt-fp32",
    "mxfp4-sr-b32-opt-fp32",
    "nvfp4-sr-opt-fp32",
    "fp16",
    "fp8-current-e4m3-opt-fp32",
    "mxfp6-e2m3-b32-opt-fp32",
    "nvfp4-mxfp8-bwd-opt-fp32",
    "mxint8-b32-opt-fp32",
    "bf16-opt-bf16",
]


@pytest.mark.parametrize("kind", ["paper", "modern"])
def test_status_estimate_within_one_and_a_half_times_of_the_rest(tmp_path: Path, kind: str) -> None:
    from peppp_bench.configs import CONFIG_IDS
    from peppp_bench.generate.store import Store

    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    configs, per_unit = (list(CONFIG_IDS[::4][:24]), 4) if kind == "paper" else (MODERN_MIX, 2)
    spec.write_text(SPEC.format(configs=json.dumps(configs), per_unit=per_unit))  # 96 or 48 cells
    command = [sys.executable, "-m", "peppp_bench.cli", "generate", str(spec), "--store", str(store)]
    command += ["--workers", "2", "--quiet"]
    first = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    while _cells(store) < len(configs) + 6 and first.poll() is None:
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
        f"\n{kind}: {status['done']} of {status['total']} cells done after the stopped run; the rest took {took:.1f} s "
        f"({wall:.1f} s with the command's start-up); --status estimated {status['seconds_left']:.1f} s "
        f"({ratio:.2f}×); the runs' rate estimated {former:.1f} s ({former / took:.2f}×)"
    )
    assert 1 / 1.5 <= ratio <= 1.5
