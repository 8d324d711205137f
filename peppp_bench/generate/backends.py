"""Where units of work run: local worker processes (default) or a Ray cluster, one task per unit.

Workers only compute; the parent process writes every finished cell to the store, atomically, as
soon as its unit returns, so an interrupted run keeps everything finished.
"""
from __future__ import annotations

import os
import time
from typing import Iterator

from .spec import GenerationSpec, Unit, parse_spec
from .store import Store
from .train import CellResult


def run_unit(spec_text: str, unit: Unit, device: str, threads: int) -> list[CellResult]:
    """Train one unit (in a worker): load its data, train its configurations together."""
    import torch

    from .data import load_data
    from .train import train_cells

    torch.set_num_threads(threads)
    spec = parse_spec(spec_text)
    data = load_data(unit.task.data, name=unit.task.id)
    return train_cells(data, list(unit.config_ids), spec.architecture, spec.recipe, unit.seed, device, spec.backend)


def _run_tagged(job: tuple[str, Unit, str, int]) -> tuple[Unit, list[CellResult]]:
    return job[1], run_unit(*job)


def _local(spec: GenerationSpec, units: list[Unit], workers: int, device: str) -> Iterator[tuple[Unit, list[CellResult]]]:
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = [(spec.text, u, device, threads) for u in units]
    if workers == 1:
        yield from map(_run_tagged, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers, maxtasksperchild=20) as pool:
        yield from pool.imap_unordered(_run_tagged, jobs)


def _ray(spec: GenerationSpec, units: list[Unit], address: str | None, device: str) -> Iterator[tuple[Unit, list[CellResult]]]:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("the ray back end needs Ray: pip install 'peppp-bench[ray]'") from exc
    import torch

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    gpus = 1 if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else 0
    remote = ray.remote(num_gpus=gpus, num_cpus=1)(run_unit)
    device = "cuda" if gpus else ("cpu" if device == "auto" else device)
    refs = {remote.remote(spec.text, u, device, 1): u for u in units}
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        for r in ready:
            yield refs.pop(r), ray.get(r)


def generate(spec: GenerationSpec, store: Store, backend: str = "local", workers: int = 1, address: str | None = None,
             device: str = "cpu", progress: bool = True) -> tuple[int, float]:
    """Compute every unfinished cell of the store's spec; return (cells computed, seconds)."""
    from tqdm.auto import tqdm

    started = time.time()
    done, total = store.count()
    units = store.pending()
    bar = tqdm(total=total, initial=done, desc=f"{spec.name} cells", unit="cell", disable=not progress)
    if backend == "local":
        stream = _local(spec, units, max(1, workers), device if device != "auto" else "cpu")
    elif backend == "ray":
        stream = _ray(spec, units, address, device)
    else:
        raise ValueError(f"unknown back end {backend!r}: 'local' or 'ray'")
    computed = 0
    for unit, results in stream:
        for r in results:
            store.write(unit.task.id, r)
        computed += len(results)
        bar.update(len(results))
    bar.close()
    return computed, time.time() - started


