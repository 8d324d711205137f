"""The method's side of the sandbox: the zygote, its janitor and the fresh copies it forks for every fold.

`python -m peppp_bench.protocol.zygote` preloads the common libraries, becomes non-dumpable and serves
units of work (one held-out dataset: its tasks in the settings of one observation kind). This package's
own registered methods, which keep no state between folds, are made once and run in the zygote itself.
Any other method's code, its import included, runs only in a copy forked afresh for each fold (one task at
one budget), under the guard and a system-call filter, in a temporary folder of its own, with one channel:
to the janitor, a process of its own that holds the unit, hands the copy its task, relays that fold's
messages to the harness and, behind the OS boundary, kills what the copy left running and empties the
private /tmp and /dev/shm. The zygote never holds a task, a message or a file name of any fold, so no
copy forked from it finds another fold's data in its own memory, and a copy that outlives its fold's
messages has no one to send more to.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import signal
import socket
import stat
import struct
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, BinaryIO

import numpy as np

from ..errors import ProtocolViolation
from . import kernel, registry
from .guard import disable_loaders, install_guard
from .rules import Measurement, Method, Oracle, Task
from .sandbox import MethodInfo, MethodRef
from .scoring import not_real
from .wire import MAX_MESSAGE, parse_message, read, read_exact, reason, write


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


def _kill_strays(keep: set[int]) -> None:
    """Kill every process in the sandbox's PID namespace but `keep` (its init, the zygote, the janitor): what a
    fold left running."""
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
    if method is None:
        _serve_copies(ref, protected, tmp_root, isolated, rfd, out)
        return
    while True:  # this package's own code, stateless between folds: run here, no fork per unit
        try:
            _, tasks, budgets = recv()
        except EOFError:
            return
        _freeze(tasks)
        why = ""
        try:
            _run_unit(method, tasks, budgets, send, recv, bool(info[3]))
        except (EOFError, OSError):
            return  # the harness stopped answering
        except BaseException as exc:  # noqa: BLE001
            why = describe_failure(exc)
        send(["unit-done", why])


def _freeze(tasks: Sequence[Task]) -> None:
    for task in tasks:
        for a in (task.train_error, task.train_memory, task.train_probability, task.test_memory, task.valid):
            a.flags.writeable = False


def _serve_copies(
    ref: MethodRef, protected: Sequence[str], tmp_root: str, isolated: bool, rfd: int, out: BinaryIO
) -> None:
    """Serve a method that is not this package's: fork the janitor, which talks to the harness, and then fork
    a fresh copy for every fold, whenever the janitor asks, on the channel the janitor made for that fold.

    Every copy is forked from the zygote, so the zygote holds nothing of any fold: no unit's tasks (the
    janitor keeps them and hands each copy its own task only), no message a copy sent and no name of a
    file it left (the janitor relays the one and removes the other). The harness's channel is the
    janitor's alone, and a copy's channel is closed when it exits: a copy cannot speak for a later fold."""
    zygote_end, janitor_end = socket.socketpair()
    zygote_parent = os.getppid()
    janitor = os.fork()
    if janitor == 0:
        zygote_end.close()
        code = 0
        try:
            _janitor(janitor_end, rfd, out, tmp_root, isolated, zygote_parent)
        except BaseException:  # noqa: BLE001 - the harness or the zygote went away
            code = 1
        finally:
            os._exit(code)
    janitor_end.close()
    out.close()
    os.close(rfd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # nor does a copy inherit the harness's end as stdin
    os.close(devnull)
    gc.freeze()  # the copies' collections then skip the zygote's objects: far fewer copy-on-write page faults
    fold = 0
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(zygote_end, 1, 2)
        except OSError:
            return
        if len(fds) != 2:
            return  # the janitor has gone: the harness stopped
        fold += 1
        pid = os.fork()
        if pid == 0:
            _copy(ref, protected, os.path.join(tmp_root, f"fold-{fold}"), isolated, fds[0], fds[1])
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        zygote_end.sendall(STATUS.pack(status))


STATUS = struct.Struct("<i")  # a copy's wait status, from the zygote to the janitor


def _copy(ref: MethodRef, protected: Sequence[str], folder: str, isolated: bool, rfd: int, wfd: int) -> None:
    """A fold's copy: with nothing open but its own channel, in `folder`, behind the system-call filter and
    the guard, make the method, take the fold's task from the janitor, run the fold and exit."""
    code = 1
    try:
        low, high = sorted((rfd, wfd))
        os.closerange(3, low)  # the zygote's end of the janitor's socket among them
        os.closerange(low + 1, high)
        os.closerange(high + 1, 1 << 20)
        out = os.fdopen(wfd, "wb")

        def send(msg: Any) -> None:
            write(out, json.dumps(msg).encode())

        def recv() -> Any:
            return pickle.loads(read(rfd, limit=None))  # from the harness, through the janitor

        refused = _confine(protected, folder, isolated)
        if refused:
            send(["copy-failed", refused])
            return
        try:
            method, _ = _made(ref, False)
        except BaseException as exc:  # noqa: BLE001
            send(["copy-failed", describe_failure(exc)])
            raise
        t, budget = recv()
        task = recv()
        _freeze([task])
        _run_fold(method, task, t, budget, [budget], send, recv)
        send(["done"])
        code = 0
    except BaseException:  # noqa: BLE001, S110 - the janitor stopped answering, or the method could not be made
        pass
    finally:
        os._exit(code)


def _janitor(zygote: socket.socket, rfd: int, out: BinaryIO, tmp_root: str, isolated: bool, zygote_parent: int) -> None:
    """Serve the harness's units: for each fold, a channel to a fresh copy (forked by the zygote), the fold's
    task sent on it, the copy's messages for that fold relayed to the harness and the harness's replies
    back; then what the copy left is removed. Then "unit-done", as the zygote of this package's methods says."""
    keep = {1, os.getpid(), os.getppid(), zygote_parent}
    fold = 0
    while True:
        try:
            _, tasks, budgets = pickle.loads(read(rfd, limit=None))
        except EOFError:
            return
        sent: dict[int, bytes] = {}
        why = ""
        for t, budget in folds(tasks, budgets, False):
            fold += 1
            if t not in sent:  # the copy is handed its own task, never the unit's others
                sent[t] = pickle.dumps(tasks[t], protocol=5)
            why = _relay_fold(zygote, rfd, out, sent[t], t, budget)
            if isolated:  # nothing a fold leaves behind reaches the next one
                _kill_strays(keep)
                _wipe(tmp_root)
                _wipe("/dev/shm")
            else:
                shutil.rmtree(os.path.join(tmp_root, f"fold-{fold}"), ignore_errors=True)
            if why:
                break
        write(out, json.dumps(["unit-done", why]).encode())


def _relay_fold(zygote: socket.socket, rfd: int, out: BinaryIO, task: bytes, t: int, budget: int) -> str:
    """Run one fold in a fresh copy and relay it: why it failed, or "". Only messages of this fold pass."""
    to_copy_r, to_copy_w = os.pipe()
    from_copy_r, from_copy_w = os.pipe()
    socket.send_fds(zygote, [b"f"], [to_copy_r, from_copy_w])
    os.close(to_copy_r)
    os.close(from_copy_w)
    why: str | None = None
    began = selected = predicted = False
    try:
        with os.fdopen(to_copy_w, "wb") as to_copy:
            write(to_copy, pickle.dumps((t, budget)))
            write(to_copy, task)
            while why is None:
                raw = read(from_copy_r)
                msg = parse_message(raw)
                kind = msg[0]
                if kind == "done" and len(msg) == 1:
                    why = ""
                elif kind == "copy-failed" and len(msg) == 2:
                    why = reason(msg[1])
                elif kind == "begin" and not began and msg[1:] == [t, budget]:
                    began = True
                    write(out, raw)
                elif kind == "measure" and began and not selected:
                    write(out, raw)
                    write(to_copy, read(rfd, limit=None))  # the harness's answer
                elif kind == "selected" and began and not selected and msg[1:2] == [t]:
                    selected = True
                    write(out, raw)
                elif kind == "predicted" and selected and not predicted and msg[1:3] == [t, budget]:
                    predicted = True
                    write(out, raw)
                else:
                    message = reason(raw.decode(errors="replace"), 200)
                    why = f"the method broke the harness protocol (unexpected message {message})"
    except (EOFError, BrokenPipeError):
        pass  # the copy ended before its fold did: its wait status says why
    except ValueError as exc:
        why = f"the method broke the harness protocol (ValueError: {reason(str(exc), 200)})"
    finally:
        os.close(from_copy_r)
    (status,) = STATUS.unpack(read_exact(zygote.fileno(), STATUS.size, None))
    if why is None:
        why = _exit_reason(status) or "the method's process ended before its fold did"
    return why


def _confine(protected: Sequence[str], folder: str, isolated: bool) -> str:
    """Confine this copy: its temporary files in `folder`, the system-call filter, the guard. Why it could not
    be confined behind the OS boundary (then no method may run in it), or ""."""
    os.makedirs(folder, exist_ok=True)
    tempfile.tempdir = os.environ["TMPDIR"] = folder
    try:
        kernel.forbid_escape()
    except OSError as exc:  # behind the OS boundary the filter is part of it: no method runs without it
        if isolated:
            return f"the sandbox's system-call filter could not be installed: {exc}"
    install_guard(protected, folder, [False])
    return ""


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
            refused = _confine(protected, folder, isolated)
            code = 1 if refused else 0
            result = refused.encode() if refused else body()
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
