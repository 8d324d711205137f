"""The method's side of the sandbox: the zygote and the fresh copies it forks for every fold.

`python -m peppp_bench.protocol.zygote` preloads the common libraries, becomes non-dumpable and serves
units of work (one held-out dataset: its tasks in the settings of one observation kind). This package's
own registered methods, which keep no state between folds, are made once and run in the zygote itself.
Any other method's code, its import included, runs only in a copy forked afresh for each fold (one task at
one budget), under the guard and a system-call filter, in a temporary folder of its own: nothing it keeps
reaches another fold, another budget, another method or the harness. Behind the OS boundary the zygote
also kills what a copy left running and empties the private /tmp and /dev/shm after every fold.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import signal
import stat
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import ProtocolViolation
from . import kernel, registry
from .guard import disable_loaders, install_guard
from .rules import Measurement, Method, Oracle, Task
from .sandbox import MethodInfo, MethodRef
from .scoring import not_real
from .wire import MAX_MESSAGE, read, reason, write


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


def folds(tasks: list[Task], budgets: list[int], nested: bool) -> list[tuple[int, int]]:
    """The unit's folds in order, (task, budget): a nested method selects once per task, at the largest budget."""
    return [(t, budget) for t in range(len(tasks)) for budget in ([budgets[-1]] if nested else budgets)]


def _run_fold(method: Method, task: Task, t: int, budget: int, scored: list[int], send: Any, recv: Any) -> None:
    """One fold: select under `budget`, then predict for each budget in `scored` from that many measurements."""
    task_b = replace(task, budget=budget)
    send(["begin", t, budget])
    oracle = RemoteOracle(send, recv, task_b, budget)
    try:
        method.select(task_b, oracle)
    except BaseException as exc:  # noqa: BLE001 - exit, KeyboardInterrupt: this fold fails, nothing else
        send(["selected", t, describe_failure(exc)])
        return
    send(["selected", t, None])
    for n in scored:
        try:
            value = _predictions(method.predict(replace(task_b, budget=n), oracle.measured[:n]))
        except BaseException as exc:  # noqa: BLE001
            value = {"failed": describe_failure(exc)}
        send(["predicted", t, n, value])


def _run_unit(method: Method, tasks: list[Task], budgets: list[int], send: Any, recv: Any, nested: bool) -> None:
    for t, budget in folds(tasks, budgets, nested):
        _run_fold(method, tasks[t], t, budget, budgets if nested else [budget], send, recv)


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
    """The zygote: preload the common libraries, then serve units (see the module docstring).

    A unit that kills the zygote fails, and the next starts a new one."""
    rfd, wfd = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # a method's prints go to stderr, never into the protocol
    out = os.fdopen(wfd, "wb")

    def send(msg: Any) -> None:
        write(out, json.dumps(msg).encode())

    def recv() -> Any:
        return pickle.loads(read(rfd, limit=None))  # from the harness: its size is the suite's

    _, ref, protected, tmp_root, warm_seconds, trusted, isolated = recv()
    try:
        kernel.seal_process()  # no copy can read or write the zygote's memory, files or descriptors
    except OSError:
        if isolated:
            raise
    registry.registered()  # the registered methods and what they import (cvxpy, scipy): preloaded, trusted code
    import pandas  # noqa: F401

    disable_loaders()
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
        info = _described(ref, trusted, protected, os.path.join(tmp_root, "describe"), isolated)
        if isolated:
            _wipe(tmp_root)
        if info[0] != "ready":
            send(info)
            return
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
        if method is not None:  # this package's own code, stateless between folds: run here, no fork per unit
            why = ""
            try:
                _run_unit(method, tasks, budgets, send, recv, bool(info[3]))
            except (EOFError, OSError):
                return  # the harness stopped answering
            except BaseException as exc:  # noqa: BLE001
                why = describe_failure(exc)
            send(["unit-done", why])
            continue
        gc.freeze()  # the copies' collections then skip the zygote's objects: far fewer copy-on-write page faults
        why = ""
        for fold, (t, budget) in enumerate(folds(tasks, budgets, False)):
            # A fresh copy per fold: nothing it measured at one budget (or in another task) reaches the next.
            def run(this: Method, t: int = t, budget: int = budget) -> None:
                _run_fold(this, tasks[t], t, budget, [budget], send, recv)  # noqa: B023 - runs before the loop moves on

            folder = os.path.join(tmp_root, f"unit-{unit}-{fold}")
            why = _fold_in_a_copy(ref, trusted, run, protected, folder, isolated)
            if isolated:  # nothing a fold leaves behind reaches the next one
                _kill_strays()
                _wipe(tmp_root)
                _wipe("/dev/shm")
            else:
                shutil.rmtree(folder, ignore_errors=True)
            if why:
                break
        send(["unit-done", why])


DONE = b"\0"  # what a copy says when its fold ran to the end


def _in_a_copy(
    body: Callable[[], bytes | None], protected: Sequence[str], folder: str, isolated: bool
) -> tuple[bytes, int]:
    """Run `body` in a forked copy, in `folder`, behind the system-call filter and the guard; the bytes it
    returned and the copy's wait status."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            os.makedirs(folder, exist_ok=True)
            tempfile.tempdir = os.environ["TMPDIR"] = folder
            try:
                kernel.forbid_escape()
            except OSError as exc:  # behind the OS boundary the filter is part of it: no method runs without it
                if isolated:
                    os.write(w, f"the sandbox's system-call filter could not be installed: {exc}".encode())
                    raise
            install_guard(protected, folder, [False])
            result = body()
            if result:
                os.write(w, result[:MAX_MESSAGE])
        except BaseException:  # noqa: BLE001 - the harness stopped answering, or the method could not be made
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        raw = pipe.read(MAX_MESSAGE)
    _, status = os.waitpid(pid, 0)
    return raw, status


def _fold_in_a_copy(
    ref: MethodRef, trusted: bool, fold: Callable[[Method], None], protected: Sequence[str], folder: str, isolated: bool
) -> str:
    """Make the method and run `fold` with it in a fresh copy; why it failed, or ""."""

    def body() -> bytes | None:
        try:
            this, _ = _made(ref, trusted)
        except BaseException as exc:  # noqa: BLE001
            return describe_failure(exc).encode()
        fold(this)
        return DONE

    raw, status = _in_a_copy(body, protected, folder, isolated)
    if raw == DONE:
        return ""
    return raw.decode(errors="replace") or _exit_reason(status) or "the method's process ended before its fold did"


def _described(ref: MethodRef, trusted: bool, protected: Sequence[str], folder: str, isolated: bool) -> list[Any]:
    """The method's "ready" message, made in a copy that is thrown away, or ["failed", why]."""

    def body() -> bytes:
        try:
            message = _made(ref, trusted)[1]
        except BaseException as exc:  # noqa: BLE001
            message = ["failed", describe_failure(exc)]
        return json.dumps(message).encode()

    raw, status = _in_a_copy(body, protected, folder, isolated)
    try:
        message = json.loads(raw) if raw else ["failed", _exit_reason(status) or "the method could not be made"]
    except ValueError:
        message = ["failed", raw.decode(errors="replace") or "the method's description is not JSON"]
    if not isinstance(message, list) or not message or message[0] != "ready":
        return ["failed", reason(message[1] if isinstance(message, list) and len(message) > 1 else message)]
    return message


if __name__ == "__main__":
    main()
