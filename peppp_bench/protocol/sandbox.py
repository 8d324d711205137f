"""Run a selection method where it cannot see what it must predict, nor touch anything else.

Each method gets a zygote: a fresh interpreter (`python -m peppp_bench.protocol.sandbox`) that imports the
method's code, installs a guard and then serves units of work. For every unit (one held-out dataset:
its tasks in the settings of one observation kind) the zygote forks a fresh copy that runs the method
and exits, so nothing a method keeps in memory (module state, caches, the rows it saw as
meta-training in another fold) reaches another fold, another method or the harness. This package's
own registered methods, which keep no state between folds, run in the zygote itself (a fork per unit
and method was most of the cost of a ten-seed study).

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

import gc
import json
import os
import pickle
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ProtocolViolation
from . import boundary, registry
from .rules import Measurement, Method, Oracle, Task
from .scoring import not_real

FRAME = struct.Struct("<Q")
MAX_MESSAGE = 1 << 20  # a message from a method larger than this breaks the harness protocol
MAX_DEPTH = 8  # nor may one nest deeper (the protocol's messages nest at most 3 deep)
REASON_CHARS = 300  # a failure reason from a method is cut to this length
CONSECUTIVE_TIMEOUTS = 3  # after this many folds in a row over the time limit, the method's other folds are not run


@dataclass(frozen=True)
class Limits:
    """What one fold of one method may use: wall seconds (all its budgets together) and address space."""

    seconds_per_fold: float = 120.0
    memory_bytes: int = 8 << 30


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


# ---------------------------------------------------------------------------------------------
# Framing: length-prefixed messages. The harness sends pickles (the child trusts the harness);
# the child sends JSON (the harness trusts nothing from it).


def _write(stream: Any, payload: bytes) -> None:
    stream.write(FRAME.pack(len(payload)) + payload)
    stream.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read(fd: int, deadline: float | None = None, limit: int | None = MAX_MESSAGE) -> bytes:
    """One frame; a method's messages may not exceed `limit` (the harness's own, a unit's tasks, have none)."""
    (size,) = FRAME.unpack(_read_exact(fd, FRAME.size, deadline))
    if limit is not None and size > limit:
        raise ValueError(f"a message of {size} bytes")
    return _read_exact(fd, size, deadline)


# ---------------------------------------------------------------------------------------------
# The harness's side.


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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PEPPP_BENCH_", "HF_"))}
        env.update(
            PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
            HF_HUB_OFFLINE="1",
            PEPPP_BENCH_OFFLINE="1",
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        memory = self.limits.memory_bytes

        def limit() -> None:  # in the child, before exec
            import resource

            os.setsid()
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        argv = [sys.executable, "-m", "peppp_bench.protocol.sandbox"]
        self.isolated = (
            boundary.available()
        )  # behind the OS boundary, or (without bubblewrap) the in-process guard only
        self._proc = subprocess.Popen(
            boundary.command(self.ref.spec, argv) if self.isolated else argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=self._tmp,
            preexec_fn=limit,
        )
        _write(
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
                _read(self._running().stdout.fileno(), time.monotonic() + max(60.0, self.limits.seconds_per_fold))
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
            _reason(name, 80),
            _reason(cls, 200),
            trusted and nested is True,
            trusted and reference is True,
            dict(params),
            _reason(doc, 2000),
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
            _write_by(
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
                msg = _message(_read(fd, deadline))
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
                    _write_by(self._running().stdin, pickle.dumps(reply), deadline)
                elif kind == "selected" and oracle is not None and msg[1:2] == [expected[step][0]] and len(msg) == 3:
                    t, budget = expected[step]
                    scored = budgets if nested else [budget]
                    if msg[2] is not None:  # select failed: the child predicts nothing for this fold
                        for n in scored:
                            out[t][n] = _reason(msg[2])
                    else:  # it predicts every budget; a rule broken while measuring fails them all the same
                        for n in scored if oracle.violations else ():
                            out[t][n] = f"protocol violation: {_reason(oracle.violations[0])}"
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
                    out[t].setdefault(n, _reason(value["failed"]) if isinstance(value, dict) else (measured[n], value))
                elif kind == "unit-done" and len(msg) == 2:
                    self._timeouts = 0
                    if msg[1]:
                        return fail_rest(_reason(msg[1]))
                    return fail_rest("the method returned no prediction")
                else:
                    raise ValueError(f"unexpected message {_reason(json.dumps(msg))}")
        except TimeoutError:
            self.kill()
            self._timeouts += 1
            return fail_rest(f"timed out: over the limit of {self.limits.seconds_per_fold:g} s for one fold")
        except EOFError:
            self.kill()
            return fail_rest("the method's process died")
        except (ValueError, TypeError, KeyError, IndexError, BrokenPipeError, OSError, RecursionError) as exc:
            self.kill()
            return fail_rest(f"the method broke the harness protocol ({type(exc).__name__}: {_reason(str(exc), 200)})")


def _reason(text: Any, limit: int = REASON_CHARS) -> str:
    """A failure reason from a method, as a string of at most `limit` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(raw: bytes) -> list[Any]:
    """A child's message: a JSON list starting with a string, nested at most MAX_DEPTH deep."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"a message nested deeper than {MAX_DEPTH}")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    msg = json.loads(raw)
    if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
        raise ValueError("a message that is not a list starting with its kind")
    return msg


def _write_by(stream: Any, payload: bytes, deadline: float) -> None:
    """Write a frame to the child without ever blocking past `deadline` (a child that stops reading times out)."""
    fd = stream.fileno()
    os.set_blocking(fd, False)
    data = memoryview(FRAME.pack(len(payload)) + payload)
    while data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError
        try:
            data = data[os.write(fd, data[: 1 << 16]) :]
        except BlockingIOError:
            continue


def unit_payload(tasks: Sequence[Task], budgets: Sequence[int]) -> bytes:
    """The message that hands a unit's tasks to a zygote (pickled once, sent to every method's)."""
    return pickle.dumps(("unit", list(tasks), list(budgets)), protocol=5)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


# ---------------------------------------------------------------------------------------------
# The child's side.


class RemoteOracle(Oracle):
    """The method's view of the oracle: each new measurement is asked of the harness, which counts it
    and keeps the true row; the rules' breaches are recorded here too, as `Oracle` does."""

    __slots__ = ()

    def __init__(self, send: Any, recv: Any, task: Task, budget: int) -> None:  # no super(): no true row here
        def fetch(j: int, count: int) -> Measurement:
            send(["measure", j])
            kind, value = recv()
            if kind == "violation":
                raise ProtocolViolation(value)
            return Measurement(j, float(value), float(task.test_memory[j]))

        self._bind(fetch, budget)


def describe_failure(exc: BaseException) -> str:
    """Why a method's fold failed, in one line: the protocol rule it broke, or the exception and where."""
    if isinstance(exc, ProtocolViolation):
        return f"protocol violation: {exc}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _predictions(value: Any) -> Any:
    """Predictions as JSON: a list of real numbers, or why they are not (the harness checks them again)."""
    problem = not_real(value)
    if problem:
        return {"failed": f"protocol violation: {problem}"}
    return np.asarray(value, dtype=float).tolist()


def _run_unit(method: Method, tasks: list[Task], budgets: list[int], send: Any, recv: Any, nested: bool) -> None:
    for t, task in enumerate(tasks):
        for budget in [budgets[-1]] if nested else budgets:
            task_b = replace(task, budget=budget)
            send(["begin", t, budget])
            oracle = RemoteOracle(send, recv, task_b, budget)
            try:
                method.select(task_b, oracle)
            except BaseException as exc:  # noqa: BLE001 - exit, KeyboardInterrupt: this fold fails, nothing else
                send(["selected", t, describe_failure(exc)])
                continue
            send(["selected", t, None])
            for n in budgets if nested else [budget]:
                try:
                    value = _predictions(method.predict(replace(task_b, budget=n), oracle.measured[:n]))
                except BaseException as exc:  # noqa: BLE001
                    value = {"failed": describe_failure(exc)}
                send(["predicted", t, n, value])


BLOCKED_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "socket.connect",
        "socket.bind",
        "socket.getaddrinfo",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.dlsym/handle",
        "ctypes.call_function",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.cdata",
        "ctypes.cdata/buffer",
        "ctypes.addressof",
        "sys.addaudithook",
        "cpython.PyInterpreterState_New",
        "sys._current_frames",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
    }
)
BLOCKED_IMPORTS = (
    "ctypes",
    "_ctypes",
    "cffi",
    "pyarrow.parquet",
    "pyarrow._parquet",
    "pyarrow.dataset",
    "pyarrow._dataset",
    "pyarrow.fs",
    "pyarrow._fs",
    "pyarrow.feather",
    "pyarrow.csv",
    "pyarrow._csv",
    "pyarrow.json",
    "pyarrow._json",
    "pyarrow.orc",
    "pyarrow._orc",
    "fastparquet",
    "polars",
    "duckdb",
)
PATH_WRITES = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.chown",
        "os.truncate",
        "os.symlink",
        "os.link",
        "os.utime",
        "shutil.rmtree",
        "shutil.move",
        "shutil.copyfile",
    }
)
PATH_READS = frozenset({"os.listdir", "os.scandir", "glob.glob"})


def install_guard(protected: Sequence[str], tmpdir: str, serving: list[bool]) -> None:
    """The audit hook that refuses what a method may not do (see the module docstring). The zygote itself
    may fork once `serving[0]` is set, after the method is made; nothing else may."""
    roots = tuple(os.path.realpath(p) for p in protected)
    tmp = os.path.realpath(tmpdir)
    zygote = os.getpid()

    def under(path: Any, folders: tuple[str, ...]) -> bool:
        if isinstance(path, int) or path is None:
            return False
        p = os.path.realpath(os.fsdecode(path))
        return any(p == r or p.startswith(r + os.sep) for r in folders)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)
            )
            if writing and not isinstance(path, int) and not under(path, (tmp,)):
                raise PermissionError(f"sandbox: a method may write only under {tmp}, not {path}")
            if under(path, roots):
                raise PermissionError(f"sandbox: {path} holds benchmark data a method may not read")
        elif event == "os.fork" and serving[0] and os.getpid() == zygote:
            return
        elif event in BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed in a method")
        elif event == "import" and args[0] and args[0].startswith(BLOCKED_IMPORTS):
            name = args[0]
            if any(name == b or name.startswith(b + ".") for b in BLOCKED_IMPORTS):
                raise ImportError(f"sandbox: importing {name} is not allowed in a method")
        elif event in PATH_WRITES and args:
            # both ends of a rename, link, move or copy; of a symlink, the link made (its target may be anywhere:
            # reading through it is an open of the target, checked above)
            paths = args[1:2] if event == "os.symlink" else [a for a in args[:2] if isinstance(a, (str, bytes))]
            outside = next((p for p in paths if not under(p, (tmp,))), None)
            if outside is not None:
                raise PermissionError(f"sandbox: {event} of {outside!r} outside {tmp} is not allowed in a method")
        elif event in PATH_READS and args and under(args[0], roots):
            raise PermissionError(f"sandbox: {args[0]} holds benchmark data a method may not read")

    sys.addaudithook(hook)


def _refuse(*_: Any, **__: Any) -> Any:
    raise PermissionError("sandbox: a method may not load benchmark data; it gets what it may see in its Task")


def _disable_loaders() -> None:
    from ..suites import hub, sources, suite

    for module, names in ((sources, ("load",)), (suite, ("read_suite", "verify_suite")), (hub, ("download_suite",))):
        for name in names:
            if hasattr(module, name):
                setattr(module, name, _refuse)
    import peppp_bench

    peppp_bench.load = _refuse


def _warm_up(method: Method, seconds: float) -> None:
    """Run the method once on made-up data (setting "warm-up"), so that what it imports or compiles lazily
    on first use is done here, once, rather than again in every fresh copy. Whatever happens here is
    ignored; it may take `seconds`."""
    from ..configs import configurations_table
    from ..memory import resnet18_counts

    def stop(*_: Any) -> None:
        raise TimeoutError("warm-up")

    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)

    rng = np.random.default_rng(0)
    error = np.clip(0.5 + 0.1 * rng.normal(size=(13, 3)) @ rng.normal(size=(3, 99)) / 3, 0.01, 0.99)
    memory = np.stack([resnet18_counts(32 if i % 2 else 64, 2 + i).memory_row() for i in range(13)])
    for cap in (None, float(np.median(memory[0]))):
        valid = np.arange(99) if cap is None else np.flatnonzero(memory[0] <= cap)
        task = Task(
            "warm-up",
            "uniform",
            np.where(rng.random((12, 99)) < 0.5, error[1:], np.nan),
            memory[1:],
            np.full((12, 99), 0.5),
            configurations_table(),
            memory[0],
            cap,
            valid,
            15,
            0,
            float(memory.max()),
        )
        oracle = Oracle(error[0], memory[0], valid, 15)
        try:
            method.select(task, oracle)
            method.predict(task, oracle.measured)
        except BaseException:  # noqa: BLE001, S110 - a method that fails here fails again, with its reason, in its folds
            break
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _kill_strays() -> None:
    """Kill every process in the sandbox's PID namespace but its init and the zygote: what a unit left running."""
    keep = {1, os.getpid(), os.getppid()}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def _wipe(folder: str) -> None:
    """Remove everything in `folder` (the sandbox's private /tmp or /dev/shm) that lives on its own file system.

    It never enters a mount inside it: where the checkout or the virtual environment lives under /tmp, the
    boundary binds them there, and walking them would try to unlink every file of the environment."""
    device = os.stat(folder).st_dev
    emptied = []
    for top, dirs, files, top_fd in os.fwalk(folder):
        for name in list(dirs):
            st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                dirs.remove(name)
                files.append(name)  # the link itself is removed, never what it points to
            elif st.st_dev != device:
                dirs.remove(name)  # a mount: left alone
            else:
                os.chmod(name, stat.S_IRWXU, dir_fd=top_fd)  # a folder the method locked is entered all the same
                emptied.append(os.path.join(top, name))
        for name in files:
            try:
                os.unlink(name, dir_fd=top_fd)
            except OSError:
                pass  # a read-only bind of the method's own file
    for path in reversed(emptied):  # deepest first
        try:
            os.rmdir(path)
        except OSError:
            pass  # it holds a mount


def _made(ref: MethodRef, trusted: bool) -> tuple[Method, list[Any]]:
    """The method `ref` names, and the "ready" message that describes it."""
    from .methods import make_method

    method = make_method(ref.spec, **ref.params)
    if ref.name:
        method.name = ref.name  # type: ignore[misc]
    made = MethodInfo.of(method)
    nested = made.nested and trusted  # the harness runs untrusted code one budget at a time
    info = ["ready", made.name, made.cls, nested, made.reference, made.params, made.doc]
    json.dumps(info)
    return method, info


def _exit_reason(status: int) -> str | None:
    """Why a process that ended with wait status `status` failed, or None when it exited with 0."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"the method's process was killed by signal {signal.Signals(sig).name}" + (
            " (out of memory?)" if sig == signal.SIGKILL else ""
        )
    if os.WEXITSTATUS(status) != 0:
        return f"the method's process exited with status {os.WEXITSTATUS(status)}"
    return None


def main() -> None:
    """The zygote: preload the common libraries, then fork a fresh copy for every unit (one held-out dataset).

    This package's own registered methods are made (and warmed up) once, here, and serve every unit here
    (they keep no state between folds; a unit that kills the zygote fails, and the next starts a new one).
    Any other method's code,
    its import included, runs only in the copy of one unit, under the guard, in a temporary folder of its
    own: nothing it does at import or in a fold reaches another fold. Behind the OS boundary the zygote
    also empties the private /tmp and /dev/shm and removes System V IPC objects after every unit."""
    rfd, wfd = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # a method's prints go to stderr, never into the protocol
    out = os.fdopen(wfd, "wb")

    def send(msg: Any) -> None:
        _write(out, json.dumps(msg).encode())

    def recv() -> Any:
        return pickle.loads(_read(rfd, limit=None))  # from the harness: its size is the suite's

    _, ref, protected, tmp_root, warm_seconds, trusted, isolated = recv()
    registry.registered()  # the registered methods and what they import (cvxpy, scipy): preloaded, trusted code
    import pandas  # noqa: F401

    _disable_loaders()
    method: Method | None = None
    if trusted:  # this package's own code: made once, warmed up, and run here for every unit
        tempfile.tempdir = os.environ["TMPDIR"] = tmp_root
        install_guard(protected, tmp_root, serving := [False])
        try:
            method, info = _made(ref, trusted)
        except BaseException as exc:  # noqa: BLE001
            send(["failed", describe_failure(exc)])
            return
        if warm_seconds > 0:
            _warm_up(method, warm_seconds)
        serving[0] = True
    else:  # describe it from a copy that is thrown away: the zygote never runs its code
        described = _in_a_copy(lambda: _made(ref, trusted)[1], protected, tmp_root, out)
        if described is None:
            return
        info = described
    send(info)
    unit = 0
    while True:
        try:
            _, tasks, budgets = recv()
        except EOFError:
            return
        for task in tasks:
            for a in (task.train_error, task.train_memory, task.train_probability, task.test_memory, task.valid):
                a.flags.writeable = False
        unit += 1
        folder = os.path.join(tmp_root, f"unit-{unit}")
        os.makedirs(folder, exist_ok=True)
        if method is not None:  # this package's own code, stateless between folds: run here, no fork per unit
            why = ""
            try:
                _run_unit(method, tasks, budgets, send, recv, bool(info[3]))
            except (EOFError, OSError):
                return  # the harness stopped answering
            except BaseException as exc:  # noqa: BLE001
                why = describe_failure(exc)
            shutil.rmtree(folder, ignore_errors=True)
            send(["unit-done", why])
            continue
        gc.freeze()  # the copy's collections then skip the zygote's objects: far fewer copy-on-write page faults
        why_r, why_w = os.pipe()  # the copy tells the zygote here why it could not make the method
        pid = os.fork()
        if pid == 0:  # the fresh copy that runs this unit
            os.close(why_r)
            code = 0
            try:
                tempfile.tempdir = os.environ["TMPDIR"] = folder
                install_guard(protected, folder, [False])  # from the method's import on
                try:
                    this, _ = _made(ref, trusted)
                except BaseException as exc:  # noqa: BLE001
                    os.write(why_w, describe_failure(exc).encode()[:MAX_MESSAGE])
                    raise
                _run_unit(this, tasks, budgets, send, recv, bool(info[3]))
            except BaseException:  # noqa: BLE001 - the harness stopped answering, or the method could not be made
                code = 1
            finally:
                out.flush()
                os._exit(code)
        os.close(why_w)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(why_r, "rb") as pipe:
            why = pipe.read(MAX_MESSAGE).decode(errors="replace")
        if isolated:  # nothing a unit leaves behind reaches the next one
            _kill_strays()
            _wipe(tmp_root)
            _wipe("/dev/shm")
            subprocess.run(["ipcrm", "--all"], capture_output=True, check=False)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        send(["unit-done", why or _exit_reason(status)])


def _in_a_copy(describe: Any, protected: Sequence[str], tmp_root: str, out: Any) -> list[Any] | None:
    """Run `describe` (which makes the method) in a forked copy under the guard; its "ready" message, or None
    after telling the harness why the method cannot be made."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            folder = os.path.join(tmp_root, "describe")
            os.makedirs(folder, exist_ok=True)
            tempfile.tempdir = os.environ["TMPDIR"] = folder
            install_guard(protected, folder, [False])
            try:
                message = describe()
            except BaseException as exc:  # noqa: BLE001
                message = ["failed", describe_failure(exc)]
            with os.fdopen(w, "wb") as pipe:
                pipe.write(json.dumps(message).encode())
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        raw = pipe.read(MAX_MESSAGE)
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(os.path.join(tmp_root, "describe"), ignore_errors=True)
    try:
        message = json.loads(raw) if raw else ["failed", _exit_reason(status) or "the method could not be made"]
    except ValueError:
        message = ["failed", "the method's description is not JSON"]
    if not isinstance(message, list) or not message or message[0] != "ready":
        _write(
            out,
            json.dumps(
                ["failed", _reason(message[1] if isinstance(message, list) and len(message) > 1 else message)]
            ).encode(),
        )
        return None
    return message


if __name__ == "__main__":
    main()
