"""A generation store: one JSON file per finished cell, written atomically, keyed by cell.

    STORE/store.json                            marks the folder as a store (format 2)
    STORE/specs/SHA256.toml                     every spec a run used
    STORE/cells/TASK/ARCH/SEED/CONFIG.json      one finished cell: error, provenance, what it means
    STORE/failures.jsonl                        units that failed, with their errors
    STORE/runs.jsonl                            one line per generate run

A cell is (task, architecture, configuration, seed) and records the sha256 of what it means (data,
network, recipe, quantizer back end) and, for a modern configuration, its formats: adding tasks, seeds,
architectures or configurations to a spec reuses every finished cell, editing a comment changes nothing,
and a spec that changes what a finished cell means (or redefines one of its own configurations) is
refused with the list of those cells and what changed. A run killed at any moment loses only its units
in progress.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..configs import Configuration
from ..files import atomic_write
from ..modern import ModernConfiguration
from .spec import GenerationSpec, Task, Unit, meaning_sha256
from .train import CellResult

STORE_FORMAT = 2


class StoreError(RuntimeError):
    """The folder is not a store, or it holds cells that mean something else, or a damaged cell."""


class Store:
    def __init__(self, root: str | Path, spec: GenerationSpec, create: bool = True) -> None:
        self.root = Path(root)
        self.spec = spec
        self._meanings: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        marker = self.root / "store.json"
        if marker.is_file():
            try:
                fmt = json.loads(marker.read_text()).get("format")
            except (OSError, json.JSONDecodeError, AttributeError) as exc:
                raise StoreError(f"{marker} is damaged ({exc}); this folder is not a usable store") from exc
            if fmt != STORE_FORMAT:
                raise StoreError(
                    f"store {self.root} has format {fmt}; this version reads format {STORE_FORMAT}: "
                    "use a new --store folder"
                )
            self._refuse_changed_meaning()
        elif self.root.exists() and any(self.root.iterdir()):
            old = (
                " (a store of an earlier peppp-bench: use a new --store folder)"
                if (self.root / "spec.toml").exists()
                else ""
            )
            raise StoreError(f"{self.root} is not empty and is not a generation store{old}; give a new or empty folder")
        elif not create:
            raise StoreError(f"{self.root} is not a generation store")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(marker, json.dumps({"format": STORE_FORMAT, "created_by": "peppp-bench generate"}))
        if create:
            spec_copy = self.root / "specs" / f"{spec.sha256}.toml"
            if not spec_copy.exists():
                spec_copy.parent.mkdir(exist_ok=True)
                atomic_write(spec_copy, spec.text)
        for torn in self.root.glob("cells/*/*/*/.*.tmp"):  # left by a run killed while writing
            torn.unlink(missing_ok=True)

    @classmethod
    def open(cls, root: str | Path) -> Store:
        """An existing store with the spec of its latest run (or its only spec)."""
        from .spec import parse_spec

        root = Path(root)
        if not (root / "store.json").is_file():
            raise StoreError(f"{root} is not a generation store (no store.json)")
        specs = {p.stem: p for p in (root / "specs").glob("*.toml")}
        runs = [r for r in cls._read_lines(root / "runs.jsonl") if r.get("spec_sha256") in specs]
        if runs:
            path = specs[runs[-1]["spec_sha256"]]
            return cls(root, parse_spec(path.read_text(), str(path), runs[-1].get("spec_base", "")), create=False)
        if len(specs) == 1:
            path = next(iter(specs.values()))
            return cls(root, parse_spec(path.read_text(), str(path)), create=False)
        raise StoreError(f"{root} holds {len(specs)} specs and no finished run: name the spec to use")

    def _refuse_changed_meaning(self) -> None:
        changed, what = [], set()
        for task, arch_id in self.spec.rows():
            meaning, expected = self._meaning(task, arch_id)
            meaning = json.loads(json.dumps(meaning))  # as a cell records it (tuples are lists there), to compare
            for path in sorted((self.root / "cells" / task.id / arch_id).glob("*/*.json")):
                cell = self._read_path(path)
                stale = cell.get("meaning_sha256") != expected
                differs = _what_differs(cell["meaning"], meaning) if stale and "meaning" in cell else []
                config = path.stem
                if config in self.spec.config_ids and "configuration" in cell:
                    if cell["configuration"] != _definition(self.spec.configuration(config)):
                        differs.append(f"configuration {config}")
                if stale and not differs:
                    differs.append("data options, network, recipe or back end")
                if differs:
                    changed.append(str(path.relative_to(self.root / "cells").with_suffix("")))
                    what.update(differs)
        if changed:
            shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
            raise StoreError(
                f"the spec changes what {len(changed)} finished cell(s) of {self.root} mean "
                f"({'; '.join(sorted(what))}): {shown}. Use a new --store folder, or a new task, architecture or "
                "configuration id for what changed"
            )

    # -- cells ------------------------------------------------------------------------------------
    def cell_path(self, task: str, arch_id: str, seed: int, config_id: str) -> Path:
        return self.root / "cells" / task / arch_id / str(seed) / f"{config_id}.json"

    def done(self, task: str, arch_id: str, seed: int, config_id: str) -> bool:
        return self.cell_path(task, arch_id, seed, config_id).is_file()

    def pending(self) -> list[Unit]:
        """Units with at least one unfinished cell, reduced to their unfinished configurations."""
        out = []
        for u in self.spec.units():
            todo = tuple(c for c in u.config_ids if not self.done(u.task.id, u.arch_id, u.seed, c))
            if todo:
                out.append(Unit(u.task, u.arch_id, u.seed, todo))
        return out

    def write(self, unit: Unit, result: CellResult) -> None:
        meaning, sha256 = self._meaning(unit.task, unit.arch_id)
        record = {**asdict(result), "arch_id": unit.arch_id, "meaning": meaning, "meaning_sha256": sha256}
        definition = _definition(self.spec.configuration(result.config_id))
        if definition is not None:
            record["configuration"] = definition
        atomic_write(
            self.cell_path(unit.task.id, unit.arch_id, result.seed, result.config_id),
            json.dumps(record, indent=1, sort_keys=True),
        )

    def _meaning(self, task: Task, arch_id: str) -> tuple[dict[str, Any], str]:
        """A row's meaning and its sha256, computed once per store (a factory's reads its source files)."""
        key = (task.id, arch_id)
        if key not in self._meanings:
            meaning = self.spec.meaning(task, arch_id)
            self._meanings[key] = (meaning, meaning_sha256(meaning))
        return self._meanings[key]

    def read(self, task: str, arch_id: str, seed: int, config_id: str) -> dict[str, Any]:
        return self._read_path(self.cell_path(task, arch_id, seed, config_id))

    @staticmethod
    def _read_path(path: Path) -> dict[str, Any]:
        try:
            cell = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cell {path} is missing or damaged ({exc}); delete it and run generate again") from exc
        if not isinstance(cell, dict):
            raise StoreError(f"cell {path} is damaged (not a JSON object); delete it and run generate again")
        return cell

    def count(self) -> tuple[int, int]:
        cells = [(u.task.id, u.arch_id, u.seed, c) for u in self.spec.units() for c in u.config_ids]
        return sum(1 for c in cells if self.done(*c)), len(cells)

    def rows_that_learned_nothing(self) -> list[tuple[str, float]]:
        """(task/architecture/seed, error) of each finished row whose every cell sits at (or above) the error
        of always answering the commonest class: a sign that the recipe is too short to learn the task."""
        out = []
        for task, arch_id in self.spec.rows():
            for seed in self.spec.seeds:
                ids = [(task.id, arch_id, seed, c) for c in self.spec.config_ids]
                if not all(self.done(*c) for c in ids):
                    continue
                cells = [self.read(*c) for c in ids]
                floor = cells[0]["provenance"].get("majority_class_error")
                if floor is not None and all(c["error"] >= floor - 1e-6 for c in cells):  # errors are float32
                    out.append((f"{task.id}/{arch_id}/{seed}", floor))
        return out

    # -- failures and runs -------------------------------------------------------------------------
    def record_failure(self, unit: Unit, error: str) -> None:
        self._append(
            "failures.jsonl",
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "task": unit.task.id,
                "arch_id": unit.arch_id,
                "seed": unit.seed,
                "config_ids": list(unit.config_ids),
                "error": error,
            },
        )

    def failed(self) -> set[tuple[str, str, int, str]]:
        """Cells a unit failed on and that are still unfinished."""
        out = set()
        for f in self._lines("failures.jsonl"):
            for c in f["config_ids"]:
                if not self.done(f["task"], f["arch_id"], f["seed"], c):
                    out.add((f["task"], f["arch_id"], f["seed"], c))
        return out

    def log_run(
        self,
        spec: Any,
        started: float,
        seconds: float,
        cells: int,
        backend: str,
        workers: int,
        threads: int,
        device: str,
        interrupted: bool = False,
    ) -> None:
        """Append one generate run (start, seconds, cells computed, back end, the spec's sha256) to
        STORE/runs.jsonl; a run that computed nothing and was not interrupted leaves no record."""
        if not cells and not interrupted:
            return
        record = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(seconds, 1),
            "cells": cells,
            "backend": backend,
            "workers": workers,
            "threads": threads,
            "device": device,
            "spec_sha256": spec.sha256,
            "spec_base": spec.base,
            **({"interrupted": True} if interrupted else {}),
        }
        self._append("runs.jsonl", record)

    def runs(self) -> list[dict[str, Any]]:
        return self._lines("runs.jsonl")

    def status(self) -> dict[str, Any]:
        """Done, failed and remaining cells, and the time left, spread over the last run's workers. A finished
        cell cost its unit's seconds in the worker (data loading included), shared by the unit's cells. An
        unfinished cell is priced as row × configuration: its row's cost per cell, with each finished cell
        divided by its configuration's factor (how much more or less its configuration cost than the average
        over every row), times its own configuration's factor; a row or configuration with nothing finished
        yet counts as average. Runs' wall clocks are not used: they include work lost to interruptions."""
        done, total = self.count()
        spec_cells = {(u.task.id, u.arch_id, u.seed, c) for u in self.spec.units() for c in u.config_ids}
        failed = len(self.failed() & spec_cells)
        finished = {c for c in spec_cells if self.done(*c)}
        costs: list[tuple[tuple[str, str], str, float]] = []
        for task, arch_id, seed, config in sorted(finished):
            cell = self.read(task, arch_id, seed, config)
            unit = cell.get("provenance", {}).get("unit_seconds", cell["wall_seconds"] * cell["batched_with"])
            costs.append(((task, arch_id), config, unit / cell["batched_with"]))
        seconds_left = None
        if costs:
            overall = float(np.mean([c for _, _, c in costs]))
            by_config = {config: mean / overall for config, mean in _mean_by(costs, 1).items()}
            by_row = _mean_by([(row, c, cost / by_config[c]) for row, c, cost in costs], 0)
            runs = self.runs()
            workers = runs[-1]["workers"] if runs else 1
            cost = sum(by_row.get((t, a), overall) * by_config.get(c, 1.0) for t, a, _s, c in spec_cells - finished)
            seconds_left = round(cost / workers, 1)
        return {
            "done": done,
            "failed": failed,
            "remaining": total - done - failed,
            "total": total,
            "seconds_left": seconds_left,
        }

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with open(self.root / name, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def _lines(self, name: str) -> list[dict[str, Any]]:
        return self._read_lines(self.root / name)

    @staticmethod
    def _read_lines(path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _mean_by(costs: list[tuple[Any, str, float]], key: int) -> dict[Any, float]:
    """The mean cost per row (`key` 0) or per configuration (`key` 1) of (row, configuration, cost) items."""
    groups: dict[Any, list[float]] = {}
    for item in costs:
        groups.setdefault(item[key], []).append(item[2])
    return {k: float(np.mean(v)) for k, v in groups.items()}


def _definition(config: Configuration | ModernConfiguration) -> dict[str, Any] | None:
    """A modern configuration's formats per role, as a cell records them (a paper id says all it is)."""
    if not isinstance(config, ModernConfiguration):
        return None
    return {role: asdict(fmt) for role, fmt in config.roles}


def _what_differs(recorded: dict[str, Any], now: dict[str, Any], path: str = "") -> list[str]:
    """The keys (dotted) whose values differ between a cell's recorded meaning and the spec's."""
    if not isinstance(recorded, dict) or not isinstance(now, dict):
        return [path or "meaning"] if recorded != now else []
    out = []
    for key in sorted(set(recorded) | set(now)):
        where = f"{path}.{key}" if path else key
        if key not in recorded or key not in now:
            out.append(where)
        elif recorded[key] != now[key]:
            out.extend(_what_differs(recorded[key], now[key], where))
    return out
