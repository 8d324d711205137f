"""Generation specs: a small TOML file naming tasks × configurations × architecture × recipe × seeds.

    [suite]
    name = "mini"                 # suite name and version of the suite this makes
    version = "1.0.0"
    description = "..."
    seeds = [0]
    configurations = "all"        # or a list of ids such as ["e5m3-e7m11"]
    architecture = { blocks = [1, 1], width = 8 }
    recipe = { name = "clean", epochs = 8, lr = 0.05 }
    backend = "native"            # quantizer back end: native (batched) or qtorch (reference)
    configs_per_unit = 33         # configurations trained together in one grouped network
    cap_rule = "row-median"       # memory cap of settings II/IV/VI: row-median (default) or global-median

    [[tasks]]
    id = "digits-0-9"
    name = "Digits 0-9"
    source = "digits"
    options = { classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs import CONFIG_IDS, get_config
from ..suite import CAP_RULES
from .data import DataSpec
from .recipes import Recipe, get_recipe
from .train import Architecture


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    data: DataSpec


@dataclass(frozen=True)
class Unit:
    """One piece of work: a task, a seed and the configurations trained together."""

    task: Task
    seed: int
    config_ids: tuple[str, ...]


@dataclass(frozen=True)
class GenerationSpec:
    name: str
    version: str
    description: str
    seeds: tuple[int, ...]
    config_ids: tuple[str, ...]
    architecture: Architecture
    recipe: Recipe
    backend: str
    configs_per_unit: int
    cap_rule: str
    tasks: tuple[Task, ...]
    text: str  # the spec file as written, kept with the store

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def units(self) -> list[Unit]:
        chunk = self.configs_per_unit
        return [Unit(t, s, self.config_ids[i:i + chunk]) for t in self.tasks for s in self.seeds
                for i in range(0, len(self.config_ids), chunk)]


SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # ids become file and folder names


class SpecError(ValueError):
    """A generation spec is malformed."""


def parse_spec(text: str, where: str = "spec") -> GenerationSpec:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where} is not valid TOML: {exc}") from exc
    suite = raw.get("suite")
    if not isinstance(suite, dict):
        raise SpecError(f"{where} needs a [suite] table")
    missing = {"name", "version", "seeds"} - set(suite)
    if missing:
        raise SpecError(f"{where}: [suite] lacks {sorted(missing)}")
    configs = suite.get("configurations", "all")
    ids = tuple(CONFIG_IDS) if configs == "all" else tuple(get_config(c).id for c in configs)
    arch = suite.get("architecture", {})
    recipe = dict(suite.get("recipe", {"name": "clean"}))
    tasks_raw = raw.get("tasks", [])
    if not tasks_raw:
        raise SpecError(f"{where} names no [[tasks]]")
    tasks = []
    for t in tasks_raw:
        if not {"id", "source"} <= set(t):
            raise SpecError(f"{where}: every [[tasks]] entry needs id and source, got {t}")
        tasks.append(Task(str(t["id"]), str(t.get("name", t["id"])), DataSpec(str(t["source"]), dict(t.get("options", {})))))
    if len({t.id for t in tasks}) != len(tasks):
        raise SpecError(f"{where}: task ids must be unique")
    for t in tasks:
        if not SAFE_ID.fullmatch(t.id):
            raise SpecError(f"{where}: task id {t.id!r} is not a safe file name: use letters, digits, '.', '_' and '-', "
                            "starting with a letter or digit")
    backend = str(suite.get("backend", "native"))
    per_unit = int(suite.get("configs_per_unit", len(ids) if backend == "native" else 1))
    if backend == "qtorch" and per_unit != 1:
        raise SpecError(f"{where}: the qtorch back end trains one configuration per unit (configs_per_unit = 1)")
    cap_rule = str(suite.get("cap_rule", "row-median"))
    if cap_rule not in CAP_RULES:
        raise SpecError(f"{where}: [suite] cap_rule = {cap_rule!r}; choose one of {', '.join(CAP_RULES)}")
    return GenerationSpec(
        name=str(suite["name"]), version=str(suite["version"]), description=str(suite.get("description", "")),
        seeds=tuple(int(s) for s in suite["seeds"]), config_ids=ids,
        architecture=Architecture(tuple(arch.get("blocks", (2, 2, 2, 2))), int(arch.get("width", 64))),
        recipe=get_recipe(recipe.pop("name", "clean"), **recipe), backend=backend, configs_per_unit=per_unit, cap_rule=cap_rule,
        tasks=tuple(tasks), text=text,
    )


def read_spec(path: str | Path) -> GenerationSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist")
    return parse_spec(path.read_text(), str(path))
