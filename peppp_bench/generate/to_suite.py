"""Turn a finished generation store into a suite folder (same format as the paper suite)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..memory import count_network
from ..provenance import environment
from ..suite import write_suite
from .data import load_data
from .store import Store, StoreError


def store_to_suite(store: Store, out: Path, command: str = "") -> Path:
    """Error = mean over seeds of each cell; memory from the memory model (hook counter) of the architecture."""
    spec = store.spec
    done, total = store.count()
    if done < total:
        raise StoreError(f"store {store.root} has {done} of {total} cells; finish it with `peppp-bench generate` first")
    rows, mem_rows, err_rows = [], [], []
    wall = 0.0
    for task in spec.tasks:
        data = load_data(task.data, name=task.id)
        c, h, _ = data.shape
        counts = count_network(spec.architecture.build(data.classes, c), data.shape)
        mem_rows.append(counts.memory_row())
        errs = np.full((len(spec.seeds), 99), np.nan)
        for si, seed in enumerate(spec.seeds):
            for j, cid in enumerate(spec.config_ids):
                cell = store.read(task.id, seed, cid)
                errs[si, j] = cell["error"]
                wall += cell["wall_seconds"]  # this cell's share of its unit's training time
        if np.isnan(errs).any():
            raise StoreError(f"task {task.id} covers only some of the 99 configurations; a suite needs all 99")
        err_rows.append(errs.mean(axis=0))
        rows.append({"dataset_id": task.id, "name": task.name, "name_confidence": "confirmed", "family": task.data.source,
                     "resolution": h, "classes": data.classes, "source": data.description})
    provenance = {
        "generator": "peppp-bench generate", "command": command, "spec_sha256": spec.sha256,
        "architecture": spec.architecture.name, "recipe": spec.recipe.record(), "quantizer_backend": spec.backend,
        "seeds": list(spec.seeds), "cells": total, "training_seconds_summed_over_units": round(wall, 1),
        "generate_runs": store.runs(),
        "generation_wall_seconds": round(sum(r["seconds"] for r in store.runs()), 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **environment(),
    }
    return write_suite(out, name=spec.name, version=spec.version, error=np.stack(err_rows), memory=np.stack(mem_rows),
                       datasets=pd.DataFrame(rows), description=spec.description, provenance=provenance,
                       cap_rule=spec.cap_rule)


def add_replicates(suite_folder: Path, stores: list[Store], out: Path, version: str, cap_rule: str | None = None,
                   command: str = "") -> Path:
    """Write `suite_folder`'s suite again as version `version` with the finished cells of `stores` (the same
    tasks and recipe trained with other seeds) as its replicates table; optionally a new cap rule."""
    from ..suite import read_suite

    bench = read_suite(suite_folder)
    records, runs, taken = [], [], set()
    for store in stores:
        done, total = store.count()
        if done < total:
            raise StoreError(f"store {store.root} has {done} of {total} cells; finish it with `peppp-bench generate` first")
        unknown = {t.id for t in store.spec.tasks} - set(bench.dataset_ids)
        if unknown:
            raise StoreError(f"store {store.root} trains tasks the suite {bench.name} does not have: {sorted(unknown)}")
        made = bench.metadata["provenance"]
        ours = {"architecture": store.spec.architecture.name, "recipe": store.spec.recipe.record(),
                "quantizer_backend": store.spec.backend}
        differ = [k for k, v in ours.items() if made.get(k) != json.loads(json.dumps(v))]  # as the suite recorded it
        if differ:
            raise StoreError(f"store {store.root} differs from the suite {bench.name} in {', '.join(differ)}: "
                             "replicates must re-train the same cells with other seeds only")
        for u in store.spec.units():
            for cid in u.config_ids:
                if (u.task.id, cid, u.seed) not in taken:  # a cell in two stores: the first store's is kept
                    taken.add((u.task.id, cid, u.seed))
                    records.append({"dataset_id": u.task.id, "config_id": cid, "seed": u.seed,
                                    "error": store.read(u.task.id, u.seed, cid)["error"]})
        runs.append({"spec": store.spec.name, "spec_sha256": store.spec.sha256, "recipe": store.spec.recipe.record(),
                     "seeds": list(store.spec.seeds), "cells": total, "generate_runs": store.runs()})
    provenance = {**bench.metadata["provenance"], "replicates": {"command": command, "stores": runs, **environment()}}
    return write_suite(out, name=bench.name, version=version, error=bench.E, memory=bench.M,
                       datasets=bench.datasets, description=bench.metadata["description"], provenance=provenance,
                       cap_rule=cap_rule or bench.cap_rule, replicates=pd.DataFrame(records))
