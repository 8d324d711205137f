"""Generating matrices end to end: a store that survives being killed, refuses other specs, becomes a
suite that loads and evaluates; the Ray back end on a local Ray."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

import peppp_bench  # noqa: E402
from peppp_bench.cli import main  # noqa: E402
from peppp_bench.generate.spec import SpecError, parse_spec  # noqa: E402
from peppp_bench.generate.store import Store, StoreError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
[suite]
name = "gen-e2e"
version = "0.0.1"
description = "end-to-end test suite"
seeds = [0]
configurations = "all"
architecture = { blocks = [1], width = 2 }
recipe = { name = "clean", epochs = 1, lr = 0.05, batch_size = 16 }
configs_per_unit = 33

[[tasks]]
id = "lfw-8"
source = "lfw"
options = { size = 8 }

[[tasks]]
id = "digits-0v1"
source = "digits"
options = { classes = [0, 1] }

[[tasks]]
id = "docs-8"
source = "photo-patches"
options = { photos = ["page", "text"], patch = 8, train_per_class = 32, test_per_class = 16 }
"""


def _cells(store: Path) -> int:
    return len(list(store.glob("cells/*/*/*.json")))


def test_kill_restart_finish_convert_load_evaluate(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "peppp_bench.cli", "generate", str(spec), "--store", str(store), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 240
    while _cells(store) < 33 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # killed mid-run, workers and all
    proc.wait()
    before = {p: p.stat().st_mtime_ns for p in store.glob("cells/*/*/*.json")}
    assert 0 < len(before) < 297

    out = tmp_path / "suites" / "gen-e2e"
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(out)]) == 0
    assert _cells(store) == 297
    for p, mtime in before.items():  # nothing finished was recomputed
        assert p.stat().st_mtime_ns == mtime
    assert not list(store.glob("cells/*/*/.*.tmp"))  # temporaries of the killed run were cleared
    bench = peppp_bench.load("gen-e2e", data_dir=tmp_path / "suites")
    assert bench.E.shape == (3, 99) and (bench.M > 0).all()
    assert bench.metadata["provenance"]["seeds"] == [0] and bench.metadata["provenance"]["generation_wall_seconds"] > 0
    import baselines

    ev = peppp_bench.evaluate(baselines.make("ed-mf", rank=2), bench, settings=("I",), budgets=(2, 3), workers=1, progress=False)
    assert (ev.results.status == "ok").all() and len(ev.results) == 6


def test_a_store_refuses_another_spec(tmp_path: Path) -> None:
    Store(tmp_path / "s", parse_spec(SPEC))
    other = parse_spec(SPEC.replace("epochs = 1", "epochs = 2"))
    with pytest.raises(StoreError, match="different spec"):
        Store(tmp_path / "s", other)


def test_bad_specs() -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec("[suite")
    with pytest.raises(SpecError, match="names no"):
        parse_spec('[suite]\nname="x"\nversion="1"\nseeds=[0]\n')
    with pytest.raises(KeyError, match="unknown configuration"):
        parse_spec(SPEC.replace('configurations = "all"', 'configurations = ["e9m9-e6m7"]'))


@pytest.mark.ray
def test_ray_back_end_generates_a_tiny_matrix(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace('configurations = "all"', 'configurations = ["e3m1-e6m7", "e5m3-e8m11"]')
                        .replace("configs_per_unit = 33", "configs_per_unit = 1"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--backend", "ray", "--quiet"]) == 0
    finally:
        ray.shutdown()
    assert _cells(tmp_path / "store") == 6
