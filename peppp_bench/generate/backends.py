"""Where units of work run: local worker processes (default) or a Ray cluster, one task per unit.

Workers only compute; the parent writes every finished cell to the store, atomically, as soon as its
unit returns, so an interrupted run keeps everything finished. A unit that fails (an exception, out of
memory, a worker that dies) is recorded in the store with its error and retried split in halves; a
single configuration that fails stays failed and the run goes on. SIGTERM and SIGINT stop the workers
(they also die with the parent, even on SIGKILL) and leave the store consistent.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .spec import GenerationSpec, SpecError, Unit, parse_spec
from .store import Store
from .train import CellResult, SetupError

Outcome = tuple[Unit, "list[CellResult] | None", str]  # (unit, results or None, error)
Progress = Callable[[str, int, int, float], None]  # (unit, epochs done, epochs, the unit's start time)


DEVICE = re.compile(r"cpu|auto|cuda(:[0-9]+)?")


def check_device(device: str) -> None:
    """Refuse a device name no worker can train on (before a store exists), with the names that work."""
    if not DEVICE.fullmatch(device):
        raise SpecError(f"--device {device!r} is not a device: give cpu, cuda (a GPU per worker), cuda:N or auto")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SpecError(
                f"--device {device}: this machine has no CUDA device (torch {torch.__version__}); "
                "use --device cpu, or --device auto on a Ray cluster"
            )


def resolve_device(device: str, worker: int = 0) -> str:
    """cpu, cuda (worker i gets cuda:i modulo the GPUs it sees), cuda:N, or auto (cuda when present)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{worker % max(1, torch.cuda.device_count())}"
    return device


def run_unit(
    spec_text: str, base: str, unit: Unit, device: str, threads: int, progress: Progress | None = None
) -> list[CellResult]:
    """Train one unit (in a worker): load its data, train its configurations together. Each cell records
    the unit's seconds in the worker (data loading included), from which `--status` estimates."""
    import torch

    from .data import load_data
    from .train import configure_device, train_cells

    started = time.time()
    torch.set_num_threads(threads)
    try:
        spec = parse_spec(spec_text, base=base)
        configure_device(device, spec.deterministic)
        data = load_data(unit.task.data, name=unit.task.id)
    except Exception as exc:  # noqa: BLE001 - breaks every configuration alike, as a network that cannot be built
        raise SetupError(f"{type(exc).__name__}: {exc}") from exc
    results = train_cells(
        data,
        [spec.configuration(c) for c in unit.config_ids],
        spec.architecture(unit.arch_id),
        spec.recipe,
        unit.seed,
        device,
        spec.backend,
        spec.fused_quantizer,
        None if progress is None else lambda done, total: progress(_label(unit), done, total, started),
    )
    for r in results:
        r.provenance["unit_seconds"] = round(time.time() - started, 3)
    return results


def _label(unit: Unit) -> str:
    """The unit as the progress bar names it: its row, seed and first configuration (a row's units differ in it)."""
    more = f" +{len(unit.config_ids) - 1}" if len(unit.config_ids) > 1 else ""
    return f"{unit.task.id}/{unit.arch_id}/seed {unit.seed}/{unit.config_ids[0]}{more}"


def _failed_with(error: str) -> str:
    """The exception's class name on a traceback's last line ('package.module.Name: message')."""
    lines = error.strip().splitlines()
    return lines[-1].split(":", 1)[0].rsplit(".", 1)[-1] if lines else ""


def _attempt(job: tuple[str, str, Unit, str, int], progress: Progress | None = None) -> Outcome:
    """run_unit, with any failure returned as text rather than raised."""
    try:
        return job[2], run_unit(*job, progress=progress), ""
    except (Exception, MemoryError):  # noqa: BLE001 - recorded in the store, then retried in halves
        return job[2], None, traceback.format_exc()


_WORKER: dict[str, Any] = {}


def _start_worker(slots: Any, device: str, threads: int, reports: Any) -> None:
    """Die with the parent (Linux), take a free worker slot (its GPU, for `cuda`), one thread by default."""
    import ctypes
    import os

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how to stop
    with slots.get_lock():
        index = claim_slot(slots, os.getpid())
    _WORKER["device"] = resolve_device(device, index)
    _WORKER["threads"] = threads
    _WORKER["reports"] = reports


def claim_slot(slots: Any, pid: int) -> int:
    """The first worker slot no live process holds, now held by `pid`: a worker that replaces a recycled one
    takes its slot (and GPU), so no two live workers share one."""
    index = next((i for i, holder in enumerate(slots) if not _alive(holder)), pid % len(slots))
    slots[index] = pid
    return index


def _alive(pid: int) -> bool:
    """Whether a process runs under this pid (0: never taken)."""
    import os

    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a worker that has exited but is not yet reaped is a zombie: its slot is free
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _attempt_in_worker(job: tuple[str, str, Unit]) -> Outcome:
    reports = _WORKER["reports"]
    return _attempt((*job, _WORKER["device"], _WORKER["threads"]), lambda *report: reports.put(report))


def _local(
    spec: GenerationSpec,
    units: deque[Unit],
    workers: int,
    device: str,
    threads: int,
    retry: Any,
    progress: Progress,
) -> Iterator[Outcome]:
    """Run units on `workers` processes (or in this process for one worker); `retry(outcome)` may push
    more units onto `units` while they run; `progress` hears of every epoch a unit finishes."""
    if workers == 1:
        dev = resolve_device(device)
        while units:
            outcome = _attempt((spec.text, spec.base, units.popleft(), dev, threads), progress)
            retry(outcome)
            yield outcome
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    slots = ctx.Array("i", workers)  # the pid holding each worker slot (0: free)
    reports = ctx.SimpleQueue()  # (unit, epochs done, epochs, started) from the workers
    while units:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=ctx,
            initializer=_start_worker,
            initargs=(slots, device, threads, reports),
            max_tasks_per_child=20,
        )
        running: dict[Any, Unit] = {}
        try:
            while units or running:
                while units and len(running) < 2 * workers:
                    u = units.popleft()
                    running[pool.submit(_attempt_in_worker, (spec.text, spec.base, u))] = u
                finished, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                while not reports.empty():
                    progress(*reports.get())
                for fut in finished:
                    unit = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        outcome = (unit, None, "a worker process died (out of memory, or killed)")
                    retry(outcome)
                    yield outcome
        except BrokenProcessPool:
            for unit in running.values():  # every unit in flight died with the pool: start a new one
                outcome = (unit, None, "a worker process died (out of memory, or killed)")
                retry(outcome)
                yield outcome
        finally:
            for proc in list(getattr(pool, "_processes", {}).values()):
                if proc.is_alive():
                    proc.kill()
            pool.shutdown(wait=True, cancel_futures=True)


def _ray(
    spec: GenerationSpec, units: deque[Unit], address: str | None, device: str, threads: int, retry: Any
) -> Iterator[Outcome]:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("the ray back end needs Ray: pip install 'peppp-bench[ray]'") from exc

    # A caller's Ray is used as it is and left running. A local Ray started here keeps its session files in a
    # folder of its own, where Ray keeps them by default ($RAY_TMPDIR or /tmp: its sockets' paths must stay
    # short), and is stopped and the folder removed afterwards.
    start = not ray.is_initialized()
    owned = (
        tempfile.mkdtemp(prefix="peppp-ray-", dir=os.environ.get("RAY_TMPDIR", "/tmp"))
        if start and address is None
        else None
    )
    try:
        if owned is not None:
            ray.init(_temp_dir=owned, include_dashboard=False, log_to_driver=False)
        elif start:
            ray.init(address=address, log_to_driver=False)
        yield from _ray_tasks(ray, spec, units, device, threads, retry)
    finally:
        if owned is not None:
            ray.shutdown()
            shutil.rmtree(owned, ignore_errors=True)


def _ray_tasks(
    ray: Any, spec: GenerationSpec, units: deque[Unit], device: str, threads: int, retry: Any
) -> Iterator[Outcome]:
    """Each unit as one Ray task; outcomes in the order they finish."""
    # A GPU is requested for each task where the cluster has them; the worker that trains decides its device
    # (`auto`: its own GPU if Ray gave it one, else its CPU).
    gpus = 1 if device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0) else 0

    def attempt(text: str, base: str, unit: Unit, dev: str, n: int) -> Outcome:
        return _attempt((text, base, unit, resolve_device(dev), n))

    remote = ray.remote(num_gpus=gpus, num_cpus=threads)(attempt)
    refs: dict[Any, Unit] = {}
    while units or refs:
        while units:
            u = units.popleft()
            refs[remote.remote(spec.text, spec.base, u, device, threads)] = u
        ready, _ = ray.wait(list(refs), num_returns=1)
        for r in ready:
            unit = refs.pop(r)
            try:
                outcome = ray.get(r)
            except Exception as exc:  # noqa: BLE001 - a lost worker or node
                outcome = (unit, None, f"the Ray task failed: {exc}")
            retry(outcome)
            yield outcome


def in_progress(in_flight: dict[str, tuple[int, int, float]], now: float) -> str:
    """The units in progress for the progress bar: each one's epochs and its time left at its pace so far."""
    parts = []
    for unit, (done, total, started) in sorted(in_flight.items()):
        left = (now - started) / done * (total - done) if done else None
        parts.append(f"{unit}: epoch {done}/{total}" + ("" if left is None else f", ~{_duration(left)} left"))
    return "; ".join(parts)


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 90
        else f"{seconds / 60:.0f} min"
        if seconds < 5400
        else f"{seconds / 3600:.1f} h"
    )


def _stop_on_sigterm() -> Any:
    """Turn SIGTERM into KeyboardInterrupt for the duration of a run; return the previous handler."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def generate(
    spec: GenerationSpec,
    store: Store,
    backend: str = "local",
    workers: int = 1,
    address: str | None = None,
    device: str = "cpu",
    progress: bool = True,
    threads: int = 1,
) -> tuple[int, float]:
    """Compute every unfinished cell of the store's spec; return (cells computed, seconds)."""
    from tqdm.auto import tqdm

    started = time.time()
    done, total = store.count()
    units = deque(store.pending())
    bar = tqdm(total=total, initial=done, desc=f"{spec.name} cells", unit="cell", disable=not progress)
    in_flight: dict[str, tuple[int, int, float]] = {}  # unit → (epochs done, epochs, started)

    def heard(unit: str, epochs_done: int, epochs: int, unit_started: float) -> None:
        in_flight[unit] = (epochs_done, epochs, unit_started)
        bar.set_postfix_str(in_progress(in_flight, time.time()), refresh=True)

    gave_up = 0  # configurations that failed for good

    def retry(outcome: Outcome) -> None:
        """A failed unit is retried in halves, to find the configurations that fail, unless it failed before
        training (its data or network): that fails every half alike."""
        nonlocal gave_up
        unit, results, error = outcome
        if results is None:
            store.record_failure(unit, error)
            if len(unit.config_ids) == 1 or _failed_with(error) == SetupError.__name__:
                gave_up += len(unit.config_ids)
                return
            half = len(unit.config_ids) // 2
            units.append(Unit(unit.task, unit.arch_id, unit.seed, unit.config_ids[:half]))
            units.append(Unit(unit.task, unit.arch_id, unit.seed, unit.config_ids[half:]))

    if backend == "local":
        stream = _local(spec, units, max(1, workers), device, threads, retry, heard)
    elif backend == "ray":
        stream = _ray(spec, units, address, device, threads, retry)
    else:
        raise ValueError(f"unknown back end {backend!r}: 'local' or 'ray'")
    computed = 0
    previous = _stop_on_sigterm()
    try:
        for unit, results, error in stream:
            if results is None:
                bar.write(
                    f"unit {unit.task.id}/{unit.arch_id}/seed {unit.seed} ({len(unit.config_ids)} configurations) "
                    f"failed: {error.strip().splitlines()[-1]}"
                )
                continue
            for r in results:
                store.write(unit, r)
            computed += len(results)
            in_flight.pop(_label(unit), None)
            bar.set_postfix_str(in_progress(in_flight, time.time()), refresh=False)
            bar.update(len(results))
    finally:
        stream.close()  # stops the workers
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if gave_up:
        bar.write(f"{gave_up} configuration(s) failed; see {store.root / 'failures.jsonl'}")
    return computed, time.time() - started
