"""Generation specs: a TOML file naming tasks × architectures × configurations × seeds and a recipe.

    [suite]
    name = "mini"                 # suite name and version of the suite this makes
    version = "1.0.0"
    description = "..."
    seeds = [0]
    scoring_seeds = [3]           # optional, some of seeds: kept apart as scoring replicates (a method measures
                                  # the mean of the other seeds and is scored against these seeds' mean);
                                  # `scoring_seed = 3` is the same as [3]
    negative_control = "..."      # optional: why this suite does not rank methods (its card and the board say so)
    configurations = "all"        # the paper's 99, "modern", or a list of ids such as ["e5m3-e7m11"], in any order
                                  # (with [configurations.ID] tables and no such key: those configurations)
    architecture = { name = "resnet", blocks = [1, 1], width = 8 }    # or [architectures.ID] tables
    recipe = { name = "clean", epochs = 8, lr = 0.05 }
    backend = "native"            # quantizer back end: native (batched) or qtorch (reference)
    configs_per_unit = 33         # configurations trained together in one network
    cap_rule = "row-median"       # memory cap of settings II/IV/VI: row-median (default) or global-median
    deterministic = true          # torch's deterministic algorithms (default: on for CUDA; recorded)
    fused_quantizer = false       # quantizers as torch.compile kernels (same results; pays on large tensors; recorded)

    [architectures.vgg]           # several architectures: a suite row is (task, architecture)
    name = "vgg"
    channels = [8, 16]

    [[tasks]]
    id = "digits-0-9"
    name = "Digits 0-9"
    source = "digits"
    options = { classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }

    [configurations.fp8w-bf16]    # a modern configuration of your own: a format per tensor role
    note = "FP8 E4M3 weights with delayed scaling, bf16 elsewhere"
    base = "bf16"                 # roles not given are this bundled configuration's (optional)
    weights = { format = "fp8_e4m3", scaling = "delayed" }    # or just a format: activations = "bf16"

`parse_spec` checks every key, type and range and refuses with the key's path; `check_spec` then loads
every task's data and builds every network once on the meta device. Both run before a store exists.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from ..configs import CONFIG_IDS, Configuration
from ..modern import MODERN_IDS, ROLES, ModernConfiguration, TensorFormat, get_modern, resolve_configuration
from ..suites.suite import CAP_RULES
from .architectures import Architecture, ArchitectureError, parse_architecture
from .data import SOURCES, DataError, DataSpec, ImageData, load_data
from .quantize import ROUNDINGS
from .recipes import RECIPES, SCHEDULES, Recipe, get_recipe

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # ids become file and folder names
BACKENDS = ("native", "qtorch")


class SpecError(ValueError):
    """A generation spec is malformed."""


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    data: DataSpec


@dataclass(frozen=True)
class Unit:
    """One piece of work: a task on an architecture with a seed, and the configurations trained together."""

    task: Task
    arch_id: str
    seed: int
    config_ids: tuple[str, ...]


@dataclass(frozen=True)
class GenerationSpec:
    name: str
    version: str
    description: str
    seeds: tuple[int, ...]
    config_ids: tuple[str, ...]
    architectures: tuple[tuple[str, Architecture], ...]  # (id, architecture), in spec order
    multi_architecture: bool  # rows are (task, architecture) rather than tasks
    recipe: Recipe
    backend: str
    configs_per_unit: int
    cap_rule: str
    deterministic: bool | None  # None: on for CUDA devices
    fused_quantizer: bool
    tasks: tuple[Task, ...]
    text: str  # the spec file as written, kept with the store
    base: str = ""  # the spec file's folder: relative factory files are found there
    own_configurations: tuple[ModernConfiguration, ...] = ()  # [configurations.ID] tables
    scoring_seeds: tuple[int, ...] = ()  # the independent replicates methods are scored against (some of seeds)
    negative_control: str | None = None  # why the suite is a negative control, if it is one

    @property
    def measured_seeds(self) -> tuple[int, ...]:
        """The seeds whose mean error is the suite's matrix: every seed but the scoring ones."""
        return tuple(s for s in self.seeds if s not in self.scoring_seeds)

    def configuration(self, config_id: str) -> Configuration | ModernConfiguration:
        """A configuration by id: one the spec defines, else a bundled one."""
        for c in self.own_configurations:
            if c.id == config_id:
                return c
        return resolve_configuration(config_id)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def architecture(self, arch_id: str) -> Architecture:
        return dict(self.architectures)[arch_id]

    def rows(self) -> list[tuple[Task, str]]:
        """The suite's rows: (task, architecture id), tasks outermost."""
        return [(t, a) for t in self.tasks for a, _ in self.architectures]

    def row_id(self, task: Task, arch_id: str) -> str:
        return f"{task.id}--{arch_id}" if self.multi_architecture else task.id

    def units(self) -> list[Unit]:
        chunk = self.configs_per_unit
        return [
            Unit(t, a, s, self.config_ids[i : i + chunk])
            for t, a in self.rows()
            for s in self.seeds
            for i in range(0, len(self.config_ids), chunk)
        ]

    def meaning(self, task: Task, arch_id: str) -> dict[str, Any]:
        """What a cell of this row means: data, network, recipe and quantizer back end (not seed or config)."""
        return {
            "data": {"source": task.data.source, "options": task.data.options},
            "architecture": self.architecture(arch_id).record(),
            "recipe": self.recipe.record(),
            "backend": self.backend,
        }


def meaning_sha256(meaning: dict[str, Any]) -> str:
    """The fingerprint of a row's meaning (GenerationSpec.meaning) that every cell of the row records."""
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()


# -- the schema --------------------------------------------------------------------------------------


def _int(lo: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _number(lo: float, hi: float = float("inf"), open_lo: bool = False) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, (int, float)) and not isinstance(v, bool) and (v > lo if open_lo else v >= lo) and v <= hi
    )


def _string(v: Any) -> bool:
    return isinstance(v, str)


def _safe_id(v: Any) -> bool:
    return isinstance(v, str) and SAFE_ID.fullmatch(v) is not None


SAFE_ID_RULE = "a safe file name: letters, digits, '.', '_' and '-', starting with a letter or digit"
SUITE_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_safe_id, SAFE_ID_RULE),
    "version": (_string, 'a string such as "1.0.0"'),
    "description": (_string, "a string"),
    "seeds": (
        lambda v: isinstance(v, list) and len(v) >= 1 and all(_int(0)(s) for s in v) and len(set(v)) == len(v),
        "a non-empty list of distinct integers ≥ 0",
    ),
    "scoring_seed": (_int(0), "an integer ≥ 0, one of seeds"),
    "scoring_seeds": (
        lambda v: isinstance(v, list) and len(v) >= 1 and all(_int(0)(s) for s in v) and len(set(v)) == len(v),
        "a non-empty list of distinct integers ≥ 0, some of seeds",
    ),
    "negative_control": (lambda v: isinstance(v, str) and v.strip() != "", "a sentence saying why"),
    "configurations": (
        lambda v: (
            v in ("all", "modern") or (isinstance(v, list) and len(v) >= 1 and all(isinstance(c, str) for c in v))
        ),
        '"all" (the paper\'s 99), "modern" (peppp_bench.MODERN_IDS) or a non-empty list of configuration ids',
    ),
    "architecture": (lambda v: isinstance(v, dict), "a table"),
    "recipe": (lambda v: isinstance(v, dict), "a table with name and recipe fields"),
    "backend": (lambda v: v in BACKENDS, " or ".join(BACKENDS)),
    "configs_per_unit": (_int(1), "an integer ≥ 1"),
    "cap_rule": (lambda v: v in CAP_RULES, " or ".join(CAP_RULES)),
    "deterministic": (lambda v: isinstance(v, bool), "true or false"),
    "fused_quantizer": (lambda v: isinstance(v, bool), "true or false"),
}
RECIPE_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (lambda v: v in RECIPES, " or ".join(RECIPES)),
    "epochs": (_int(1), "an integer ≥ 1"),
    "batch_size": (_int(1), "an integer ≥ 1"),
    "lr": (_number(0, open_lo=True), "a number > 0"),
    "momentum": (_number(0, 1), "a number in [0, 1]"),
    "weight_decay": (_number(0), "a number ≥ 0"),
    "loss_scale": (_number(0, open_lo=True), "a number > 0"),
    "shuffle": (lambda v: isinstance(v, bool), "true or false"),
    "augment": (lambda v: isinstance(v, bool), "true or false"),
    "curves": (lambda v: isinstance(v, bool), "true or false"),
    "schedule": (lambda v: v in SCHEDULES, " or ".join(SCHEDULES)),
    "rounding": (lambda v: v in ROUNDINGS, " or ".join(ROUNDINGS)),
    "train_augmentation_at_test_for": (
        lambda v: isinstance(v, list) and all(s in SOURCES for s in v),
        f"a list of sources ({', '.join(SOURCES)})",
    ),
}
TASK_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (_safe_id, SAFE_ID_RULE),
    "name": (_string, "a string"),
    "source": (lambda v: v in SOURCES, ", ".join(SOURCES)),
    "options": (lambda v: isinstance(v, dict), "a table of the source's options"),
}


def _check_table(
    raw: Any, keys: dict[str, tuple[Callable[[Any], bool], str]], where: str, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a table")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed keys: {', '.join(keys)}")
    missing = [k for k in required if k not in raw]
    if missing:
        raise SpecError(f"{where} lacks {missing}")
    for key, value in raw.items():
        ok, rule = keys[key]
        if not ok(value):
            raise SpecError(f"{where}.{key} = {value!r}: expected {rule}")
    return raw


ROLE_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "format": (_string, "a format name"),
    "scaling": (_string, "a scaling name"),
    "block": (_int(1), "an integer ≥ 1"),
    "scale_rounding": (_string, "floor or up"),
    "rounding": (_string, "nearest or stochastic"),
}
CONFIGURATION_KEYS = ("note", "base", *ROLES)


def _own_configurations(tables: Any) -> tuple[ModernConfiguration, ...]:
    """[configurations.ID] tables: a format (a name, or a table of format, scaling, block, scale_rounding,
    rounding) for each tensor role; roles not given come from `base`, a bundled modern configuration."""
    if not isinstance(tables, dict) or not tables:
        raise SpecError("configurations must hold at least one [configurations.ID] table")
    out = []
    for config_id, table in tables.items():
        where = f"configurations.{config_id}"
        if not _safe_id(config_id):
            raise SpecError(f"{where}: the id must be {SAFE_ID_RULE}")
        try:
            resolve_configuration(config_id)
        except KeyError:
            pass
        else:
            raise SpecError(f"{where}: {config_id!r} is a bundled configuration's id; give yours another")
        if not isinstance(table, dict):
            raise SpecError(f"{where} must be a table")
        unknown = sorted(set(table) - set(CONFIGURATION_KEYS))
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(CONFIGURATION_KEYS)}")
        roles: dict[str, TensorFormat] = {}
        if "base" in table:
            try:
                roles.update(get_modern(str(table["base"])).roles)
            except KeyError as exc:
                raise SpecError(f"{where}.base: {exc.args[0]}") from None
        for role in ROLES:
            if role not in table:
                continue
            raw = table[role]
            fields = {"format": raw} if isinstance(raw, str) else _check_table(raw, ROLE_KEYS, f"{where}.{role}")
            try:
                roles[role] = TensorFormat(**fields)
            except (KeyError, ValueError, TypeError) as exc:
                raise SpecError(f"{where}.{role}: {exc.args[0] if exc.args else exc}") from None
        missing = [r for r in ROLES if r not in roles]
        if missing:
            raise SpecError(
                f"{where} gives no format for {missing}: give each role ({', '.join(ROLES)}) or a base configuration"
            )
        note = table.get("note", "")
        if not isinstance(note, str):
            raise SpecError(f"{where}.note must be a string")
        out.append(ModernConfiguration.of(config_id, roles, note or "defined in the spec"))
    return tuple(out)


def _config_ids(value: Any, where: str, own: tuple[ModernConfiguration, ...] = ()) -> tuple[str, ...]:
    if value == "all":
        return tuple(CONFIG_IDS)
    if value == "modern":
        return tuple(MODERN_IDS)
    mine = {c.id: c for c in own}
    try:
        configs = [mine[c] if c in mine else resolve_configuration(c) for c in value]
    except KeyError as exc:
        raise SpecError(f"{where}: {exc.args[0]}") from exc
    if len({type(c) for c in configs}) > 1:
        raise SpecError(f"{where} mixes paper and modern configurations: a suite holds one family")
    ids = tuple(c.id for c in configs)
    duplicated = sorted({c for c in ids if ids.count(c) > 1})
    if duplicated:
        raise SpecError(f"{where} lists {duplicated} more than once")
    return ids


def _architectures(
    suite: dict[str, Any], raw: dict[str, Any], base: str
) -> tuple[tuple[tuple[str, Architecture], ...], bool]:
    tables = raw.get("architectures")
    if tables is not None and "architecture" in suite:
        raise SpecError("give either [suite] architecture (one network) or [architectures.ID] tables, not both")
    try:
        if tables is None:
            arch = parse_architecture(_resolve_factory(suite.get("architecture", {}), base), "suite.architecture")
            return ((arch.name, arch),), False
        if not isinstance(tables, dict) or not tables:
            raise SpecError("architectures must hold at least one [architectures.ID] table")
        out = []
        for arch_id, table in tables.items():
            if not _safe_id(arch_id) or "--" in arch_id:
                raise SpecError(f"architectures.{arch_id}: the id must be {SAFE_ID_RULE}, without '--'")
            out.append((arch_id, parse_architecture(_resolve_factory(table, base), f"architectures.{arch_id}")))
        return tuple(out), True
    except ArchitectureError as exc:
        raise SpecError(str(exc)) from exc


def _resolve_factory(table: Any, base: str) -> Any:
    """A factory file named relative to the spec's folder is found there (else relative to the working folder),
    and named by its full path either way, so that the spec means the same from whatever folder it is run."""
    if not (isinstance(table, dict) and isinstance(table.get("factory"), str) and base):
        return table
    where, sep, attr = table["factory"].rpartition(":")
    if where.endswith(".py") and not Path(where).is_absolute():
        found = Path(base) / where if (Path(base) / where).is_file() else Path(where)
        return {**table, "factory": f"{found.resolve()}{sep}{attr}"}
    return table


def parse_spec(text: str, where: str = "spec", base: str = "") -> GenerationSpec:
    """Parse and check a spec's text (every key, type and range); `base` is the spec file's folder."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where} is not valid TOML: {exc}") from exc
    unknown = sorted(set(raw) - {"suite", "tasks", "architectures", "configurations"})
    if unknown:
        raise SpecError(
            f"{where}: unknown top-level key(s) {unknown}; allowed: suite, architectures, configurations, tasks"
        )
    if "suite" not in raw:
        raise SpecError(f"{where} needs a [suite] table")
    try:
        suite = _check_table(raw["suite"], SUITE_KEYS, "suite", ("name", "version", "seeds"))
        recipe_raw = dict(_check_table(suite.get("recipe", {"name": "clean"}), RECIPE_KEYS, "suite.recipe"))
        if "train_augmentation_at_test_for" in recipe_raw:
            recipe_raw["train_augmentation_at_test_for"] = tuple(recipe_raw["train_augmentation_at_test_for"])
        tasks_raw = raw.get("tasks", [])
        if not isinstance(tasks_raw, list) or not tasks_raw:
            raise SpecError("the spec names no [[tasks]]")
        tasks = []
        for i, t in enumerate(tasks_raw):
            t = _check_table(t, TASK_KEYS, f"tasks[{i}]", ("id", "source"))
            tasks.append(Task(t["id"], t.get("name", t["id"]), DataSpec(t["source"], dict(t.get("options", {})))))
        ids = [t.id for t in tasks]
        if len(set(ids)) != len(ids):
            raise SpecError(f"tasks: ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
        own = _own_configurations(raw["configurations"]) if "configurations" in raw else ()
        default = [c.id for c in own] if own else "all"
        config_ids = _config_ids(suite.get("configurations", default), "suite.configurations", own)
        unused = sorted({c.id for c in own} - set(config_ids))
        if unused:
            raise SpecError(f"suite.configurations leaves out {unused}, defined in [configurations]: list them")
        scoring_seeds = _scoring_seeds(suite)
        architectures, multi = _architectures(suite, raw, base)
        backend = suite.get("backend", "native")
        per_unit = suite.get("configs_per_unit", len(config_ids) if backend == "native" else 1)
        if backend == "qtorch" and per_unit != 1:
            raise SpecError(
                "suite.configs_per_unit: the qtorch back end trains one configuration per unit (set it to 1)"
            )
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    return GenerationSpec(
        name=suite["name"],
        version=suite["version"],
        description=suite.get("description", ""),
        seeds=tuple(suite["seeds"]),
        config_ids=config_ids,
        architectures=architectures,
        multi_architecture=multi,
        recipe=get_recipe(recipe_raw.pop("name", "clean"), **recipe_raw),
        backend=backend,
        configs_per_unit=per_unit,
        cap_rule=suite.get("cap_rule", "row-median"),
        deterministic=suite.get("deterministic"),
        fused_quantizer=suite.get("fused_quantizer", False),
        tasks=tuple(tasks),
        text=text,
        base=base,
        own_configurations=own,
        scoring_seeds=scoring_seeds,
        negative_control=suite.get("negative_control"),
    )


def _scoring_seeds(suite: dict[str, Any]) -> tuple[int, ...]:
    """The [suite] table's scoring seeds (`scoring_seeds`, or one `scoring_seed`): some of its seeds, leaving at
    least two to measure."""
    if "scoring_seed" in suite and "scoring_seeds" in suite:
        raise SpecError("suite: give scoring_seeds or scoring_seed, not both")
    key = "scoring_seeds" if "scoring_seeds" in suite else "scoring_seed"
    given = suite.get(key)
    if given is None:
        return ()
    scoring = tuple(given) if isinstance(given, list) else (given,)
    if not set(scoring) <= set(suite["seeds"]) or len(suite["seeds"]) - len(scoring) < 2:
        raise SpecError(
            f"suite.{key} = {given}: it must be among seeds, and at least two other seeds must remain to measure "
            "(e.g. seeds = [0, 1, 2, 3, 4, 5], scoring_seeds = [3, 4, 5])"
        )
    return scoring


def read_spec(path: str | Path) -> GenerationSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist")
    return parse_spec(path.read_text(), str(path), str(path.resolve().parent))


def check_spec(spec: GenerationSpec) -> dict[str, tuple[int, tuple[int, int, int]]]:
    """Load every task's data and run every network on it once on the meta device; return each task's
    (classes, image shape). Warns of floating-point operations a factory's network leaves unquantized, and
    trains a factory's network one epoch of one batch in a unit of one configuration of each family (`families`),
    so that what fails in training (an in-place operation on a site's output, say) fails here, before the run."""
    shapes = {}
    first: ImageData | None = None  # the first task's data: a factory's network trains one batch of it
    for i, task in enumerate(spec.tasks):
        try:
            data = load_data(task.data, name=task.id)
        except (DataError, TypeError, ValueError, OSError) as exc:
            raise SpecError(f"tasks[{i}] ({task.id}): {exc}") from exc
        if data.x_train.shape[0] < spec.recipe.batch_size:
            raise SpecError(
                f"tasks[{i}] ({task.id}): {data.x_train.shape[0]} training images are fewer than one "
                f"batch of {spec.recipe.batch_size} (suite.recipe.batch_size)"
            )
        shapes[task.id] = (data.classes, data.shape)
        first = first or data
        for arch_id, arch in spec.architectures:
            try:
                arch.counts(data.classes, data.shape)
            except ArchitectureError as exc:
                raise SpecError(f"architecture {arch_id} on task {task.id}: {exc}") from exc
    for arch_id, arch in spec.architectures:
        if arch.kind == "factory":
            classes, shape = next(iter(shapes.values()))
            left = arch.unquantized(classes, shape)
            if left:
                from .sites import FUNCTION_SITES  # torch: only where a factory's network is checked

                declarable = {n: c for n, c in left.items() if n in FUNCTION_SITES}
                other = {n: c for n, c in left.items() if n not in FUNCTION_SITES}
                advice = [f"declare {sorted(declarable)} in quantize.functions"] if declarable else []
                if other:
                    advice.append(
                        f"{sorted(other)} cannot be declared as functions (quantize.functions knows "
                        f"{', '.join(sorted(FUNCTION_SITES))}): compute them with a module that quantize.modules "
                        "names, or with a declarable operation"
                    )
                warnings.warn(
                    f"architecture {arch_id}: these floating-point operations are left unquantized "
                    f"(name: calls per forward pass): {left}; if they should be, " + "; ".join(advice),
                    stacklevel=2,
                )
            assert first is not None  # a spec has at least one task
            _train_one_batch(spec, arch_id, arch, first)
    return shapes


def families(config_ids: tuple[str, ...]) -> list[str]:
    """One configuration of each family, in order: the paper's formats are one family; a modern configuration's
    family is the scalings and roundings its compute roles use (none, current, delayed, MX, NVFP4)."""
    first: dict[Any, str] = {}
    for cid in config_ids:
        c = resolve_configuration(cid)
        key: Any = "paper"
        if isinstance(c, ModernConfiguration):
            key = tuple(
                sorted({(c[r].scaling, c[r].rounding) for r in ("weights", "activations", "errors", "gradients")})
            )
        first.setdefault(key, cid)
    return list(first.values())


def _train_one_batch(spec: GenerationSpec, arch_id: str, arch: Architecture, data: ImageData) -> None:
    """Train `arch` for one batch of `data` in a unit of one of each family's configurations."""
    import dataclasses

    from .train import train_cells

    n = spec.recipe.batch_size
    one_batch = dataclasses.replace(
        data, x_train=data.x_train[:n], y_train=data.y_train[:n], x_test=data.x_test[:n], y_test=data.y_test[:n]
    )
    recipe = spec.recipe.with_overrides(epochs=1, curves=False)
    for cid in families(spec.config_ids):
        try:
            train_cells(one_batch, [cid], arch, recipe, seed=0, backend=spec.backend)
        except Exception as exc:  # a user's network: whatever it raises is reported, before anything is written
            raise SpecError(
                f"architecture {arch_id}: one batch in configuration {cid} fails to train ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); change the network's forward (an in-place "
                "operation on a quantized site's output, such as `y += x`, can be written `y = y + x`)"
            ) from None
