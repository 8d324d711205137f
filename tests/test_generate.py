"""Generating matrices end to end: a store that survives being killed, refuses other specs, becomes a
suite that loads and evaluates; the Ray back end on a local Ray."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import peppp_bench  # noqa: E402
from peppp_bench.cli import main  # noqa: E402
from peppp_bench.generate import backends  # noqa: E402
from peppp_bench.generate.spec import SpecError, parse_spec, read_spec  # noqa: E402
from peppp_bench.generate.store import Store, StoreError  # noqa: E402
from peppp_bench.generate.to_suite import add_replicates  # noqa: E402
from peppp_bench.provenance import cpu_model  # noqa: E402
from peppp_bench.suites.suite import read_suite  # noqa: E402

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
    cells = [json.loads(p.read_text()) for p in store.glob("cells/*/*/*/*.json")]
    threads = sum(c["wall_seconds"] * c["provenance"]["torch_threads"] for c in cells)
    assert prov["training_cpu_hours"] == round(threads / 3600, 3) > 0
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


def test_scoring_seeds_are_kept_apart_from_the_measured_mean(tmp_path: Path) -> None:
    """With `scoring_seeds`, the suite's matrix is the other seeds' mean, every seed's cells are its replicates,
    `truth`, what frontiers are scored against, is the scoring seeds' mean, and a label of negative control
    reaches the metadata and the card."""
    spec = tmp_path / "spec.toml"
    label = "made to test the label."
    spec.write_text(
        _small(FOUR, MORE_TASKS).replace(
            "seeds = [0]", f'seeds = [0, 1, 2, 3]\nscoring_seeds = [1, 3]\nnegative_control = "{label}"'
        )
    )
    store, out = tmp_path / "store", tmp_path / "suites" / "small"
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(out)]) == 0
    bench = read_suite(out)
    cells = {
        (p.parts[-4], int(p.parts[-2]), p.stem): json.loads(p.read_text())["error"]
        for p in store.glob("cells/*/*/*/*.json")
    }
    for i, task in enumerate(bench.dataset_ids):
        for j, cid in enumerate(bench.error.columns):
            assert bench.E[i, j] == pytest.approx((cells[task, 0, cid] + cells[task, 2, cid]) / 2, abs=1e-15)
            assert bench.truth[i, j] == pytest.approx((cells[task, 1, cid] + cells[task, 3, cid]) / 2, abs=1e-15)
    assert bench.scoring_seeds == (1, 3) and bench.metadata["seeds"] == {"measured": [0, 2], "scoring": [1, 3]}
    assert len(bench.replicates) == 4 * 2 * 4 and "two_way_configuration_f" in bench.metadata["structure"]
    assert bench.metadata["negative_control"] == label
    assert f"> **Negative control.** {label}" in (out / "README.md").read_text()
    with pytest.raises(StoreError, match="already holds every seed"):
        add_replicates(out, [Store.open(store)], tmp_path / "again", "0.0.2")


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


def _factory_spec(configs: list[str], modules: list[str]) -> str:
    """The tiny spec with the network of nets.py:net (the test's own file) and its quantized modules."""
    return _small(configs).replace(
        'architecture = { name = "mlp", hidden = [8] }',
        f'architecture = {{ factory = "nets.py:net", quantize = {{ modules = {json.dumps(modules)} }} }}',
    )


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
        ("seeds = [0]", "seeds = [0, 1, 2]\nscoring_seed = 5", "suite.scoring_seed = 5: it must be among seeds"),
        ("seeds = [0]", "seeds = [0, 1, 2]\nscoring_seeds = [2, 5]", "suite.scoring_seeds = [2, 5]: it must be among"),
        ("seeds = [0]", "seeds = [0, 1, 2]\nscoring_seeds = [1, 2]", "at least two other seeds"),
        ("seeds = [0]", "seeds = [0, 1, 2, 3]\nscoring_seeds = [3]\nscoring_seed = 3", "not both"),
        ("seeds = [0]", 'seeds = [0]\nnegative_control = " "', "suite.negative_control"),
        ("seeds = [0]", "seeds = [0, 1]\nscoring_seed = 1", "at least two other seeds"),
        ("seeds = [0]", "seeds = [0, 1, 2]\nscoring_seed = true", "suite.scoring_seed = True: expected an integer"),
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
    with pytest.raises(
        StoreError, match=r"changes what 16 finished cell\(s\).*digits-0v1/mlp-8/0/e3m1-e6m7"
    ) as refused:
        Store(store, parse_spec(spec.read_text()))
    assert "(recipe.epochs)" in str(refused.value)  # what changed, and only that
    with pytest.raises(StoreError, match="not empty and is not a generation store"):
        Store(tmp_path, parse_spec(spec.read_text()))


def test_column_order_does_not_matter(tmp_path: Path) -> None:
    """Configurations listed in reverse give the same suite: every column keyed by its id end to end."""
    suites = []
    for name, configs in (("canonical", FOUR), ("reverse", FOUR[::-1])):
        spec = tmp_path / f"{name}.toml"
        spec.write_text(_small(configs, tasks=MORE_TASKS))
        out = tmp_path / name / "small"
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

    def flaky(text, base, unit, device, threads, **kwargs):
        if "e5m3-e8m11" in unit.config_ids:
            raise MemoryError("pretend the unit ran out of memory")
        return real(text, base, unit, device, threads, **kwargs)

    monkeypatch.setattr(backends, "run_unit", flaky)
    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(_small(FOUR))
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(tmp_path / "small")]) == 1
    assert _cells(store) == 3  # 4 → 2 + 2 → the good half, then 1 + 1
    failures = [json.loads(line) for line in (store / "failures.jsonl").read_text().splitlines()]
    assert [len(f["config_ids"]) for f in failures] == [4, 2, 1] and "MemoryError" in failures[0]["error"]
    assert not (tmp_path / "small").exists()
    assert main(["generate", "--status", str(store)]) == 0
    assert "3 done, 1 failed, 0 remaining of 4 cells" in capsys.readouterr().out
    monkeypatch.setattr(backends, "run_unit", real)
    assert main(["generate", str(spec), "--store", str(store), "--quiet", "--to-suite", str(tmp_path / "small")]) == 0
    assert _cells(store) == 4 and (tmp_path / "small" / "cells.parquet").is_file()
    assert main(["generate", str(spec), "--store", str(store), "--to-suite", str(tmp_path / "other")]) == 2
    assert "write it to" in capsys.readouterr().err and not (tmp_path / "other").exists()  # load finds it by name


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
        err = capsys.readouterr().err  # the add and the mean are not declared; both could be
        os.chdir(tmp_path)  # run from the spec's own folder, the spec means the same: the store resumes
        assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--quiet"]) == 0
    finally:
        os.chdir(cwd)
    assert "left unquantized" in err and "declare ['add', 'mean'] in quantize.functions" in err
    bench = peppp_bench.load("small", data_dir=out)
    assert bench.dataset_ids == ["digits-0v1--mine", "digits-0v1--mlp", "digits-3v8--mine", "digits-3v8--mlp"]
    assert list(bench.datasets.task) == ["digits-0v1", "digits-0v1", "digits-3v8", "digits-3v8"]
    assert list(bench.datasets.architecture) == ["mine", "mlp", "mine", "mlp"]
    record = bench.metadata["provenance"]["architectures"]["mine"]
    assert record["args"] == {"width": 4} and sorted(record["source"]) == [
        "mynets.py:SmallVGG",
        "mynets.py:SmallVGG.__init__.default[0]",  # width=8: a default's value, whatever the code's text says
        "mynets.py:small_vgg",
        "mynets.py:small_vgg.default[0]",
    ]
    assert bench.M[0, 0] != bench.M[1, 0]  # each architecture's own memory


@pytest.mark.ray
def test_ray_back_end_generates_a_tiny_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    spec = tmp_path / "spec.toml"
    spec.write_text(
        SPEC.replace('configurations = "all"', 'configurations = ["e3m1-e6m7", "e5m3-e8m11"]').replace(
            "configs_per_unit = 33", "configs_per_unit = 1"
        )
    )
    made: list[str] = []  # the folders made for Ray's session files
    real_mkdtemp = backends.tempfile.mkdtemp

    def mkdtemp(*args: Any, **kwargs: Any) -> str:
        folder = real_mkdtemp(*args, **kwargs)
        made.extend([folder] if Path(folder).name.startswith("peppp-ray-") else [])
        return folder

    monkeypatch.setattr(backends.tempfile, "mkdtemp", mkdtemp)
    ray_default = Path("/tmp/ray")  # where a Ray started without a folder of its own leaves its sessions
    sessions = set(ray_default.glob("session_2*"))
    assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--backend", "ray", "--quiet"]) == 0
    assert _cells(tmp_path / "store") == 6
    # The local Ray it started is stopped, and its session files are gone with the folder it made for them.
    assert not ray.is_initialized()
    assert len(made) == 1 and not Path(made[0]).exists()
    assert set(ray_default.glob("session_2*")) == sessions


OWN = """
[configurations.fp8w-bf16]
note = "FP8 E4M3 weights with delayed scaling, bf16 elsewhere"
base = "bf16"
weights = { format = "fp8_e4m3", scaling = "delayed" }

[configurations.mx6-all]
weights = { format = "fp6_e2m3", scaling = "mx", block = 16 }
activations = { format = "fp6_e2m3", scaling = "mx", block = 16 }
errors = { format = "fp6_e3m2", scaling = "mx", rounding = "stochastic" }
gradients = { format = "fp6_e3m2", scaling = "mx" }
optimizer = "bf16"
master = "fp32"
"""


def test_a_spec_defines_its_own_modern_configurations(tmp_path: Path) -> None:
    """[configurations.ID] tables: a format per role (or a base configuration's), validated like every key,
    trained batched beside bundled ones, keyed by id in the store and the suite; redefining one whose
    cells are finished is refused, naming it."""
    spec = parse_spec(_small(["mx6-all", "fp8w-bf16", "fp32"]) + OWN)
    own = spec.configuration("fp8w-bf16")
    assert own["weights"].scaling == "delayed" and own["activations"].format == "bf16"
    assert spec.configuration("mx6-all")["errors"].rounding == "stochastic"
    assert parse_spec(_small(["fp32"]).replace('configurations = ["fp32"]', "") + OWN).config_ids == (
        "fp8w-bf16",
        "mx6-all",
    )  # no list: the spec's own
    bad = {
        OWN.replace('scaling = "delayed"', 'scaling = "weekly"'): "fp8w-bf16.weights: unknown scaling 'weekly'",
        OWN.replace(
            'format = "fp6_e2m3", scaling = "mx", block = 16 }\nact',
            'format = "fp6_e2m3", scaling = "mx", block = 7 }\nact',
        ): "block",
        OWN.replace('base = "bf16"\n', ""): "fp8w-bf16 gives no format for ['activations'",
        OWN.replace("[configurations.fp8w-bf16]", "[configurations.bf16]"): "'bf16' is a bundled configuration's id",
        OWN.replace('optimizer = "bf16"', 'optimiser = "bf16"'): "unknown key(s) ['optimiser']",
    }
    for text, message in bad.items():
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_spec(_small(["fp8w-bf16", "mx6-all"]) + text)
    with pytest.raises(SpecError, match=re.escape("leaves out ['mx6-all']")):
        parse_spec(_small(["fp8w-bf16"]) + OWN)
    with pytest.raises(SpecError, match="mixes paper and modern"):
        parse_spec(_small(["fp8w-bf16", "mx6-all", "e3m1-e6m7"]) + OWN)

    path, store, out = tmp_path / "spec.toml", tmp_path / "store", tmp_path / "suites" / "small"
    path.write_text(_small(["mx6-all", "fp8w-bf16", "fp32"]) + OWN)
    assert main(["generate", str(path), "--store", str(store), "--quiet", "--to-suite", str(out)]) == 0
    cell = json.loads((store / "cells/digits-0v1/mlp-8/0/fp8w-bf16.json").read_text())
    assert cell["batched_with"] == 3 and cell["configuration"]["weights"]["scaling"] == "delayed"
    bench = peppp_bench.load("small", data_dir=tmp_path / "suites")
    assert list(bench.configurations.config_id) == [
        "fp32",
        "fp8w-bf16",
        "mx6-all",
    ]  # bundled in their order, then the spec's by id
    table = bench.configurations.set_index("config_id")
    assert table.loc["mx6-all", "weights_block"] == 16 and table.loc["fp8w-bf16", "weights_scaling"] == "delayed"
    assert table.loc["fp8w-bf16", "note"].startswith("FP8 E4M3 weights")
    from peppp_bench.modern import modern_table

    assert table.loc[["fp32"]].reset_index().equals(modern_table(["fp32"]))  # the bundled table's columns
    assert bench.M[0, 1] < bench.M[0, 0] and bench.M[0, 2] < bench.M[0, 1]  # fewer bits, less memory
    path.write_text(_small(["mx6-all", "fp8w-bf16", "fp32"]) + OWN.replace('base = "bf16"', 'base = "fp16"'))
    with pytest.raises(StoreError, match=r"1 finished cell\(s\).*configuration fp8w-bf16"):
        Store(store, parse_spec(path.read_text()))


FACTORY_FILE = '''
"""Networks."""
from torch import nn

WIDTH = 4


def unrelated():
    return 1


def stem(ch):
    return nn.Conv2d(ch, WIDTH, 3, padding=1)


def net(classes, ch):
    """The factory."""
    return nn.Sequential(stem(ch), nn.ReLU(), nn.Flatten(), nn.Linear(WIDTH * 64, classes))
'''


def test_a_cells_meaning_is_the_factory_and_what_it_uses_not_its_file(tmp_path: Path) -> None:
    """Comments, docstrings and functions the factory does not use change nothing; an edit of a function
    or a value it uses is refused, naming it."""
    (tmp_path / "nets.py").write_text(FACTORY_FILE)
    path, store = tmp_path / "spec.toml", tmp_path / "store"
    path.write_text(_factory_spec(["e3m1-e6m7"], ["Conv2d", "Linear", "ReLU"]))
    assert main(["generate", str(path), "--store", str(store), "--quiet"]) == 0
    record = json.loads(next(store.glob("cells/*/*/*/*.json")).read_text())["meaning"]["architecture"]
    assert sorted(record["source"]) == ["nets.py:WIDTH", "nets.py:net", "nets.py:stem"]
    for harmless in (
        FACTORY_FILE.replace('"""The factory."""', '"""Another docstring."""  # and a comment'),
        FACTORY_FILE.replace("return 1", "return 2") + "\n\ndef more():\n    pass\n",
    ):
        (tmp_path / "nets.py").write_text(harmless)
        Store(store, read_spec(path))  # not refused
    for edit, named in (
        (FACTORY_FILE.replace("3, padding=1", "5, padding=2"), "architecture.source.nets.py:stem"),
        (FACTORY_FILE.replace("WIDTH = 4", "WIDTH = 5"), "architecture.source.nets.py:WIDTH"),
    ):
        (tmp_path / "nets.py").write_text(edit)
        with pytest.raises(StoreError, match=re.escape(named)):
            Store(store, read_spec(path))


def test_progress_inside_a_unit_and_the_status_estimate(tmp_path: Path, capsys) -> None:
    """Each epoch a unit finishes reaches the progress bar from the worker processes (epochs and the unit's
    time left); --status prices each unfinished cell at its row's finished cells' unit seconds."""
    from peppp_bench.generate.backends import generate, in_progress
    from peppp_bench.generate.data import DataSpec, load_data
    from peppp_bench.generate.train import train_cells

    spec = parse_spec(_small(FOUR, tasks=MORE_TASKS, recipe="epochs = 3, lr = 0.05, batch_size = 16"))
    data = load_data(DataSpec("digits", {"classes": [0, 1]}))
    heard: list[tuple[int, int]] = []
    train_cells(data, FOUR[:2], spec.architectures[0][1], spec.recipe, 0, progress=lambda *a: heard.append(a))
    assert heard == [(1, 3), (2, 3), (3, 3)]
    heard.clear()
    train_cells(
        data, FOUR[:2], spec.architectures[0][1], spec.recipe, 0, backend="qtorch", progress=lambda *a: heard.append(a)
    )
    assert heard == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]  # one configuration after the other
    assert in_progress({"t/a/seed 0": (2, 8, 100.0)}, 110.0) == "t/a/seed 0: epoch 2/8, ~30 s left"
    from peppp_bench.generate.backends import _label

    halves = [u for u in parse_spec(spec.text.replace("[suite]", "[suite]\nconfigs_per_unit = 2")).units()][:2]
    assert halves[0].task == halves[1].task and _label(halves[0]) != _label(halves[1])  # both shown in flight

    store = Store(tmp_path / "store", spec)
    generate(spec, store, workers=2, progress=True)
    store.log_run(spec, time.time(), 1.0, 8, "local", 2, 1, "cpu")  # as the CLI does: 2 workers
    assert "epoch 3/3" in capsys.readouterr().err  # reported by the worker processes as they went
    cells = [json.loads(p.read_text()) for p in (tmp_path / "store").glob("cells/*/*/*/*.json")]
    assert len(cells) == 8 and all(c["provenance"]["unit_seconds"] >= c["wall_seconds"] for c in cells)
    more = parse_spec(spec.text.replace("seeds = [0]", "seeds = [0, 1]"))
    status = Store(tmp_path / "store", more).status()
    per_row = {}
    for c in cells:
        per_row.setdefault(c["dataset"], []).append(c["provenance"]["unit_seconds"] / c["batched_with"])
    expected = sum(sum(v) / len(v) * 4 for v in per_row.values())  # the new seed: 4 cells per row
    assert status["remaining"] == 8 and status["seconds_left"] == pytest.approx(expected / 2, abs=0.1)


def test_a_replacement_worker_takes_the_slot_of_the_one_that_exited() -> None:
    """Local workers are recycled (a fresh process every 20 units); each takes the slot (and with `--device
    cuda` the GPU) of a worker that no longer runs, never one a live worker holds."""
    from peppp_bench.generate.backends import claim_slot

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    new = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        slots = [os.getpid(), gone.pid, 0]  # a live worker, one that exited, one never taken
        assert claim_slot(slots, new.pid) == 1 and slots == [os.getpid(), new.pid, 0]
        assert claim_slot(slots, os.getpid()) == 2  # the live ones' slots are not taken
    finally:
        new.kill()
        new.wait()


def test_a_suite_of_two_seeds_reports_both(tmp_path: Path, capsys) -> None:
    """With seeds [0, 1] and none kept apart, the matrix is their mean, the replicates hold both, and the card
    and structure report measure seed noise instead of saying there is one seed per cell."""
    spec = tmp_path / "spec.toml"
    spec.write_text(_small(FOUR, tasks=MORE_TASKS).replace("seeds = [0]", "seeds = [0, 1]"))
    out = tmp_path / "suites" / "small"
    assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--quiet", "--to-suite", str(out)]) == 0
    bench = peppp_bench.load("small", data_dir=out)
    reps = bench.replicates
    assert reps is not None and sorted(set(reps.seed)) == [0, 1] and len(reps) == 2 * 2 * 4
    import numpy as np

    both = reps.pivot_table(index=["dataset_id", "config_id"], columns="seed", values="error").mean(axis=1)
    assert np.allclose([bench.error.loc[d, c] for d, c in both.index], both.to_numpy())
    assert bench.scoring_seeds == () and np.array_equal(bench.truth, bench.E)
    card = (out / "README.md").read_text()
    assert "one seed per cell" not in card and "seeds per cell: 2" in card
    structure = bench.metadata["structure"]
    assert structure["seeds_per_cell"] == 2 and "measure_all_frontier_regret" not in structure


CONVNEXT_FILE = """
import torch
from torch import nn

RATIO = 2


def gelu(x):
    return torch.nn.functional.gelu(x)


class Block(nn.Module):
    scale = 0.5

    def __init__(self, dim, ratio=RATIO):
        super().__init__()
        self.mix = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.up, self.down = nn.Linear(dim, dim * ratio), nn.Linear(dim * ratio, dim)

    @staticmethod
    def act(x):
        return gelu(x)

    def forward(self, x):
        y = self.mix(x).permute(0, 2, 3, 1)
        return x + self.scale * self.down(self.act(self.up(y))).permute(0, 3, 1, 2)


def net(classes, ch):
    return nn.Sequential(nn.Conv2d(ch, 8, 2, stride=2), Block(8), nn.Flatten(), nn.Linear(8 * 16, classes))
"""


def test_a_factorys_identity_sees_default_arguments_static_methods_and_class_attributes(tmp_path: Path) -> None:
    """A module constant read as a default argument, a helper called from a static method, and a class
    attribute each change what the network is: an edit of any of them refuses the store, naming it."""
    (tmp_path / "nets.py").write_text(CONVNEXT_FILE)
    path, store = tmp_path / "spec.toml", tmp_path / "store"
    path.write_text(_factory_spec(["e3m1-e6m7"], ["Conv2d", "Linear"]))
    assert main(["generate", str(path), "--store", str(store), "--quiet"]) == 0
    for edit, named in (
        (CONVNEXT_FILE.replace("RATIO = 2", "RATIO = 4"), "nets.py:Block.__init__.default[0]"),
        (CONVNEXT_FILE.replace("functional.gelu(x)", "functional.relu(x)"), "nets.py:gelu"),
        (CONVNEXT_FILE.replace("scale = 0.5", "scale = 1.0"), "nets.py:Block.scale"),
    ):
        (tmp_path / "nets.py").write_text(edit)
        with pytest.raises(StoreError, match=re.escape(f"architecture.source.{named}")):
            Store(store, read_spec(path))


def test_the_spec_check_trains_one_batch_of_each_family_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A factory that fails in training in one family of configurations is refused by the check, naming the
    configuration and what to change, before the store exists; the families are the scaling kinds."""
    from peppp_bench.generate import train
    from peppp_bench.generate.spec import families

    assert families(tuple(peppp_bench.MODERN_IDS))[:3] == [
        "fp32",
        "fp8-current-e4m3-e5m2-opt-fp32",
        "fp8-delayed-e4m3-e5m2-opt-fp32",
    ]
    assert len(families(tuple(peppp_bench.MODERN_IDS))) == 7 and families(("e3m1-e6m7", "e4m3-e7m9")) == ["e3m1-e6m7"]
    (tmp_path / "nets.py").write_text(CONVNEXT_FILE)
    spec, store = tmp_path / "spec.toml", tmp_path / "store"
    spec.write_text(_factory_spec(["fp32", "bf16", "nvfp4-sr-opt-fp32"], ["Conv2d", "Linear"]))
    real = train.train_cells

    def fails_in_nvfp4(data, configs, *args, **kwargs):
        if any(str(getattr(c, "id", c)).startswith("nvfp4") for c in configs):
            raise RuntimeError("Output 0 of Permute is a view and is being modified inplace.")
        return real(data, configs, *args, **kwargs)

    monkeypatch.setattr(train, "train_cells", fails_in_nvfp4)
    assert main(["generate", str(spec), "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "one batch in configuration nvfp4-sr-opt-fp32 fails to train" in err and "y = y + x" in err
    assert not store.exists()
