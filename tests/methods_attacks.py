"""Hostile methods for tests/test_sandbox.py: each is a Cheapest method (tests/methods_broken.py) that tries
one thing. They live apart from the tests so that the sandbox, which imports a method's module afresh for
every fold, does not import pytest each time."""

from __future__ import annotations

import gc
import inspect
import mmap
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import peppp_bench
from peppp_bench import Measurement, Oracle, Task
from tests.methods_broken import Cheapest


class _Attack(Cheapest):
    """Runs `attack` in select; a successful attack predicts what it found."""

    def __init__(self, where: str = "") -> None:
        self.where = where

    def params(self) -> dict:
        return {"where": self.where}

    def attack(self, task: Task, oracle: Oracle) -> object:
        raise NotImplementedError

    def select(self, task: Task, oracle: Oracle) -> None:
        self.found = self.attack(task, oracle)
        super().select(task, oracle)

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return np.asarray(self.found, dtype=float)[task.valid] + 1e-9


class ReadsParquet(_Attack):
    name = "reads-parquet"

    def attack(self, task: Task, oracle: Oracle) -> object:
        return pd.read_parquet(Path(self.where) / "cells.parquet").error.to_numpy()[:99]


class OpensFile(_Attack):
    name = "opens-file"

    def attack(self, task: Task, oracle: Oracle) -> object:
        with open(Path(self.where) / "cells.parquet", "rb") as f:
            f.read()
        raise RuntimeError("read the suite's file")


class CallsLoader(_Attack):
    name = "calls-loader"

    def attack(self, task: Task, oracle: Oracle) -> object:
        return peppp_bench.load("tiny", data_dir=str(Path(self.where).parent)).E[0]


class ReadsSuite(_Attack):
    name = "reads-suite"

    def attack(self, task: Task, oracle: Oracle) -> object:
        from peppp_bench.suites.suite import read_suite

        return read_suite(Path(self.where)).E[0]


class ScansGarbageCollector(_Attack):
    name = "scans-gc"

    def attack(self, task: Task, oracle: Oracle) -> object:
        return [o for o in gc.get_objects() if isinstance(o, np.ndarray)][0]


class WalksStack(_Attack):
    name = "walks-stack"

    def attack(self, task: Task, oracle: Oracle) -> object:
        for frame in inspect.stack():
            for name, value in frame.frame.f_locals.items():
                if name in ("row", "true_error", "bench"):
                    return value
        raise RuntimeError("nothing on the stack")


class OpensClosure(_Attack):
    name = "opens-closure"

    def attack(self, task: Task, oracle: Oracle) -> object:
        seen, todo = [], [oracle._measure]  # type: ignore[attr-defined]
        while todo:  # every value reachable through the oracle's closures
            f = todo.pop()
            for cell in getattr(f, "__closure__", None) or ():
                value = cell.cell_contents
                seen.append(value)
                if callable(value):
                    todo.append(value)
        rows = [v for v in seen if isinstance(v, np.ndarray) and v.shape == (99,) and v is not task.test_memory]
        if not rows:
            raise RuntimeError("nothing in the closures")
        return rows[0]


class ReadsModuleState(_Attack):
    name = "reads-module-state"

    def attack(self, task: Task, oracle: Oracle) -> object:
        from peppp_bench.protocol import runner

        return runner._RUN["bench"].E[0]


class Mutates(Cheapest):
    """Normalises the task's arrays in place (an honest-looking mistake that once broke another method)."""

    name = "mutates"

    def select(self, task: Task, oracle: Oracle) -> None:
        for a in (task.test_memory, task.train_error, task.train_memory):
            a.flags.writeable = True
            a /= 2.0
        super().select(task, oracle)


class Monkeypatches(Cheapest):
    """Replaces the harness's scoring and oracle in its own process: it is scored in another."""

    name = "monkeypatches"

    def select(self, task: Task, oracle: Oracle) -> None:
        import peppp_bench.protocol.runner
        import peppp_bench.protocol.scoring

        peppp_bench.protocol.scoring.score = lambda *a, **k: None  # type: ignore[assignment]
        peppp_bench.protocol.runner.score = peppp_bench.protocol.scoring.score  # type: ignore[attr-defined]
        peppp_bench.Oracle.measure = lambda self, j: 0.0  # type: ignore[method-assign]
        super().select(task, oracle)


class Remembers(Cheapest):
    """Keeps what it saw across folds: each held-out dataset gets a fresh process, so it remembers nothing."""

    name = "remembers"
    seen: list = []

    def select(self, task: Task, oracle: Oracle) -> None:
        if task.setting != "warm-up":  # the sandbox runs every method once on made-up data before its folds
            Remembers.seen.append(task.setting)
        if len(Remembers.seen) > 1:
            raise RuntimeError(f"remembered {len(Remembers.seen) - 1} earlier folds")
        super().select(task, oracle)


class Exits(Cheapest):
    name = "exits"

    def select(self, task: Task, oracle: Oracle) -> None:
        sys.exit(3)


class HardExits(Cheapest):
    name = "hard-exits"

    def select(self, task: Task, oracle: Oracle) -> None:
        os._exit(4)


class Aborts(Cheapest):
    name = "aborts"

    def select(self, task: Task, oracle: Oracle) -> None:
        os.abort()


class Interrupts(Cheapest):
    name = "interrupts"

    def select(self, task: Task, oracle: Oracle) -> None:
        raise KeyboardInterrupt


class Sleeps(Cheapest):
    name = "sleeps"

    def select(self, task: Task, oracle: Oracle) -> None:
        time.sleep(30)


class EatsMemory(Cheapest):
    name = "eats-memory"

    def select(self, task: Task, oracle: Oracle) -> None:
        np.ones(8 << 30, dtype=np.uint8)


class Writes(_Attack):
    name = "writes"

    def attack(self, task: Task, oracle: Oracle) -> object:
        Path(self.where).write_text("a method was here")
        raise RuntimeError("wrote outside its folder")


class KillsParent(Cheapest):
    name = "kills-parent"

    def select(self, task: Task, oracle: Oracle) -> None:
        import signal

        os.kill(os.getppid(), signal.SIGKILL)


class Spawns(Cheapest):
    name = "spawns"

    def select(self, task: Task, oracle: Oracle) -> None:
        import subprocess

        subprocess.run(["cat", "/etc/hostname"], check=True)


def _pipe(oracle: Oracle) -> tuple:
    """The child's `send` function and its output stream, found through the remote oracle's closures."""
    todo, found = [oracle._measure], {}  # type: ignore[attr-defined]
    while todo:
        f = todo.pop()
        for name, cell in zip(
            getattr(getattr(f, "__code__", None), "co_freevars", ()), getattr(f, "__closure__", None) or ()
        ):
            found[name] = cell.cell_contents
            if callable(cell.cell_contents):
                todo.append(cell.cell_contents)
    send = found["send"]
    return send, dict(zip(send.__code__.co_freevars, (c.cell_contents for c in send.__closure__)))["out"]


class ForgesBudget(Cheapest):
    """Tells the harness a huge budget, measures everything, then begins again with the real one."""

    name = "forges-budget"

    def select(self, task: Task, oracle: Oracle) -> None:
        send, _ = _pipe(oracle)
        send(["begin", 0, 10_000])
        for j in task.valid:
            oracle.measure(int(j))


class NestsDeep(Cheapest):
    name = "nests-deep"

    def select(self, task: Task, oracle: Oracle) -> None:
        import struct

        _, out = _pipe(oracle)
        payload = b"[" * 100_000 + b"]" * 100_000
        out.write(struct.pack("<Q", len(payload)) + payload)
        out.flush()
        super().select(task, oracle)


class Floods(Cheapest):
    """Sends measure requests without ever reading the replies."""

    name = "floods"

    def select(self, task: Task, oracle: Oracle) -> None:
        send, _ = _pipe(oracle)
        for _ in range(200_000):
            send(["measure", int(task.valid[0])])


class HugeReason(Cheapest):
    name = "huge-reason"

    def select(self, task: Task, oracle: Oracle) -> None:
        raise RuntimeError("x" * 500_000)


class ClaimsReference(Cheapest):
    """Says it is a reference bound, to be shown the held-out row."""

    name = "claims-reference"
    reference = True

    def select(self, task: Task, oracle: Oracle) -> None:
        if task.reference_error is None:
            raise LookupError("no reference row")
        self.row = np.asarray(task.reference_error, dtype=float)

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return self.row[task.valid]


class PredictsBooleans(Cheapest):
    name = "predicts-booleans"

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        return np.ones(len(task.valid), dtype=bool)


class PredictsStrings(Cheapest):
    name = "predicts-strings"

    def predict(self, task: Task, measured: Sequence[Measurement]) -> list:
        return ["0.5"] * len(task.valid)


class ReadsHarnessMemory(_Attack):
    """Looks for the harness among the processes it can see, to read its memory through /proc."""

    name = "reads-harness-memory"

    def attack(self, task: Task, oracle: Oracle) -> object:
        with open(f"/proc/{self.where}/maps") as maps:  # the harness's pid, as the harness sees it
            maps.read()
        raise RuntimeError("read the harness's memory map")


class SeesHarnessProcess(_Attack):
    name = "sees-harness"

    def attack(self, task: Task, oracle: Oracle) -> object:
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"pytest" in f.read():
                        raise RuntimeError("found the harness")
            except OSError:
                continue
        raise LookupError("no harness in sight")


class OpensWithDirFd(_Attack):
    name = "opens-dir-fd"

    def attack(self, task: Task, oracle: Oracle) -> object:
        parent = os.open(os.path.dirname(self.where), os.O_RDONLY)  # not a protected folder itself
        name = os.path.join(os.path.basename(self.where), "cells.parquet")  # a relative path the audit hook misses
        os.read(os.open(name, os.O_RDONLY, dir_fd=parent), 16)
        raise RuntimeError("read the suite's file")


class FindsTheCheckout(_Attack):
    """Looks for the authors' arrays and the bundled suites beside the package's own code."""

    name = "finds-the-checkout"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import peppp_bench as package

        root = Path(package.__file__).parents[1]
        found = [p for p in (root.parent / "shared").rglob("*.npy")] + list((root / "peppp_bench" / "data").rglob("*"))
        found += [p for p in root.glob("leaderboard/*")]
        if found:
            raise RuntimeError(f"found {found[0]}")
        raise LookupError("nothing beside the code")


class PersistsAcrossFolds(_Attack):
    """Leaves a mark of its held-out dataset in its temporary folder, in /dev/shm and in a shared mapping made
    at import, and looks for another held-out dataset's mark (within one held-out dataset it may remember)."""

    name = "persists"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import glob
        import hashlib
        import tempfile

        mine = hashlib.sha256(task.test_memory.tobytes()).hexdigest()[:16].encode()
        marks = [open(p, "rb").read() for p in glob.glob("/tmp/**/left-behind", recursive=True)]
        marks += [open(p, "rb").read() for p in glob.glob("/dev/shm/**/left-behind", recursive=True)]
        marks += [bytes(_SHARED[:16])] if bytes(_SHARED[:16]) != bytes(16) else []
        others = [m for m in marks if m != mine]
        if others:
            raise RuntimeError(f"remembered another held-out dataset: {others[0]!r}")
        with open(os.path.join(tempfile.gettempdir(), "left-behind"), "wb") as f:
            f.write(mine)
        # Around the audit hook: a path relative to the working folder that names the method's own temporary
        # folder, opened relative to /dev/shm instead (the hook checks the path, not the folder it is opened in).
        shm, rel = os.open("/dev/shm", os.O_RDONLY), os.path.relpath(tempfile.gettempdir())
        if rel not in os.listdir("/dev/shm"):  # the second setting of the same held-out dataset made it already
            os.mkdir(rel, dir_fd=shm)
        os.write(os.open(os.path.join(rel, "left-behind"), os.O_CREAT | os.O_WRONLY, dir_fd=shm), mine)
        _SHARED[:16] = mine
        raise LookupError("nothing from another fold")


class MovesOut(_Attack):
    """Renames a file of its own over a path outside its sandbox, and plants a link there."""

    name = "moves-out"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import tempfile

        mine = os.path.join(tempfile.gettempdir(), "mine")
        with open(mine, "w") as f:
            f.write("overwritten")
        for move in (lambda: os.symlink("/etc/hostname", self.where + ".link"), lambda: os.rename(mine, self.where)):
            try:
                move()
            except OSError as exc:
                last = exc
        raise last


class LoadsAParquetReaderByAnotherName(_Attack):
    """Loads pyarrow's native parquet reader without importing it by its name, and reads the suite with it."""

    name = "aliased-reader"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import glob
        import importlib.util

        import pyarrow

        path = glob.glob(os.path.join(os.path.dirname(pyarrow.__file__), "_parquet.*.so"))[0]
        spec = importlib.util.spec_from_file_location("pyarrow._parquet", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        reader = module.ParquetReader()
        reader.open(os.path.join(self.where, "cells.parquet"))
        return reader.read_all().column("error").to_numpy()[:99]


_SHARED = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)


class StashesOutsideTmp(_Attack):
    """Keeps every meta-training row it is sent in a folder outside its wiped /tmp (`where`: /, /dev or the
    checkout's mount point), written with `dir_fd` around the audit hook, and looks there for the held-out row."""

    name = "stashes"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import hashlib
        import tempfile

        folder = os.open(self.where or os.path.dirname(os.path.dirname(peppp_bench.__file__)), os.O_RDONLY)
        os.chdir(tempfile.gettempdir())  # the hook resolves a relative name against the unit's folder: allowed
        for i, row in enumerate(np.nan_to_num(task.train_error)):
            key = hashlib.sha256(task.train_memory[i].tobytes()).hexdigest()[:16]
            with os.fdopen(os.open(f"stash-{key}", os.O_CREAT | os.O_WRONLY, dir_fd=folder), "wb") as f:
                f.write(row.tobytes())
        mine = hashlib.sha256(task.test_memory.tobytes()).hexdigest()[:16]
        try:
            return np.frombuffer(os.read(os.open(f"stash-{mine}", os.O_RDONLY, dir_fd=folder), 1 << 20))
        except FileNotFoundError:
            raise LookupError("the held-out row was never stashed") from None


class WritesZygoteMemory(_Attack):
    """Opens the zygote's /proc/<pid>/mem read-write with `dir_fd` (a relative name the hook lets through)."""

    name = "writes-zygote"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import tempfile

        proc = os.open("/proc", os.O_RDONLY)
        os.chdir(tempfile.gettempdir())
        os.close(os.open(f"{os.getppid()}/mem", os.O_RDWR, dir_fd=proc))
        raise RuntimeError("opened the zygote's memory for writing")


class ReadsSecrets(_Attack):
    """Puts the environment it was given into its failure reason."""

    name = "reads-secrets"

    def attack(self, task: Task, oracle: Oracle) -> object:
        raise LookupError(" ".join(f"{k}={v}" for k, v in sorted(os.environ.items())))


class HogsTmp(_Attack):
    """Writes 1.5 GiB into its private /tmp."""

    name = "hogs-tmp"

    def attack(self, task: Task, oracle: Oracle) -> object:
        import tempfile

        block = b"x" * (1 << 20)
        with open(os.path.join(tempfile.gettempdir(), "hog"), "wb") as f:
            for _ in range(1536):
                f.write(block)
        raise RuntimeError("wrote 1.5 GiB")


class KeepsAcrossBudgets(Cheapest):
    """Not nested: keeps what it measured at a smaller budget of the same held-out dataset for the larger one."""

    name = "keeps-across-budgets"
    kept: dict = {}

    def select(self, task: Task, oracle: Oracle) -> None:
        key = task.test_memory.tobytes()
        if key in KeepsAcrossBudgets.kept:
            raise RuntimeError(f"kept {len(KeepsAcrossBudgets.kept[key])} measurements from a smaller budget")
        super().select(task, oracle)
        KeepsAcrossBudgets.kept[key] = list(oracle.measured)


def _caller_local(name: str) -> object:
    """The nearest caller's local variable `name` (frames are plain Python objects to a method)."""
    frame = sys._getframe(1)
    while frame is not None:
        if name in frame.f_locals:
            return frame.f_locals[name]
        frame = frame.f_back
    return None


class SpeaksForLaterFolds(Cheapest):
    """At the smallest budget, sends the messages of the same task's larger budgets itself, from the process
    that already measured: the measurements of n = 2 reach n = 3, and each later fold measures one fewer."""

    name = "speaks-for-later-folds"

    def predict(self, task: Task, measured: Sequence[Measurement]) -> np.ndarray:
        send, recv, t = _caller_local("send"), _caller_local("recv"), _caller_local("t")
        guess = super().predict(task, measured)
        if task.budget != 2 or not callable(send) or not callable(recv):
            return guess
        send(["predicted", t, 2, guess.tolist()])
        known = {m.config for m in measured}
        send(["begin", t, 3])
        for j in [int(j) for j in task.valid if int(j) not in known][:2]:
            send(["measure", j])
            recv()
        send(["selected", t, None])
        send(["predicted", t, 3, guess.tolist()])
        os._exit(0)


class FindsOtherSettings(Cheapest):
    """Walks its callers' frames for another setting's task of the same held-out dataset (the full
    meta-training rows, when it runs a setting that is shown fewer)."""

    name = "finds-other-settings"

    def select(self, task: Task, oracle: Oracle) -> None:
        frame = sys._getframe(1)
        while frame is not None:
            for value in list(frame.f_locals.values()):
                values = value if isinstance(value, (list, tuple)) else [value]
                others = [v for v in values if isinstance(v, Task) and v.setting != task.setting]
                if others:
                    raise RuntimeError(f"found setting {others[0].setting}'s task beside {task.setting}'s")
            frame = frame.f_back
        super().select(task, oracle)
