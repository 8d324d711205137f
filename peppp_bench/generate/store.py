"""A generation store: one JSON file per finished cell, written atomically, tied to one spec.

    STORE/spec.toml                         the spec the store was made with (others are refused)
    STORE/cells/TASK/SEED/CONFIG.json       one finished cell: error and provenance

A run killed at any moment loses only the unit in progress; a restart skips every finished cell.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..files import atomic_write
from .spec import GenerationSpec, Unit, parse_spec
from .train import CellResult


class StoreError(RuntimeError):
    """The store belongs to another spec, or holds a damaged cell."""


class Store:
    def __init__(self, root: str | Path, spec: GenerationSpec) -> None:
        self.root = Path(root)
        self.spec = spec
        spec_file = self.root / "spec.toml"
        if spec_file.exists():
            existing = parse_spec(spec_file.read_text(), str(spec_file))
            if existing.sha256 != spec.sha256:
                raise StoreError(
                    f"store {self.root} was made with a different spec ({existing.name} v{existing.version}, "
                    f"sha256 {existing.sha256[:12]}…); use a new --store folder, or the spec in {spec_file}"
                )
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(spec_file, spec.text)
        for torn in self.root.glob("cells/*/*/.*.tmp"):  # left by a run killed while writing
            torn.unlink(missing_ok=True)

    def cell_path(self, task: str, seed: int, config_id: str) -> Path:
        return self.root / "cells" / task / str(seed) / f"{config_id}.json"

    def done(self, task: str, seed: int, config_id: str) -> bool:
        return self.cell_path(task, seed, config_id).is_file()

    def pending(self) -> list[Unit]:
        """Units with at least one unfinished cell, reduced to their unfinished configurations."""
        out = []
        for u in self.spec.units():
            todo = tuple(c for c in u.config_ids if not self.done(u.task.id, u.seed, c))
            if todo:
                out.append(Unit(u.task, u.seed, todo))
        return out

    def write(self, task: str, result: CellResult) -> None:
        atomic_write(self.cell_path(task, result.seed, result.config_id), json.dumps(asdict(result), indent=1, sort_keys=True))

    def read(self, task: str, seed: int, config_id: str) -> dict[str, Any]:
        path = self.cell_path(task, seed, config_id)
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cell {path} is missing or damaged ({exc}); delete it and run generate again") from exc

    def log_run(self, record: dict[str, Any]) -> None:
        """Append one generate run (start, seconds, cells computed, back end) to STORE/runs.jsonl."""
        with open(self.root / "runs.jsonl", "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def runs(self) -> list[dict[str, Any]]:
        path = self.root / "runs.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def count(self) -> tuple[int, int]:
        total = sum(len(u.config_ids) for u in self.spec.units())
        done = sum(1 for u in self.spec.units() for c in u.config_ids if self.done(u.task.id, u.seed, c))
        return done, total
