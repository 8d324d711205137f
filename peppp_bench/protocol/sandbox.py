"""Run a selection method where it cannot see what it must predict, nor touch anything else.

Each method gets a zygote: a fresh interpreter (`python -m peppp_bench.protocol.zygote`) that preloads the
common libraries and then serves units of work (one held-out dataset: its tasks in the settings of one
observation kind). For every fold of a unit (one task at one budget) the zygote forks a fresh copy that
runs the method and exits, with one channel, to the zygote's janitor, which hands it its own task and
relays its messages; so nothing a method keeps in memory (module state, caches, the rows it saw as
meta-training in another fold, another setting's task) reaches another fold, another method or the
harness. This package's own registered methods, which keep no state between folds, run in the zygote
itself (a fork per unit and method was most of the cost of a ten-seed study).

The held-out row never enters these processes. The harness answers `oracle.measure(j)` over a pipe
and keeps the budget; it scores the predictions itself. What the method sends back is plain JSON
(never unpickled by the harness). The guard, a `sys.addaudithook` hook, refuses: reading the suite
folders and the Hub cache; writing anywhere but the method's own temporary folder; subprocesses,
exec, fork, signals to other processes, network connections, and loading native code through ctypes
or cffi; importing the file readers that bypass Python's `open` (pyarrow's parquet, dataset and
filesystem modules, polars, duckdb, fastparquet). The package's loaders are replaced by stubs that
refuse. A fold that takes longer than its time limit, exits, is killed or exhausts the memory limit
fails with that reason; the run goes on.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ProtocolViolation
from . import boundary, registry
from .rules import Measurement, Method, Oracle, Task
from .wire import parse_message, read, reason, write, write_by

CONSECUTIVE_TIMEOUTS = 3  # after this many folds in a row over the time limit, the method's other folds are not run
# The only variables of the caller's environment a method's process gets: never a token or a secret.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ")
BLAS_ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # set on some processors for correct results


def method_environment(home: str) -> dict[str, str]:
    """The environment of a method's process: an allowlist of the caller's, one BLAS thread, no network."""
    env = {k: os.environ[k] for k in (*PASSED_ENVIRONMENT, *BLAS_ENVIRONMENT) if k in os.environ}
    env.update(
        HOME=home,
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        PYTHONSAFEPATH="1",
        PYTHONDONTWRITEBYTECODE="1",
        HF_HUB_OFFLINE="1",
        PEPPP_BENCH_OFFLINE="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


@dataclass(frozen=True)
class Limits:
    """What one fold of one method may use: wall seconds (all its budgets together) and memory, which its
    private /tmp (an eighth) and /dev/shm (a thirty-second) share with its address space (the rest)."""

    seconds_per_fold: float = 120.0
    memory_bytes: int = 8 << 30

    @property
    def tmp_bytes(self) -> int:
        return self.memory_bytes // 8

    @property
    def shm_bytes(self) -> int:
        return self.memory_bytes // 32

    @property
    def address_space(self) -> int:
        return self.memory_bytes - self.tmp_bytes - self.shm_bytes


@dataclass(frozen=True)
class MethodRef:
    """How to make a method in a fresh process: a baseline's name, `module:Class` or `path.py:Class`,
    its constructor parameters, and the name its results carry."""

    spec: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @staticmethod
    def of(method: Method) -> MethodRef:
        """The reference that re-creates an instance made in this process (its class must be importable)."""
        cls = type(method)
        module = sys.modules.get(cls.__module__)
        if "<locals>" in cls.__qualname__ or module is None:
            raise TypeError(
                f"{cls.__qualname__} cannot be re-created in a sandbox: define it at the top level of a module "
                "or file, or evaluate with isolate=False (no protection against peeking)"
            )
        if cls.__module__ in ("__main__", "__mp_main__") or cls.__module__.startswith("peppp_user_"):
            path = getattr(module, "__file__", None)
            if path is None:
                raise TypeError(
                    f"{cls.__qualname__} is defined interactively: "
                    f"put it in a file and pass 'file.py:{cls.__qualname__}'"
                )
            return MethodRef(f"{os.path.abspath(path)}:{cls.__qualname__}", method.params(), method.name)
        return MethodRef(f"{cls.__module__}:{cls.__qualname__}", method.params(), method.name)


@dataclass(frozen=True)
class MethodInfo:
    """What the zygote reports about the method it made."""

    name: str
    cls: str
    nested: bool
    reference: bool
    params: dict[str, Any]
    doc: str = ""

    @staticmethod
    def of(method: Method) -> MethodInfo:
        cls = type(method)
        return MethodInfo(
            method.name,
            f"{cls.__module__}:{cls.__qualname__}",
            bool(method.nested),
            bool(method.reference),
            method.params(),
            (cls.__doc__ or "").strip(),
        )


class Sandbox:
    """One method's zygote, started on first use and again after it was killed."""

    def __init__(self, ref: MethodRef, limits: Limits, protected: Sequence[str], tmp_parent: str | None = None) -> None:
        self.ref, self.limits, self.protected = ref, limits, [os.path.realpath(p) for p in protected]
        # Only this package's own registered methods are trusted to be nested (one run serves every budget)
        # or reference bounds (shown the held-out row); whatever any other code says of itself.
        self.trusted = registry.home_method(ref.spec) is not None
        self._proc: subprocess.Popen | None = None
        self.info: MethodInfo | None = None
        self.load_error: str | None = None
        self._timeouts = 0
        self._tmp = tempfile.mkdtemp(prefix="peppp-sandbox-", dir=tmp_parent)

    def start(self) -> MethodInfo | None:
        """Start the zygote if it is not running; the method's info, or None when it cannot be made."""
        if self._proc is not None and self._proc.poll() is None:
            return self.info
        self.launch()
        info = self.ready()
        if info is None and self.load_error and "did not start" in self.load_error:
            self.launch(warm=False)  # it died warming up (an exit, a signal): start it cold, and let its folds say why
            info = self.ready()
        return info

    def launch(self, warm: bool = True) -> None:
        """Start the zygote's interpreter and tell it which method to make (returns at once)."""
        self.isolated = boundary.available()  # behind the OS boundary, or (without it) the in-process guard only
        env = method_environment(boundary.HOME if self.isolated else self._tmp)
        memory = self.limits.address_space

        def limit() -> None:  # in the child, before exec
            import resource

            os.setsid()
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        argv = [boundary.interpreter(), "-m", "peppp_bench.protocol.zygote"]
        self._proc = subprocess.Popen(
            boundary.command(self.ref.spec, argv, self.limits.tmp_bytes, self.limits.shm_bytes)
            if self.isolated
            else argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=self._tmp,
            preexec_fn=limit,
        )
        write(
            self._proc.stdin,
            pickle.dumps(
                (
                    "init",
                    self.ref,
                    self.protected,
                    boundary.HOME if self.isolated else self._tmp,
                    self.limits.seconds_per_fold if warm else 0.0,
                    self.trusted,
                    self.isolated,
                )
            ),
        )

    def ready(self) -> MethodInfo | None:
        """Wait for the zygote to report the method it made; None (see `load_error`) when it could not."""
        try:
            reply = json.loads(
                read(self._running().stdout.fileno(), time.monotonic() + max(60.0, self.limits.seconds_per_fold))
            )
        except (TimeoutError, EOFError, ValueError) as exc:
            self.kill()
            self.load_error = f"the method's process did not start ({type(exc).__name__})"
            return None
        if reply[0] != "ready":
            self.kill()
            self.load_error = f"the method could not be made: {reply[1]}"
            return None
        _, name, cls, nested, reference, params, doc = reply
        trusted = self.trusted
        self.info = MethodInfo(
            reason(name, 80),
            reason(cls, 200),
            trusted and nested is True,
            trusted and reference is True,
            dict(params),
            reason(doc, 2000),
        )
        return self.info

    def _running(self) -> Any:
        """The zygote's process (started by `start`)."""
        assert self._proc is not None, "the method's process is not running"
        return self._proc

    def kill(self) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._proc = None

    def close(self) -> None:
        self.kill()
        import shutil

        shutil.rmtree(self._tmp, ignore_errors=True)

    def run_unit(
        self,
        tasks: Sequence[Task],
        budgets: Sequence[int],
        row: np.ndarray,
        memory: np.ndarray,
        payload: bytes | None = None,
    ) -> list[dict[int, tuple[Sequence[Measurement], Any] | str]]:
        """Run the method on each task. Per task, per budget n: (measurements, raw predictions) to score,
        or the reason it failed. `payload` is `unit_payload(tasks, budgets)` when the caller made it once
        for several methods."""
        out: list[dict[int, tuple[Sequence[Measurement], Any] | str]] = [{} for _ in tasks]

        def fail_rest(reason: str) -> list[dict[int, Any]]:
            for per_n in out:
                for n in budgets:
                    per_n.setdefault(n, reason)
            return out

        if self._timeouts >= CONSECUTIVE_TIMEOUTS:
            return fail_rest(f"not run: the method exceeded the time limit on {CONSECUTIVE_TIMEOUTS} folds in a row")
        info = self.start()
        if info is None:
            return fail_rest(self.load_error or "the method could not be made")
        if info.reference:
            tasks = [replace(t, reference_error=_readonly(row)) for t in tasks]
            payload = None
        try:
            write_by(
                self._running().stdin,
                payload or unit_payload(tasks, budgets),
                time.monotonic() + self.limits.seconds_per_fold,
            )
        except TimeoutError:
            self.kill()
            return fail_rest("the method's process did not take its fold within the time limit")
        except (BrokenPipeError, OSError):
            self.kill()
            return fail_rest("the method's process died before the fold started")
        fd = self._running().stdout.fileno()
        nested = info.nested
        expected = [(t, budget) for t in range(len(tasks)) for budget in ([budgets[-1]] if nested else budgets)]
        step, oracle, to_predict = -1, None, list[int]()  # the harness's own state: the fold (task, budget) under way
        started_task, deadline = 0, time.monotonic() + self.limits.seconds_per_fold
        try:
            while True:
                msg = parse_message(read(fd, deadline))
                kind = msg[0]
                if (
                    kind == "begin"
                    and oracle is None
                    and not to_predict
                    and step + 1 < len(expected)
                    and msg[1:] == list(expected[step + 1])
                ):
                    step += 1
                    t, budget = expected[step]  # the harness's budget; the child's message only has to agree
                    if t != started_task:  # one time limit per held-out task, from its first fold on
                        started_task, deadline = t, time.monotonic() + self.limits.seconds_per_fold
                    oracle = Oracle(row, memory, tasks[t].valid, budget)
                elif kind == "measure" and oracle is not None and len(msg) == 2:
                    try:
                        reply: tuple = ("value", oracle.measure(msg[1]))
                    except ProtocolViolation as exc:
                        reply = ("violation", str(exc))
                    write_by(self._running().stdin, pickle.dumps(reply), deadline)
                elif kind == "selected" and oracle is not None and msg[1:2] == [expected[step][0]] and len(msg) == 3:
                    t, budget = expected[step]
                    scored = budgets if nested else [budget]
                    if msg[2] is not None:  # select failed: the child predicts nothing for this fold
                        for n in scored:
                            out[t][n] = reason(msg[2])
                    else:  # it predicts every budget; a rule broken while measuring fails them all the same
                        for n in scored if oracle.violations else ():
                            out[t][n] = f"protocol violation: {reason(oracle.violations[0])}"
                        to_predict = list(scored)
                        measured = {n: oracle.measured[:n] for n in scored}
                    oracle = None
                elif (
                    kind == "predicted"
                    and to_predict
                    and len(msg) == 4
                    and msg[1:3] == [expected[step][0], to_predict[0]]
                ):
                    t, n, value = expected[step][0], to_predict.pop(0), msg[3]
                    out[t].setdefault(n, reason(value["failed"]) if isinstance(value, dict) else (measured[n], value))
                elif kind == "unit-done" and len(msg) == 2:
                    self._timeouts = 0
                    if msg[1]:
                        return fail_rest(reason(msg[1]))
                    return fail_rest("the method returned no prediction")
                else:
                    raise ValueError(f"unexpected message {reason(json.dumps(msg))}")
        except TimeoutError:
            self.kill()
            self._timeouts += 1
            return fail_rest(f"timed out: over the limit of {self.limits.seconds_per_fold:g} s for one fold")
        except EOFError:
            self.kill()
            return fail_rest("the method's process died")
        except (ValueError, TypeError, KeyError, IndexError, BrokenPipeError, OSError, RecursionError) as exc:
            self.kill()
            return fail_rest(f"the method broke the harness protocol ({type(exc).__name__}: {reason(str(exc), 200)})")


def unit_payload(tasks: Sequence[Task], budgets: Sequence[int]) -> bytes:
    """The message that hands a unit's tasks to a zygote (pickled once, sent to every method's)."""
    return pickle.dumps(("unit", list(tasks), list(budgets)), protocol=5)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a
