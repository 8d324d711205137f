"""Suite folders: Parquet tables, metadata, a sha256 manifest and a dataset card; the Benchmark object.

A suite folder holds:
    configurations.parquet  the configurations, one row per column of the matrices (any subset of the 99, in any order)
    datasets.parquet        one row per dataset (DATASET_COLUMNS)
    cells.parquet           long form: dataset_id, config_id, error, memory_mb
    replicates.parquet      optional: cells re-trained with other seeds (REPLICATE_COLUMNS); in a suite with
                            scoring seeds, every seed of every cell
    metadata.json           name, version, shape, normalizers, cap rule, seeds, structure and noise, provenance
    manifest.json           sha256 of every file above and of the card
    README.md               the Hugging Face dataset card

A suite with scoring seeds (metadata "seeds": {"measured": [...], "scoring": [...]}; a suite of 2.0 names
one scoring seed as a number) keeps independent re-trainings apart: cells.parquet is the mean of the measured
seeds, what a method measures, and a method's frontier is scored against the mean of the scoring seeds' errors
(`Benchmark.truth`), so measuring exactly is not scoring perfectly and the oracle's score is a real noise floor.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..configs import CONFIG_IDS, configurations_table
from ..files import umask
from .card import CELL_COLUMNS, DATASET_COLUMNS, REPLICATE_COLUMNS, ROW_KEY_COLUMNS, dataset_card
from .structure import (
    architecture_report,
    frontier_grouping,
    missed_criteria,
    noise_report,
    seed_report,
    structure_report,
)

SUITE_FORMAT = 2  # 2: data_sha256 also covers the configuration table, normalizers and cap rule
DATA_FILES = ("configurations.parquet", "datasets.parquet", "cells.parquet", "metadata.json", "README.md")
OPTIONAL_FILES = ("replicates.parquet",)
# Hold-out: one task at a time (meta-LOOCV, "loo"), or tasks in groups ("groups": task k in group k mod G, tasks
# in order of first row), with G the fewest groups that leave every fold at least MIN_META_TRAINING_SHARE of the
# tasks to meta-train on. "auto", the standard protocol's, groups only suites of more than GROUPED_ABOVE tasks
# (one completion per group, not per task, keeps them affordable).
HOLDOUT_RULES = ("auto", "loo", "groups")
GROUPED_ABOVE = 200
MIN_META_TRAINING_SHARE = 0.95

# How the memory cap of settings II/IV/VI is set on a held-out dataset (part of the protocol version):
# the paper's median of the whole memory matrix, or the median of that dataset's own memory row (for
# suites whose rows differ in memory, such as inputs of several resolutions, where a global cap would
# leave some datasets with no configuration at all).
CAP_RULES = ("global-median", "row-median")


class SuiteError(RuntimeError):
    """A suite folder is missing, corrupt or does not match its manifest."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


SCORED_NORMALIZERS = ("max_memory_mb", "memory_cap_mb", "cap_rule")  # the normalizers a score depends on


def content_sha256(
    error: np.ndarray,
    memory: np.ndarray,
    dataset_ids: list[str],
    configurations: pd.DataFrame,
    normalizers: dict[str, Any],
    datasets: pd.DataFrame | None = None,
    truth: np.ndarray | None = None,
) -> str:
    """A fingerprint of everything that changes a score, independent of file encoding: what results cite.

    Covers the dataset ids, the configuration table, the error and memory matrices, the normalizers
    and cap rule of the metrics, the rows' tasks and architectures where a suite has several, and the
    scoring seeds' mean errors where a suite has them (`truth`)."""
    h = hashlib.sha256()
    if datasets is not None and set(ROW_KEY_COLUMNS) <= set(datasets.columns):
        h.update(
            json.dumps({c: [str(v) for v in datasets[c]] for c in ROW_KEY_COLUMNS}, sort_keys=True).encode() + b"\0"
        )
    table = configurations.reset_index(drop=True).astype(str).to_dict(orient="list")
    scored = {k: normalizers.get(k, "global-median" if k == "cap_rule" else None) for k in SCORED_NORMALIZERS}
    h.update("\n".join(dataset_ids).encode() + b"\0" + json.dumps(table, sort_keys=True).encode() + b"\0")
    h.update(json.dumps(scored, sort_keys=True).encode() + b"\0")
    h.update(np.ascontiguousarray(error, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(memory, dtype="<f8").tobytes())
    if truth is not None:
        h.update(b"\0truth\0" + np.ascontiguousarray(truth, dtype="<f8").tobytes())
    return h.hexdigest()


class Benchmark:
    """One suite: error and memory as datasets × configurations DataFrames, its tables and metadata.

    Read-only: every table and the metadata are handed out as copies, so writing to one never changes
    the suite, its `E`/`M` or its fingerprint."""

    def __init__(
        self,
        name: str,
        error: pd.DataFrame,
        memory: pd.DataFrame,
        datasets: pd.DataFrame,
        configurations: pd.DataFrame,
        metadata: dict[str, Any],
        replicates: pd.DataFrame | None = None,
        folder: Path | None = None,
        truth: np.ndarray | None = None,
    ) -> None:
        """`truth`: the scoring seeds' mean errors, required when `metadata` names scoring seeds (the reader
        checked it against the replicates); otherwise frontiers are scored against `error` itself."""
        self._name, self._folder = name, folder  # folder: where it was read from (method sandboxes may not read it)
        self._error, self._memory = error.copy(), memory.copy()
        self._datasets, self._configurations = datasets.copy(), configurations.copy()
        self._replicates = None if replicates is None else replicates.copy()  # REPLICATE_COLUMNS, other seeds' cells
        self._metadata = copy.deepcopy(metadata)
        self._E, self._M = _readonly(self._error), _readonly(self._memory)
        if ("seeds" in self._metadata) != (truth is not None):
            raise ValueError("a suite's scoring truth is given exactly when its metadata names scoring seeds")
        if truth is not None and truth.shape != self._E.shape:
            raise ValueError(f"truth has shape {truth.shape}, the error matrix {self._E.shape}")
        self._truth = self._E if truth is None else np.array(truth, dtype=float)
        self._truth.flags.writeable = False
        self._task_number = self._task_numbers()
        self._hold_out("auto")

    def _hold_out(self, rule: str) -> None:
        if rule not in HOLDOUT_RULES:
            raise ValueError(f"hold-out {rule!r}: use one of {', '.join(HOLDOUT_RULES)}")
        tasks = int(self._task_number.max(initial=-1)) + 1
        grouped = rule == "groups" or (rule == "auto" and tasks > GROUPED_ABOVE)
        groups = holdout_groups_for(tasks) if grouped else tasks
        self._holdout_rule = rule
        self._holdout_groups = groups if groups < tasks else None  # groups of one task each: meta-LOOCV
        self._holdout_keys = self._task_number % groups

    def with_holdout(self, rule: str) -> Benchmark:
        """The same suite with hold-out `rule` (one of HOLDOUT_RULES); the data and fingerprint are unchanged."""
        other = copy.copy(self)
        other._hold_out(rule)
        return other

    @property
    def holdout(self) -> str:
        """The hold-out rule folds follow: one of HOLDOUT_RULES ("auto" unless `with_holdout` chose another)."""
        return self._holdout_rule

    @property
    def name(self) -> str:
        return self._name

    @property
    def folder(self) -> Path | None:
        return self._folder

    @property
    def error(self) -> pd.DataFrame:
        """Test error, datasets × configurations (a copy)."""
        return self._error.copy()

    @property
    def memory(self) -> pd.DataFrame:
        """Training memory in MB, datasets × configurations (a copy)."""
        return self._memory.copy()

    @property
    def datasets(self) -> pd.DataFrame:
        return self._datasets.copy()

    @property
    def configurations(self) -> pd.DataFrame:
        return self._configurations.copy()

    @property
    def replicates(self) -> pd.DataFrame | None:
        """Cells re-trained with other seeds (REPLICATE_COLUMNS), or None (a copy)."""
        return None if self._replicates is None else self._replicates.copy()

    @property
    def metadata(self) -> dict[str, Any]:
        return copy.deepcopy(self._metadata)

    @property
    def E(self) -> np.ndarray:
        """Error matrix as a read-only numpy array (rows = datasets, columns = configurations)."""
        return self._E

    @property
    def M(self) -> np.ndarray:
        """Memory matrix in MB as a read-only numpy array."""
        return self._M

    @property
    def truth(self) -> np.ndarray:
        """The errors a method's frontier is scored against (read-only): the scoring seeds' mean, in a suite
        that has them; otherwise `E`, what a method measures."""
        return self._truth

    @property
    def scoring_seeds(self) -> tuple[int, ...]:
        """The independent re-trainings methods are scored against (their mean), or () (scored against `E`)."""
        return scoring_seeds_of(self._metadata["seeds"]) if "seeds" in self._metadata else ()

    @property
    def dataset_ids(self) -> list[str]:
        return list(self._error.index)

    @property
    def max_memory(self) -> float:
        """Memory normalizer of the metrics (spec §6)."""
        return float(self._metadata["normalizers"]["max_memory_mb"])

    @property
    def memory_cap(self) -> float:
        """The median of the memory matrix (spec §3): the cap of settings II, IV, VI under `global-median`."""
        return float(self._metadata["normalizers"]["memory_cap_mb"])

    @property
    def cap_rule(self) -> str:
        """How the cap of settings II, IV, VI is set: one of CAP_RULES."""
        return str(self._metadata["normalizers"].get("cap_rule", "global-median"))

    @property
    def multi_architecture(self) -> bool:
        """Whether a row is (task, architecture): the datasets table has task and architecture columns."""
        return set(ROW_KEY_COLUMNS) <= set(self._datasets.columns)

    @property
    def holdout_groups(self) -> int | None:
        """How many groups of tasks are held out together (see HOLDOUT_RULES), or None for meta-LOOCV, one task
        at a time."""
        return self._holdout_groups

    def holdout_key(self, row: int) -> int:
        """Rows with the same key are held out together: the row's task, or its task's group."""
        return int(self._holdout_keys[row])

    def _task_numbers(self) -> np.ndarray:
        """Each row's task as a number, tasks in order of their first row (in a one-architecture suite a row
        is a task)."""
        if not self.multi_architecture:
            return np.arange(self._error.shape[0])
        _, first, numbers = np.unique(self._datasets["task"].to_numpy(), return_index=True, return_inverse=True)
        return np.argsort(np.argsort(first))[numbers]

    def meta_training_rows(self, row: int, architectures: str = "same") -> np.ndarray:
        """The rows that meta-train when `row` is held out: every row not held out with it (`holdout_key`);
        in a multi-architecture suite, of those, the rows on the same architecture ('same') or on every
        other architecture ('other'). Never a row of the held-out task."""
        if not self.multi_architecture and architectures != "same":
            raise ValueError(
                f"suite {self.name} has one architecture: cross-architecture settings need a suite "
                "whose datasets table has task and architecture columns (e.g. mini-arch)"
            )
        keys = self._holdout_keys
        kept = keys != keys[row]
        if not self.multi_architecture:
            return np.flatnonzero(kept)
        arch = self._datasets["architecture"].to_numpy()
        same = arch == arch[row]
        return np.flatnonzero(kept & (same if architectures == "same" else ~same))

    def cap_of(self, row: int) -> float:
        """The memory cap of settings II, IV, VI when dataset `row` is held out."""
        if self.cap_rule == "row-median":
            return float(np.median(self._M[row]))
        return self.memory_cap

    @property
    def data_sha256(self) -> str:
        """Fingerprint of the data (content_sha256), recorded with every result."""
        return str(self._metadata["data_sha256"])

    @property
    def version(self) -> str:
        return str(self._metadata["version"])

    def __repr__(self) -> str:
        rows, columns = self._error.shape
        return f"Benchmark({self.name!r} v{self.version}, {rows} datasets × {columns} configurations)"


def _readonly(df: pd.DataFrame) -> np.ndarray:
    arr = df.to_numpy(dtype=float, copy=True)
    arr.flags.writeable = False
    return arr


def normalizers(memory: np.ndarray, cap_rule: str = "global-median") -> dict[str, Any]:
    """The published normalizers of spec §6 and the cap of spec §3, computed from the memory matrix."""
    if cap_rule not in CAP_RULES:
        raise ValueError(f"unknown cap rule {cap_rule!r}: choose one of {', '.join(CAP_RULES)}")
    return {
        "max_memory_mb": float(memory.max()),
        "memory_cap_mb": float(np.median(memory)),
        "cap_rule": cap_rule,
        "reference_point": {"memory": 1.0, "error": "max(1, largest predicted error on the estimated frontier)"},
    }


def write_suite(
    out: Path,
    *,
    name: str,
    version: str,
    error: np.ndarray,
    memory: np.ndarray,
    datasets: pd.DataFrame,
    description: str,
    provenance: dict[str, Any],
    cap_rule: str = "global-median",
    replicates: pd.DataFrame | None = None,
    configurations: pd.DataFrame | None = None,
    seeds: dict[str, Any] | None = None,
    negative_control: str | None = None,
    expect_sha256: str | None = None,
) -> Path:
    """Write a suite folder atomically (to a temporary sibling, then renamed) and return its path.

    `configurations` is the table of the matrices' columns (default: the 99, in spec order); its
    `config_id` column keys every cell. `seeds` ({"measured": [...], "scoring": [...]}) makes a suite of several
    seeds per cell: `error` is the measured seeds' mean, `replicates` hold every seed of every cell, and frontiers
    are scored against the scoring seeds' mean (against `error` where "scoring" is empty).
    `negative_control` (why) labels a suite that does not meet the structure criteria of one that ranks methods:
    its card and the board say so. A suite whose every cell has several seeds is measured against the criteria
    (`structure.missed_criteria`) and labelled where it misses them. `expect_sha256`: the data fingerprint the
    suite must keep; refused before anything is written where it would differ."""
    configurations = configurations_table() if configurations is None else configurations.reset_index(drop=True)
    config_ids = list(configurations["config_id"])
    n, d = error.shape
    if memory.shape != (n, d) or d != len(config_ids) or len(datasets) != n:
        raise ValueError(
            f"shapes disagree: error {error.shape}, memory {memory.shape}, {len(datasets)} datasets, "
            f"{len(config_ids)} configurations"
        )
    if len(set(config_ids)) != d:
        raise ValueError("configuration ids must be unique")
    if not np.isfinite(error).all() or not np.isfinite(memory).all():
        raise ValueError("error and memory must be finite everywhere")
    missing = set(DATASET_COLUMNS) - set(datasets.columns)
    if missing:
        raise ValueError(f"datasets table lacks columns {sorted(missing)}")
    ids = list(datasets["dataset_id"])
    if seeds is not None and replicates is None:
        raise ValueError("a suite with scoring seeds needs every seed's cells as its replicates")
    cube = None if replicates is None else replicate_cube(replicates, ids, config_ids, every_seed=seeds is not None)
    truth = None
    if seeds is not None:
        assert cube is not None
        seeds = {"measured": [int(x) for x in seeds["measured"]], "scoring": list(scoring_seeds_of(seeds))}
        truth = scoring_matrix(cube, error, seeds["measured"], seeds["scoring"])
    normal = normalizers(memory, cap_rule)
    fingerprint = content_sha256(error, memory, ids, configurations, normal, datasets, truth)
    if expect_sha256 is not None and fingerprint != expect_sha256:
        raise SuiteError(f"writing suite {name!r} would change its data fingerprint; nothing was written")
    out = Path(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    os.chmod(tmp, 0o777 & ~umask())  # the folder becomes the suite: normal permissions, not mkdtemp's 0700
    configurations.to_parquet(tmp / "configurations.parquet", index=False)
    keys = [c for c in ROW_KEY_COLUMNS if c in datasets.columns]
    datasets[list(DATASET_COLUMNS) + keys].reset_index(drop=True).to_parquet(tmp / "datasets.parquet", index=False)
    cells = pd.DataFrame(
        {
            "dataset_id": np.repeat(ids, d),
            "config_id": np.tile(config_ids, n),
            "error": error.ravel(),
            "memory_mb": memory.ravel(),
        }
    )
    cells.to_parquet(tmp / "cells.parquet", index=False)
    files = list(DATA_FILES)
    if replicates is not None:
        replicates[list(REPLICATE_COLUMNS)].sort_values(["dataset_id", "config_id", "seed"]).reset_index(
            drop=True
        ).to_parquet(tmp / "replicates.parquet", index=False)
        files.append("replicates.parquet")
    grouping = frontier_grouping(configurations)
    of_rows = None
    if seeds is not None:
        assert cube is not None and truth is not None
        every = sorted({*seeds["measured"], *seeds["scoring"]})
        scoring = [every.index(seed) for seed in seeds["scoring"]]
        noise = seed_report(cube, error, truth, memory, normal["max_memory_mb"], scoring=scoring, seed_ids=every)

        def of_rows(rows: np.ndarray) -> dict[str, Any]:  # one network's rows against their own seed noise
            return seed_report(
                cube[:, rows],
                error[rows],
                truth[rows],
                memory[rows],
                normal["max_memory_mb"],
                scoring=scoring,
                seed_ids=every,
            )
    else:
        noise = noise_report(error, memory, cube, normal["max_memory_mb"])
    structure = {
        **structure_report(error, memory, grouping),
        **noise,
        **(
            architecture_report(error, memory, datasets["task"], datasets["architecture"], grouping, of_rows)
            if len(keys) == len(ROW_KEY_COLUMNS)
            else {}
        ),
    }
    missed = missed_criteria(structure)
    if missed and not negative_control:  # measured from the suite's own replicates, and missed: labelled so
        negative_control = f"It misses the structure criteria of a suite that ranks methods: {'; '.join(missed)}."
    metadata = {
        "name": name,
        "version": version,
        "suite_format": SUITE_FORMAT,
        "description": description,
        "n_datasets": n,
        "n_configurations": d,
        "normalizers": normal,
        **({} if seeds is None else {"seeds": seeds}),
        **({"negative_control": negative_control} if negative_control else {}),
        "data_sha256": fingerprint,
        "structure": structure,
        "provenance": provenance,
    }
    (tmp / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (tmp / "README.md").write_text(dataset_card(metadata, datasets, files, configurations))
    manifest = {f: sha256_file(tmp / f) for f in files}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if out.exists():  # a suite folder holding only a suite's files (checked above): swapped, then removed
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    return out


def check_replaceable(out: Path) -> None:
    """Refuse to write a suite over anything but a suite folder that holds nothing else (no data is lost)."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise SuiteError(
            f"{out} exists and is not a suite folder: refusing to replace it; choose another output folder"
        )
    ours = set(DATA_FILES) | set(OPTIONAL_FILES) | {"manifest.json"}
    present = {p.name for p in out.iterdir()}
    if not (out / "metadata.json").is_file() or not (out / "manifest.json").is_file() or present - ours:
        others = sorted(present - ours)[:5]
        raise SuiteError(
            f"{out} exists and is not a suite folder"
            + (f" (it holds {', '.join(others)})" if others else "")
            + ": refusing to replace it; choose another output folder"
        )


def holdout_groups_for(tasks: int) -> int:
    """The fewest groups (task k in group k mod G) whose largest leaves MIN_META_TRAINING_SHARE of the tasks."""
    largest = max(1, int(tasks * (1 - MIN_META_TRAINING_SHARE) + 1e-9))
    return -(-tasks // largest)


def replicate_cube(
    replicates: pd.DataFrame, dataset_ids: list[str], config_ids: Sequence[str] = CONFIG_IDS, every_seed: bool = False
) -> np.ndarray:
    """The replicates as an array seeds × datasets × configurations (seeds in increasing order), NaN where a
    cell has no replicate. Seed 0 is the matrix itself unless `every_seed` (a suite whose metadata names its
    seeds)."""
    missing = set(REPLICATE_COLUMNS) - set(replicates.columns)
    if missing:
        raise ValueError(f"replicates lack columns {sorted(missing)}")
    unknown = (set(replicates.dataset_id) - set(dataset_ids)) | (set(replicates.config_id) - set(config_ids))
    if unknown:
        raise ValueError(f"replicates name datasets or configurations the suite does not have: {sorted(unknown)[:5]}")
    if not every_seed and (replicates.seed == 0).any():
        raise ValueError("replicates must have seeds other than 0 (seed 0 is the matrix in cells.parquet)")
    if replicates.duplicated(["dataset_id", "config_id", "seed"]).any():
        raise ValueError("replicates must hold each (dataset, configuration, seed) once")
    errors = replicates.error.to_numpy(dtype=float)
    if not (np.isfinite(errors) & (errors >= 0) & (errors <= 1)).all():
        raise ValueError("replicate errors must be finite and in [0, 1]")
    seeds = sorted(set(int(x) for x in replicates.seed))
    cube = np.full((len(seeds), len(dataset_ids), len(config_ids)), np.nan)
    row, col = {d: i for i, d in enumerate(dataset_ids)}, {c: j for j, c in enumerate(config_ids)}
    for r in replicates.itertuples(index=False):
        cube[seeds.index(int(r.seed)), row[r.dataset_id], col[r.config_id]] = r.error
    return cube


def scoring_seeds_of(seeds: dict[str, Any]) -> tuple[int, ...]:
    """The scoring seeds a suite's metadata `seeds` names: a list, or (suites of 2.0) one number."""
    scoring = seeds["scoring"]
    return (int(scoring),) if isinstance(scoring, int) else tuple(int(s) for s in scoring)


def scoring_matrix(cube: np.ndarray, error: np.ndarray, measured: Sequence[int], scoring: Sequence[int]) -> np.ndarray:
    """The scoring seeds' mean errors, datasets × configurations, from `cube` (every seed of every cell, seeds in
    increasing order), or `error` itself where no seed is kept apart for scoring; raises ValueError unless every
    cell has every seed and `error` is the measured seeds' mean."""
    seeds = sorted({*measured, *scoring})
    if set(scoring) & set(measured) or len(measured) < 2:
        raise ValueError(
            f"seeds: scoring seeds {list(scoring)} must be none of the measured ones, and at least 2 seeds measured"
        )
    if cube.shape[0] != len(seeds) or np.isnan(cube).any():
        raise ValueError(f"replicates must hold seeds {seeds} for every cell")
    mean = cube[[seeds.index(s) for s in measured]].mean(axis=0)
    if not np.allclose(mean, error, rtol=0, atol=1e-12):
        raise ValueError(f"the matrix is not the mean of the measured seeds {list(measured)}")
    if not scoring:  # every seed measured: frontiers are scored against the matrix itself
        return np.array(error, dtype=float)
    return np.array(cube[[seeds.index(s) for s in scoring]].mean(axis=0))


def verify_suite(folder: Path) -> list[str]:
    """Names of the files in a suite folder that are missing or differ from its manifest."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return ["manifest.json"]
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return ["manifest.json"]
    bad = [f for f in DATA_FILES if f not in manifest]
    bad += [f for f in OPTIONAL_FILES if (folder / f).exists() and f not in manifest]
    for f, digest in manifest.items():
        p = folder / f
        if not p.is_file() or sha256_file(p) != digest:
            bad.append(f)
    return bad


def read_suite(folder: Path) -> Benchmark:
    """Read and verify a suite folder; any file that does not match the manifest is an error."""
    folder = Path(folder)
    if not (folder / "metadata.json").is_file():
        raise SuiteError(f"{folder} is not a suite folder (no metadata.json)")
    bad = verify_suite(folder)
    if bad:
        raise SuiteError(
            f"suite folder {folder} is corrupt: {', '.join(bad)} missing or not matching manifest.json; "
            "rebuild it, or delete it and load again to re-download"
        )
    try:
        return _read_verified(folder)
    except SuiteError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file that matches its manifest can still be malformed
        where = getattr(exc, "suite_file", None) or "a suite file"
        raise SuiteError(
            f"{folder}: {where} is malformed ({type(exc).__name__}: {exc}); rebuild the suite, or delete it "
            "and load again to re-download"
        ) from None


def _file(folder: Path, name: str, read: Any) -> Any:
    """`read(folder / name)`, with the file's name attached to whatever it raises."""
    try:
        return read(folder / name)
    except Exception as exc:
        exc.suite_file = name  # type: ignore[attr-defined]
        raise


def _read_verified(folder: Path) -> Benchmark:
    """Read a suite folder whose files match its manifest; every inconsistency is a SuiteError."""
    metadata = _file(folder, "metadata.json", lambda p: json.loads(p.read_text()))
    if not isinstance(metadata, dict) or metadata.get("suite_format") != SUITE_FORMAT:
        found = metadata.get("suite_format") if isinstance(metadata, dict) else None
        raise SuiteError(
            f"{folder}: metadata.json has suite format {found}, this package reads {SUITE_FORMAT}: upgrade "
            "peppp-bench, or rebuild the suite"
        )
    missing = {"name", "version", "normalizers", "data_sha256", "provenance"} - set(metadata)
    if missing or not {"max_memory_mb", "memory_cap_mb"} <= set(metadata["normalizers"]):
        raise SuiteError(f"{folder}: metadata.json lacks {sorted(missing) or 'normalizers'}: rebuild the suite")
    datasets = _file(folder, "datasets.parquet", pd.read_parquet)
    configurations = _file(folder, "configurations.parquet", pd.read_parquet)
    cells = _file(folder, "cells.parquet", pd.read_parquet)
    for name, table, columns in (
        ("datasets.parquet", datasets, DATASET_COLUMNS),
        ("cells.parquet", cells, CELL_COLUMNS),
        ("configurations.parquet", configurations, {"config_id": ""}),
    ):
        if set(columns) - set(table.columns):
            raise SuiteError(
                f"{folder}: {name} lacks columns {sorted(set(columns) - set(table.columns))}: rebuild the suite"
            )
    ids, config_ids = list(datasets["dataset_id"]), [str(c) for c in configurations["config_id"]]
    n, d = len(ids), len(config_ids)
    if len(set(config_ids)) != d or len(set(ids)) != n:
        raise SuiteError(f"{folder}: configuration or dataset ids repeat: rebuild the suite")
    if len(cells) != n * d or list(cells["config_id"]) != config_ids * n:
        raise SuiteError(
            f"{folder}: cells.parquet holds {len(cells)} rows, expected {n} × {d} in configurations.parquet order"
        )
    error = pd.DataFrame(
        cells["error"].to_numpy().reshape(n, d),
        index=pd.Index(ids, name="dataset_id"),
        columns=pd.Index(config_ids, name="config_id"),
    )
    memory = pd.DataFrame(cells["memory_mb"].to_numpy().reshape(n, d), index=error.index, columns=error.columns)
    if list(cells["dataset_id"].iloc[::d]) != ids:
        raise SuiteError(f"{folder}: cells.parquet rows are not in datasets.parquet order")
    if metadata["normalizers"].get("cap_rule", "global-median") not in CAP_RULES:
        raise SuiteError(
            f"{folder}: metadata.json names cap rule {metadata['normalizers']['cap_rule']!r}; "
            f"this package knows {', '.join(CAP_RULES)}: upgrade peppp-bench"
        )
    replicates = None
    if (folder / "replicates.parquet").is_file():
        replicates = _file(folder, "replicates.parquet", pd.read_parquet)
    truth = None
    try:
        every_seed = "seeds" in metadata
        cube = None if replicates is None else replicate_cube(replicates, ids, config_ids, every_seed=every_seed)
        if every_seed:
            if cube is None:
                raise ValueError("metadata.json names scoring seeds, but there is no replicates.parquet")
            truth = scoring_matrix(
                cube, error.to_numpy(), metadata["seeds"]["measured"], scoring_seeds_of(metadata["seeds"])
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise SuiteError(f"{folder}: replicates.parquet is inconsistent with the suite: {exc}") from None
    fingerprint = content_sha256(
        error.to_numpy(), memory.to_numpy(), ids, configurations, metadata["normalizers"], datasets, truth
    )
    if fingerprint != metadata["data_sha256"]:
        raise SuiteError(
            f"{folder}: the data, configuration table or normalizers do not match the fingerprint "
            "data_sha256 in metadata.json: the suite was edited; rebuild it"
        )
    return Benchmark(
        str(metadata["name"]), error, memory, datasets, configurations, metadata, replicates, folder.resolve(), truth
    )


def _rewrite(folder: Path, out: Path, metadata: dict[str, Any]) -> Path:
    """A current-format suite written anew from its own tables: structure report and dataset card recomputed by
    this package, the data, provenance and fingerprint unchanged (refused otherwise)."""
    bench = read_suite(folder)
    return write_suite(
        out,
        name=bench.name,
        version=bench.version,
        error=bench.E,
        memory=bench.M,
        datasets=bench.datasets,
        description=metadata["description"],
        provenance=metadata["provenance"],
        cap_rule=bench.cap_rule,
        replicates=bench.replicates,
        configurations=bench.configurations,
        seeds=metadata.get("seeds"),
        negative_control=metadata.get("negative_control"),
        expect_sha256=bench.data_sha256,
    )


def upgrade_suite(folder: Path, out: Path) -> Path:
    """Write a suite folder of an older format in the current one. Format 1: the same tables, metadata and
    provenance, fingerprinted anew (format 1's fingerprint covered only the ids and the two matrices; it is
    checked first). The current format: its structure report and dataset card written anew."""
    folder = Path(folder)
    bad = verify_suite(folder)
    if bad:
        raise SuiteError(f"suite folder {folder} is corrupt: {', '.join(bad)} missing or not matching manifest.json")
    metadata = json.loads((folder / "metadata.json").read_text())
    if metadata.get("suite_format") == SUITE_FORMAT:
        return _rewrite(folder, Path(out), metadata)
    if metadata.get("suite_format") != 1:
        raise SuiteError(
            f"{folder} has suite format {metadata.get('suite_format')}; only formats 1 and {SUITE_FORMAT} are upgraded"
        )
    cells = pd.read_parquet(folder / "cells.parquet")
    datasets = pd.read_parquet(folder / "datasets.parquet")
    ids, d = list(datasets["dataset_id"]), len(CONFIG_IDS)
    error = cells["error"].to_numpy().reshape(len(ids), d)
    memory = cells["memory_mb"].to_numpy().reshape(len(ids), d)
    old = hashlib.sha256("\n".join(ids).encode() + b"\0" + "\n".join(CONFIG_IDS).encode() + b"\0")
    old.update(np.ascontiguousarray(error, dtype="<f8").tobytes() + np.ascontiguousarray(memory, dtype="<f8").tobytes())
    if old.hexdigest() != metadata["data_sha256"]:
        raise SuiteError(f"{folder}: the data does not match its format-1 fingerprint: the suite was edited")
    replicates = pd.read_parquet(folder / "replicates.parquet") if (folder / "replicates.parquet").is_file() else None
    provenance = {
        **metadata["provenance"],
        "upgraded": {"from_suite_format": 1, "format_1_data_sha256": metadata["data_sha256"]},
    }
    return write_suite(
        out,
        name=metadata["name"],
        version=metadata["version"],
        error=error,
        memory=memory,
        datasets=datasets,
        description=metadata["description"],
        provenance=provenance,
        cap_rule=metadata["normalizers"].get("cap_rule", "global-median"),
        replicates=replicates,
    )
