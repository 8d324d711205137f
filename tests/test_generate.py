"""Generating matrices end to end: a store that survives being killed, refuses other specs, becomes a
suite that loads and evaluates; the Ray back end on a local Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import peppp_bench  # noqa: E402
from peppp_bench.cli import main  # noqa: E402
from peppp_bench.generate.spec import SpecError, parse_spec  # noqa: E402
from peppp_bench.generate.store import Store, StoreError  # noqa: E402
from peppp_bench.provenance import cpu_model  # noqa: E402

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
    return len(list(store.glob("cells/*/*/*/*.json")))


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
    before = {p: p.stat().st_mtime_ns for p in store.glob("cells/*/*/*/*.json")}
    assert 0 < len(before) < 297

    out = tmp_path / "suites" / "gen-e2e"
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(out)]) == 0
    assert _cells(store) == 297
    for p, mtime in before.items():  # nothing finished was recomputed
        assert p.stat().st_mtime_ns == mtime
    assert not list(store.glob("cells/*/*/*/.*.tmp"))  # temporaries of the killed run were cleared
    bench = peppp_bench.load("gen-e2e", data_dir=tmp_path / "suites")
    assert bench.E.shape == (3, 99) and (bench.M > 0).all()
    prov = bench.metadata["provenance"]
    assert prov["seeds"] == [0] and prov["generation_wall_seconds"] > 0
    assert sum(prov["cells_by_git_sha"].values()) == 297 and set(prov["cells_by_git_sha"]) == {
        json.loads(p.read_text())["provenance"]["git_sha"] for p in store.glob("cells/*/*/*/*.json")
    }
    # each cell names the CPU and torch's kernel instruction set it was trained with (cells differ across them)
    assert prov["cells_by_cpu"] == {f"{cpu_model()}, torch {torch.backends.cpu.get_cpu_capability()}": 297}
    import baselines

    ev = peppp_bench.evaluate(
        baselines.make("ed-mf", rank=2), bench, settings=("I",), budgets=(2, 3), workers=1, progress=False, seeds=(0,)
    )
    assert (ev.results.status == "ok").all() and len(ev.results) == 6


def _small(
    configs: list[str], tasks: str = "", extra: str = "", recipe: str = "epochs = 1, lr = 0.05, batch_size = 16"
) -> str:
    """A tiny spec: one or two digits tasks, the given configurations, one unit per task."""
    return f"""
[suite]
name = "small"
version = "0.0.1"
seeds = [0]
configurations = {configs!r}
architecture = {{ name = "mlp", hidden = [8] }}
recipe = {{ name = "clean", {recipe} }}
{extra}
[[tasks]]
id = "digits-0v1"
source = "digits"
options = {{ classes = [0, 1] }}
{tasks}""".replace("'", '"')


FOUR = ["e3m1-e6m7", "e4m2-e7m9", "e5m3-e8m11", "e3m4-e6m9"]
MORE_TASKS = """
[[tasks]]
id = "digits-3v8"
source = "digits"
options = { classes = [3, 8] }
"""


@pytest.mark.parametrize(
    "change, key",
    [
        ("configs_per_unit = 2", None),  # the valid baseline of this table
        ("configs_per_units = 2", "unknown key(s) ['configs_per_units']"),
        ("configs_per_unit = 0", "suite.configs_per_unit = 0: expected an integer ≥ 1"),
        ('configs_per_unit = "2"', "suite.configs_per_unit = '2'"),
        ('cap_rule = "mean"', "suite.cap_rule = 'mean': expected global-median or row-median"),
        ('backend = "fpga"', "suite.backend = 'fpga': expected native or qtorch"),
    ],
)
def test_suite_keys_are_checked(change: str, key: str | None) -> None:
    text = _small(FOUR, extra=change)
    if key is None:
        assert parse_spec(text).configs_per_unit == 2
    else:
        with pytest.raises(SpecError) as err:
            parse_spec(text)
        assert key in str(err.value)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("epochs = 1", "epochs = 0", "suite.recipe.epochs = 0: expected an integer ≥ 1"),
        ("lr = 0.05", "lr = 0", "suite.recipe.lr = 0: expected a number > 0"),
        ("lr = 0.05", "lrate = 0.05", "suite.recipe: unknown key(s) ['lrate']"),
        ("seeds = [0]", "seeds = []", "suite.seeds = []: expected a non-empty list"),
        ("seeds = [0]", "seeds = [1, 1]", "suite.seeds = [1, 1]"),
        ("hidden = [8]", "hidden = [0]", "suite.architecture.hidden = [0]: expected a list of integers ≥ 1"),
        ('name = "mlp", hidden = [8]', 'name = "resnet", blocks = [0]', "suite.architecture.blocks = [0]"),
        (
            'name = "mlp", hidden = [8]',
            'name = "transformer"',
            "unknown architecture 'transformer'; built-ins: resnet, vgg, mlp, vit",
        ),
        ('name = "mlp", hidden = [8]', 'name = "mlp", width = 8', "unknown key(s) ['width'] for mlp"),
        ('name = "mlp", hidden = [8]', 'factory = "no_such_module_xyz:net"', "No module named 'no_such_module_xyz'"),
        (
            'name = "mlp", hidden = [8]',
            'factory = "torch.nn:Linear", quantize = { modules = ["Conv9d"] }',
            "quantize.modules: unknown module type(s) ['Conv9d']; known:",
        ),
        (
            'name = "mlp", hidden = [8]',
            'factory = "torch.nn:Linear", quantize = { functions = ["fma"] }',
            "quantize.functions: unknown function(s) ['fma']; known:",
        ),
        ('id = "digits-0v1"', 'id = "../up"', "tasks[0].id = '../up': expected a safe file name"),
        ('source = "digits"', 'source = "mnist"', "tasks[0].source = 'mnist'"),
        ('source = "digits"', 'source = "digits"\ncolour = true', "tasks[0]: unknown key(s) ['colour']"),
    ],
)
def test_bad_specs_are_refused_naming_the_key(old: str, new: str, message: str) -> None:
    text = _small(FOUR)
    assert old in text
    with pytest.raises(SpecError) as err:
        parse_spec(text.replace(old, new, 1))
    assert message in str(err.value)


def test_more_bad_specs() -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec("[suite")
    with pytest.raises(SpecError, match="names no"):
        parse_spec('[suite]\nname="x"\nversion="1"\nseeds=[0]\n')
    with pytest.raises(SpecError, match="unknown configuration 'e9m9-e6m7'"):
        parse_spec(_small(["e9m9-e6m7"]))
    with pytest.raises(SpecError, match=r"lists \['e3m1-e6m7'\] more than once"):
        parse_spec(_small(["e3m1-e6m7", "e3m1-e6m7"]))
    with pytest.raises(SpecError, match="ids must be unique"):
        parse_spec(_small(FOUR, tasks=MORE_TASKS.replace("digits-3v8", "digits-0v1")))


def test_bad_task_options_and_networks_are_refused_before_the_store_exists(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    for text, message in [
        (_small(FOUR).replace("classes = [0, 1]", "classes = [0, 1], colour = true"), "unknown option(s) ['colour']"),
        (_small(FOUR).replace("classes = [0, 1]", "classes = [0]"), "at least two"),
        (_small(FOUR).replace('name = "mlp", hidden = [8]', 'name = "vit", patch = 3'), "multiple of the patch size"),
        (_small(FOUR), "no CUDA device"),
        (_small(FOUR), "'gpu' is not a device: give cpu, cuda"),  # a typo: refused, not a store of failed units
    ]:
        spec = tmp_path / "spec.toml"
        spec.write_text(text)
        extra = {"no CUDA device": ["--device", "cuda"]}.get(message, [])
        extra = ["--device", "gpu"] if "gpu" in message else extra
        assert main(["generate", str(spec), "--store", str(store), "--quiet", *extra]) != 0
        assert message in capsys.readouterr().err
        assert not store.exists(), message


def test_store_is_keyed_by_cell(tmp_path: Path, capsys) -> None:
    """Adding a task, a seed or a configuration reuses every finished cell; a comment changes nothing; a
    change of what a cell means is refused with the cells it affects."""
    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(_small(FOUR[:2]))
    assert main(["generate", str(spec), "--store", str(store), "--quiet"]) == 0
    first = {p: p.stat().st_mtime_ns for p in store.glob("cells/*/*/*/*.json")}
    assert len(first) == 2
    spec.write_text("# a comment\n" + _small(FOUR, tasks=MORE_TASKS).replace("seeds = [0]", "seeds = [0, 1]"))
    assert main(["generate", str(spec), "--store", str(store), "--quiet"]) == 0
    assert "2 already in" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
    assert _cells(store) == 2 * 2 * 4
    spec.write_text(_small(FOUR, tasks=MORE_TASKS).replace("epochs = 1", "epochs = 2"))
    with pytest.raises(StoreError, match=r"changes what 16 finished cell\(s\).*digits-0v1/mlp-8/0/e3m1-e6m7"):
        Store(store, parse_spec(spec.read_text()))
    with pytest.raises(StoreError, match="not empty and is not a generation store"):
        Store(tmp_path, parse_spec(spec.read_text()))


def test_column_order_does_not_matter(tmp_path: Path) -> None:
    """Configurations listed in reverse give the same suite: every column keyed by its id end to end."""
    suites = []
    for name, configs in (("canonical", FOUR), ("reverse", FOUR[::-1])):
        spec = tmp_path / f"{name}.toml"
        spec.write_text(_small(configs, tasks=MORE_TASKS))
        out = tmp_path / "suites" / name
        assert (
            main(["generate", str(spec), "--store", str(tmp_path / f"store-{name}"), "--quiet", "--to-suite", str(out)])
            == 0
        )
        suites.append(peppp_bench.load("small", data_dir=out))
    a, b = suites
    canonical = sorted(FOUR, key=lambda c: peppp_bench.get_config(c).index)
    assert list(a.error.columns) == list(b.error.columns) == canonical
    assert a.error.equals(b.error) and a.memory.equals(b.memory) and a.data_sha256 == b.data_sha256
    from peppp_bench.generate.architectures import Architecture
    from peppp_bench.generate.data import DataSpec, load_data
    from peppp_bench.generate.recipes import get_recipe
    from peppp_bench.generate.train import train_cell

    data = load_data(DataSpec("digits", {"classes": [0, 1]}))
    alone = train_cell(
        data,
        "e5m3-e8m11",
        Architecture.builtin("mlp", hidden=[8]),
        get_recipe("clean", epochs=1, lr=0.05, batch_size=16),
        seed=0,
    )
    assert a.error.loc["digits-0v1", "e5m3-e8m11"] == alone.error
    counts = Architecture.builtin("mlp", hidden=[8]).counts(2, (1, 8, 8))
    for c in FOUR:  # memory keyed by id as well
        cfg = peppp_bench.get_config(c)
        assert b.memory.loc["digits-0v1", c] == counts.memory_mb(cfg.a.bits, cfg.b.bits)
    import baselines

    ev = peppp_bench.evaluate(
        baselines.make("ed-mf", rank=1),
        a,
        settings=("I",),
        budgets=(2,),
        workers=1,
        progress=False,
        isolate=False,
        seeds=(0,),
    )
    assert len(ev.results) == 2 and (ev.results.status == "ok").all()


def test_a_failing_unit_is_recorded_and_retried_in_halves(tmp_path: Path, monkeypatch, capsys) -> None:
    from peppp_bench.generate import backends

    real = backends.run_unit

    def flaky(text, base, unit, device, threads):
        if "e5m3-e8m11" in unit.config_ids:
            raise MemoryError("pretend the unit ran out of memory")
        return real(text, base, unit, device, threads)

    monkeypatch.setattr(backends, "run_unit", flaky)
    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(_small(FOUR))
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(tmp_path / "out")]) == 1
    assert _cells(store) == 3  # 4 → 2 + 2 → the good half, then 1 + 1
    failures = [json.loads(line) for line in (store / "failures.jsonl").read_text().splitlines()]
    assert [len(f["config_ids"]) for f in failures] == [4, 2, 1] and "MemoryError" in failures[0]["error"]
    assert not (tmp_path / "out").exists()
    assert main(["generate", "--status", str(store)]) == 0
    assert "3 done, 1 failed, 0 remaining of 4 cells" in capsys.readouterr().out
    monkeypatch.setattr(backends, "run_unit", real)
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(tmp_path / "out")]) == 0
    assert _cells(store) == 4 and (tmp_path / "out" / "cells.parquet").is_file()


def test_a_unit_that_fails_before_training_is_not_retried_and_its_traceback_is_whole(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """A unit that cannot start (its device, data or network) fails every part of it alike: one attempt,
    not 2N − 1, and the failure records the whole traceback down to where it was raised."""
    from peppp_bench.generate import train

    def broken(*_args, **_kwargs):
        def deeper(depth: int):
            if depth == 0:
                raise ValueError("the device cannot be set up")
            deeper(depth - 1)

        deeper(5)

    monkeypatch.setattr(train, "configure_device", broken)
    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(_small(FOUR))
    assert main(["generate", str(spec), "--store", str(store), "--quiet"]) == 1
    failures = [json.loads(line) for line in (store / "failures.jsonl").read_text().splitlines()]
    assert [len(f["config_ids"]) for f in failures] == [4]
    error = failures[0]["error"]
    assert (
        "SetupError: ValueError: the device cannot be set up" in error and error.count('File "') > 4
    )  # not cut to 4 frames
    assert "4 configuration(s) failed" in capsys.readouterr().out


def test_a_row_that_learned_nothing_is_warned_about(tmp_path: Path, monkeypatch, capsys) -> None:
    """Every cell of a row at the error of always answering the commonest class: the recipe learned nothing."""
    import numpy as np

    from peppp_bench.generate import train

    def commonest_class(model, data, copies, *_args):
        return np.full(copies, 1 - np.bincount(data.y_test.numpy()).max() / len(data.y_test), dtype=np.float32)

    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(_small(FOUR[:2]))
    assert main(["generate", str(spec), "--store", str(store), "--quiet"]) == 0
    assert "warning: every cell" not in capsys.readouterr().err  # trained for real: not every cell at chance
    monkeypatch.setattr(train, "_test_errors", commonest_class)
    spec.write_text(_small(FOUR[:2], tasks=MORE_TASKS))
    assert main(["generate", str(spec), "--store", str(store), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: every cell of digits-3v8/mlp-8/0 has error" in err and "digits-0v1" not in err


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split() if (task / "children").exists() else []
        out |= {int(c) for c in text}
    return out


def test_sigterm_stops_the_workers_and_keeps_the_store(tmp_path: Path, capsys) -> None:
    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(SPEC.replace("configs_per_unit = 33", "configs_per_unit = 11"))
    cmd = [
        sys.executable,
        "-m",
        "peppp_bench.cli",
        "generate",
        str(spec),
        "--store",
        str(store),
        "--quiet",
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    workers: set[int] = set()
    while _cells(store) < 11 and time.time() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        time.sleep(0.1)
    workers |= _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    time.sleep(0.5)
    assert workers and not [
        w for w in workers if Path(f"/proc/{w}").exists() and "zombie" not in Path(f"/proc/{w}/status").read_text()
    ]
    done = _cells(store)
    assert 0 < done < 297
    for cell in store.glob("cells/*/*/*/*.json"):  # every cell whole
        assert "error" in json.loads(cell.read_text())
    runs = [json.loads(line) for line in (store / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["interrupted"] and runs[-1]["threads"] == 1
    assert main(["generate", "--status", str(store)]) == 0
    assert f"{done} done, 0 failed, {297 - done} remaining" in capsys.readouterr().out


FACTORY = """
import torch
from torch import nn


class SmallVGG(nn.Module):
    def __init__(self, classes, channels, width=8):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x):
        y = self.features(x)
        return self.head(torch.flatten(y + y.mean(dim=(2, 3), keepdim=True), 2).mean(-1))


def small_vgg(classes, channels, width=8):
    return SmallVGG(classes, channels, width)
"""


def test_a_factory_in_a_users_file_and_several_architectures(tmp_path: Path, capsys) -> None:
    (tmp_path / "mynets.py").write_text(FACTORY)
    text = (
        _small(FOUR[:2], tasks=MORE_TASKS).replace('architecture = { name = "mlp", hidden = [8] }', "")
        + """
[architectures.mine]
factory = "mynets.py:small_vgg"
args = { width = 4 }
quantize = { modules = ["Conv2d", "Linear", "BatchNorm2d", "ReLU"] }

[architectures.mlp]
name = "mlp"
hidden = [8]
"""
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    out = tmp_path / "suites" / "small"
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)  # the factory file is found beside the spec
    try:
        assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--quiet", "--to-suite", str(out)]) == 0
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err  # the add and the mean are not declared; both could be
    assert "left unquantized" in err and "declare ['add', 'mean'] in quantize.functions" in err
    bench = peppp_bench.load("small", data_dir=out)
    assert bench.dataset_ids == ["digits-0v1--mine", "digits-0v1--mlp", "digits-3v8--mine", "digits-3v8--mlp"]
    assert list(bench.datasets.task) == ["digits-0v1", "digits-0v1", "digits-3v8", "digits-3v8"]
    assert list(bench.datasets.architecture) == ["mine", "mlp", "mine", "mlp"]
    record = bench.metadata["provenance"]["architectures"]["mine"]
    assert record["args"] == {"width": 4} and len(record["source_sha256"]) == 64
    assert bench.M[0, 0] != bench.M[1, 0]  # each architecture's own memory


@pytest.mark.ray
def test_ray_back_end_generates_a_tiny_matrix(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    spec = tmp_path / "spec.toml"
    spec.write_text(
        SPEC.replace('configurations = "all"', 'configurations = ["e3m1-e6m7", "e5m3-e8m11"]').replace(
            "configs_per_unit = 33", "configs_per_unit = 1"
        )
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--backend", "ray", "--quiet"]) == 0
    finally:
        ray.shutdown()
    assert _cells(tmp_path / "store") == 6
