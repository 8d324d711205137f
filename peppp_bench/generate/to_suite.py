"""Turn a finished generation store into a suite folder (same format as the paper suite)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..configs import Configuration
from ..modern import MODERN_IDS, ModernConfiguration, configuration_table, modern_rows
from ..provenance import environment
from ..suites.suite import write_suite
from .data import ImageData, load_data
from .spec import GenerationSpec
from .store import Store, StoreError


def _configurations(spec: GenerationSpec) -> tuple[pd.DataFrame, list[Configuration | ModernConfiguration]]:
    """The suite's configuration table and configurations in canonical order: the paper's index, or the
    bundled modern table's order followed by the spec's own configurations by id."""
    own = {c.id for c in spec.own_configurations}
    if not own:
        table = configuration_table(list(spec.config_ids))
        return table, [spec.configuration(c) for c in table["config_id"]]
    configs = sorted(
        (spec.configuration(c) for c in spec.config_ids),
        key=lambda c: (c.id in own, 0 if c.id in own else MODERN_IDS.index(c.id), c.id),
    )
    modern = [c for c in configs if isinstance(c, ModernConfiguration)]
    assert len(modern) == len(configs)  # a spec's own configurations are modern ones
    return modern_rows(modern), list(configs)


def store_to_suite(store: Store, out: Path, command: str = "") -> Path:
    """Error = mean over seeds of each cell; memory from the memory model of the network as trained.

    Columns are the spec's configurations in canonical order, each cell read by its id: the order a spec
    lists them in does not matter. A row is a task, or (task, architecture) when the spec has several.
    A spec of several seeds keeps every seed's cells as the suite's replicates; with scoring seeds, the error is
    the mean of the other seeds and frontiers are scored against the scoring seeds' mean."""
    spec = store.spec
    done, total = store.count()
    if done < total:
        raise StoreError(f"store {store.root} has {done} of {total} cells; finish it with `peppp-bench generate` first")
    table, configs = _configurations(spec)  # canonical order
    config_ids = list(table["config_id"])
    rows, mem_rows, err_rows, replicates = [], [], [], []
    measured = [spec.seeds.index(s) for s in spec.measured_seeds]
    wall, cpu = 0.0, 0.0  # seconds of training: wall time, and CPU time on the CPU (wall × torch threads)
    trained_at: Counter[str] = Counter()  # git sha of the checkout that trained a cell → cells
    trained_on: Counter[str] = Counter()  # CPU (and torch's kernel instruction set) that trained a cell → cells
    loaded: dict[str, ImageData] = {}
    for task, arch_id in spec.rows():
        data = loaded.setdefault(task.id, load_data(task.data, name=task.id))
        c, h, _ = data.shape
        arch = spec.architecture(arch_id)
        mem_rows.append(arch.counts(data.classes, data.shape).memory_row(configs))
        cells = [[store.read(task.id, arch_id, seed, cid) for cid in config_ids] for seed in spec.seeds]
        errors = np.array([[cell["error"] for cell in by_seed] for by_seed in cells])  # seeds × configurations
        err_rows.append(errors[measured].mean(axis=0))
        if len(spec.seeds) > 1:  # every seed's cells kept: seed noise is measured from them
            replicates += [
                {"dataset_id": spec.row_id(task, arch_id), "config_id": cid, "seed": seed, "error": errors[k, j]}
                for k, seed in enumerate(spec.seeds)
                for j, cid in enumerate(config_ids)
            ]
        for cell in (cell for by_seed in cells for cell in by_seed):
            wall += cell["wall_seconds"]
            if cell["device"] == "cpu":  # its share of its unit's wall time, on each of its torch threads
                cpu += cell["wall_seconds"] * cell["provenance"].get("torch_threads", 1)
            trained_at[cell["provenance"]["git_sha"]] += 1
            trained_on[cell["provenance"].get("cpu", "not recorded")] += 1
        row = {
            "dataset_id": spec.row_id(task, arch_id),
            "name": task.name,
            "name_confidence": "confirmed",
            "family": task.data.source,
            "resolution": h,
            "classes": data.classes,
            "source": data.description,
        }
        if spec.multi_architecture:
            row.update(name=f"{task.name} ({arch_id})", task=task.id, architecture=arch_id)
        rows.append(row)
    records = {a_id: a.record() for a_id, a in spec.architectures}
    provenance = {
        "generator": "peppp-bench generate",
        "command": command,
        "spec_sha256": spec.sha256,
        "architecture": spec.architectures[0][1].name if not spec.multi_architecture else "several (see architectures)",
        "architectures": records,
        "recipe": spec.recipe.record(),
        "quantizer_backend": spec.backend,
        "deterministic": "on for CUDA" if spec.deterministic is None else spec.deterministic,
        "fused_quantizer": spec.fused_quantizer,
        "seeds": list(spec.seeds),
        "scoring_seeds": list(spec.scoring_seeds),
        "cells": total,
        "training_seconds_summed_over_units": round(wall, 1),
        "training_cpu_hours": round(cpu / 3600, 3),
        "cells_by_git_sha": dict(trained_at),
        "cells_by_cpu": dict(trained_on),
        "generate_runs": store.runs(),
        "generation_wall_seconds": round(sum(r["seconds"] for r in store.runs()), 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **environment(),
    }
    return write_suite(
        out,
        name=spec.name,
        version=spec.version,
        error=np.stack(err_rows),
        memory=np.stack(mem_rows),
        datasets=pd.DataFrame(rows),
        description=spec.description,
        provenance=provenance,
        cap_rule=spec.cap_rule,
        configurations=table,
        replicates=pd.DataFrame(replicates) if replicates else None,
        seeds={"measured": list(spec.measured_seeds), "scoring": list(spec.scoring_seeds)}
        if len(spec.seeds) > 1
        else None,
        negative_control=spec.negative_control,
    )


def add_replicates(
    suite_folder: Path, stores: list[Store], out: Path, version: str, cap_rule: str | None = None, command: str = ""
) -> Path:
    """Write `suite_folder`'s suite again as version `version` with the finished cells of `stores` (the same
    tasks and recipe trained with other seeds) as its replicates table; optionally a new cap rule."""
    from ..suites.suite import read_suite

    bench = read_suite(suite_folder)
    if "seeds" in bench.metadata:
        raise StoreError(f"suite {bench.name} already holds every seed of every cell (its metadata names its seeds)")
    records, runs, taken = [], [], set()
    trained_on: Counter[str] = Counter()  # as in `to_suite`: the CPU that trained each replicate cell
    for store in stores:
        done, total = store.count()
        if done < total:
            raise StoreError(
                f"store {store.root} has {done} of {total} cells; finish it with `peppp-bench generate` first"
            )
        unknown = {store.spec.row_id(t, a) for t, a in store.spec.rows()} - set(bench.dataset_ids)
        if unknown:
            raise StoreError(f"store {store.root} trains tasks the suite {bench.name} does not have: {sorted(unknown)}")
        made = bench.metadata["provenance"]
        ours = {
            "architecture": store.spec.architectures[0][1].name,
            "recipe": store.spec.recipe.record(),
            "quantizer_backend": store.spec.backend,
        }
        differ = [k for k, v in ours.items() if made.get(k) != json.loads(json.dumps(v))]  # as the suite recorded it
        if differ:
            raise StoreError(
                f"store {store.root} differs from the suite {bench.name} in {', '.join(differ)}: "
                "replicates must re-train the same cells with other seeds only"
            )
        for u in store.spec.units():
            row = store.spec.row_id(u.task, u.arch_id)
            for cid in u.config_ids:
                if (row, cid, u.seed) not in taken:  # a cell in two stores: the first store's is kept
                    taken.add((row, cid, u.seed))
                    cell = store.read(u.task.id, u.arch_id, u.seed, cid)
                    trained_on[cell["provenance"].get("cpu", "not recorded")] += 1
                    records.append({"dataset_id": row, "config_id": cid, "seed": u.seed, "error": cell["error"]})
        runs.append(
            {
                "spec": store.spec.name,
                "spec_sha256": store.spec.sha256,
                "recipe": store.spec.recipe.record(),
                "seeds": list(store.spec.seeds),
                "cells": total,
                "generate_runs": store.runs(),
            }
        )
    provenance = {
        **bench.metadata["provenance"],
        "replicates": {"command": command, "stores": runs, "cells_by_cpu": dict(trained_on), **environment()},
    }
    return write_suite(
        out,
        name=bench.name,
        version=version,
        error=bench.E,
        memory=bench.M,
        datasets=bench.datasets,
        description=bench.metadata["description"],
        provenance=provenance,
        cap_rule=cap_rule or bench.cap_rule,
        replicates=pd.DataFrame(records),
        configurations=bench.configurations,
        negative_control=bench.metadata.get("negative_control"),
    )
