"""The leaderboard: submissions (one JSON file each), their validation and verification, and the board.

Nothing in a submission is trusted but its per-fold results: summaries are recomputed from them, the
data fingerprint must equal the suite's, and submissions whose code is in the repository are re-run
and marked verified only when they reproduce. The board is a pure function of the valid submissions.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..files import atomic_write
from ..protocol.rules import CROSS_ARCHITECTURE_SETTINGS, PAPER_SETTINGS
from ..protocol.runner import (
    PRIMARY_METRIC,
    PROTOCOL_VERSION,
    STANDARD_BUDGETS,
    STANDARD_SEEDS,
    Evaluation,
    summarize,
)
from ..protocol.scoring import worst_case

FOLD_COLUMNS = [
    "setting",
    "seed",
    "dataset_id",
    "n",
    "frontier_regret",
    "convergence",
    "hyperdiff",
    "regret",
    "relative_memory",
    "n_measured",
    "status",
    "reason",
]
BOARD_METRICS = (PRIMARY_METRIC, "convergence", "hyperdiff", "regret", "relative_memory")
SHOWN_BUDGETS = STANDARD_BUDGETS
TOLERANCE = 1e-6
# Verification on another CPU: rounding noise can flip a near-tie of a completion or a regression on a few
# folds. A re-run reproduces when every fold agrees within TOLERANCE except at most FLIP_SHARE of them (at
# least one), whose keys, status and measurement count still agree exactly, and every (setting, n) cell's
# mean of every metric on the board stays within CELL_TOLERANCE: far below any interval on the board, and all
# a forger could move. A spot check re-runs some mask seeds only; its differences count against the board's
# whole cell, so it is never stricter than re-running every seed.
FLIP_SHARE = 0.01
CELL_TOLERANCE = 1e-4


def schema() -> dict[str, Any]:
    return json.loads(resources.files("peppp_bench").joinpath("schemas/submission.schema.json").read_text())


@functools.cache
def _schema_validator() -> Any:
    """The submission schema's validator, its schema checked once per process (not once per submission)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


def schema_error(sub: Any) -> Any:
    """The most relevant way `sub` breaks the submission schema (jsonschema's best match), or None."""
    import jsonschema

    return jsonschema.exceptions.best_match(_schema_validator().iter_errors(sub))


def _round(x: Any) -> Any:
    """Floats to 7 significant digits (enough for every metric; keeps files small and stable)."""
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else float(f"{float(x):.7g}")
    if isinstance(x, np.integer):
        return int(x)
    return x


def make_submission(ev: Evaluation, name: str, *, authors: str, description: str, code: str) -> dict[str, Any]:
    """The submission of method `name` from an evaluation (which may hold several methods)."""
    r = ev.results[ev.results.method == name]
    if r.empty or name not in ev.meta["methods"]:
        raise ValueError(f"the evaluation holds no results of method {name!r}")
    method = ev.meta["methods"][name]
    folds = [[_round(v) for v in row] for row in r[FOLD_COLUMNS].itertuples(index=False)]
    sub = {
        "schema_version": 2,
        "method": {
            "name": name,
            "authors": authors,
            "description": description,
            "code": code,
            "params": method["params"],
            "reference": bool(method["reference"]),
        },
        "suite": {"name": ev.meta["suite"], "version": ev.meta["suite_version"], "data_sha256": ev.meta["data_sha256"]},
        "package_version": __version__,
        "protocol_version": PROTOCOL_VERSION,
        "settings": ev.meta["settings"],
        "budgets": ev.meta["budgets"],
        "seeds": ev.meta["seeds"],
        "holdout": ev.meta["holdout"],
        "environment": {k: ev.meta[k] for k in ("git_sha", "python", "packages", "wall_seconds") if k in ev.meta},
        "folds": {"columns": FOLD_COLUMNS, "rows": folds},
    }
    sub["summary"] = _summary_of(folds_frame(sub))
    return sub


def folds_frame(sub: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(sub["folds"]["rows"], columns=sub["folds"]["columns"])
    for m in BOARD_METRICS:
        df[m] = pd.to_numeric(df[m], errors="coerce")
    return df.assign(method=sub["method"]["name"])


def _summary_of(folds: pd.DataFrame) -> dict[str, Any]:
    """A submission's summary table, from its folds (`folds_frame`)."""
    s = summarize(folds, BOARD_METRICS)
    return {"columns": list(s.columns), "rows": [[_round(v) for v in row] for row in s.itertuples(index=False)]}


def submission_path(folder: Path, sub: dict[str, Any]) -> Path:
    return Path(folder) / f"{sub['suite']['name']}--{sub['method']['name']}.json"


def write_submission(sub: dict[str, Any], folder: Path) -> Path:
    """Pretty JSON with one line per fold row (readable diffs, a third of the size of full indentation)."""
    path = submission_path(folder, sub)
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = {k: sub[k]["rows"] for k in ("folds", "summary")}
    head = {**sub, **{k: {**sub[k], "rows": f"@@{k}@@"} for k in tables}}
    text = json.dumps(head, indent=1, sort_keys=True)
    for k, rows in tables.items():
        text = text.replace(
            f'"@@{k}@@"', "[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows) + "\n  ]"
        )
    atomic_write(path, text + "\n")
    return path


def read_submissions(folder: Path, suite: str) -> list[dict[str, Any]]:
    """Every submission on `suite` in `folder` that parses and is valid by the schema, in file-name order
    (`check_all` reports the others)."""
    out = []
    for p in sorted(Path(folder).glob(f"{suite}--*.json")):
        try:
            sub = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if schema_error(sub) is None:
            out.append(sub)
    return out


@dataclass(frozen=True)
class Check:
    """Validation outcome of one submission file."""

    path: str
    valid: bool
    problems: tuple[str, ...]
    verified: bool | None  # None: not re-run (code outside the repository, or verification not asked)
    checked: bool = True  # False: its suite is not available here, so nothing was checked


STANDARD = {"budgets": list(STANDARD_BUDGETS), "seeds": list(STANDARD_SEEDS)}
STANDARD_SETTINGS = (
    list(PAPER_SETTINGS),
    list(PAPER_SETTINGS + CROSS_ARCHITECTURE_SETTINGS),
)  # the latter: multi-architecture suites
METHODS_DIR = "leaderboard/methods"  # where submitted method files live, relative to the repository root


def holdout_of(sub: dict[str, Any]) -> str:
    """The submission's hold-out rule; submissions made before the field existed held out "auto"."""
    return str(sub.get("holdout", "auto"))


def standard(sub: dict[str, Any]) -> bool:
    """On the standard protocol (settings I–VI, and X, XII on multi-architecture suites; n = 5, 10, 15;
    seeds 0–9; the hold-out the suite's size chooses, "auto"): only these are ranked together."""
    standard_holdout = holdout_of(sub) == "auto"
    return sub["settings"] in STANDARD_SETTINGS and all(sub[k] == v for k, v in STANDARD.items()) and standard_holdout


def code_problems(sub: dict[str, Any], root: Path) -> list[str]:
    """The method's code must be a registered method (`baselines:Class`) or a file in leaderboard/methods/
    (`leaderboard/methods/NAME.py:Class`), and only this package's own bounds may be reference bounds."""
    from ..protocol import registry

    code = sub["method"]["code"]
    where, _, cls = code.rpartition(":")
    if where and not where.endswith(".py") and "/" not in where:
        if registry.by_code(code) is None:
            known = sorted(r.code for r in registry.registered().values())
            return [f"code {code!r} is not a registered method ({', '.join(known)})"]
    elif where.endswith(".py"):
        path = Path(where)
        methods = (root / METHODS_DIR).resolve()
        if path.is_absolute() or ".." in path.parts or path.parent.as_posix() != METHODS_DIR or not cls.isidentifier():
            return [
                f"code {code!r} is not a file of {METHODS_DIR}/: method code is only run from there "
                "(as leaderboard/methods/NAME.py:Class) or from baselines"
            ]
        full = root / path
        if full.is_symlink() or not full.is_file() or full.resolve().parent != methods:
            return [f"code {code!r}: {full} is missing, or a link out of {METHODS_DIR}/"]
    else:
        return [
            f"code {code!r} must be a registered package:Class (e.g. baselines:EDMF) or {METHODS_DIR}/NAME.py:Class"
        ]
    bound = registry.reference_bound(code)
    if bool(sub["method"]["reference"]) != bound:
        return [
            f"reference is {sub['method']['reference']} but code {code!r} is "
            f"{'' if bound else 'not '}a reference bound: "
            "only this package's own bounds are, whatever the file says"
        ]
    return []


def validate(sub: dict[str, Any], suites: dict[str, Any], root: Path | None = None) -> list[str]:
    """Problems with a submission, each a sentence saying what is wrong; [] when it is valid.

    `suites` maps suite names to loaded Benchmarks (their fingerprint and dataset ids are checked);
    with `root` (the repository), the method's code reference is checked too.
    """
    exc = schema_error(sub)
    if exc is not None:
        where = "/".join(map(str, exc.absolute_path)) or "top level"
        return [f"schema: {exc.message} (at {where})"]
    problems = fold_problems(sub)
    if problems:
        return problems
    problems = code_problems(sub, root) if root is not None else []
    name = sub["suite"]["name"]
    bench = suites.get(name)
    if bench is None:
        return [f"suite {name!r} is not available to check against"]
    if sub["suite"]["data_sha256"] != bench.data_sha256:
        problems.append(
            f"data sha256 {sub['suite']['data_sha256'][:12]}… is not suite {name}'s {bench.data_sha256[:12]}…: "
            "results on other data cannot share a board"
        )
    major = sub["protocol_version"].split(".")[0]
    if major != PROTOCOL_VERSION.split(".")[0]:
        problems.append(
            f"protocol version {sub['protocol_version']} is incompatible with {PROTOCOL_VERSION}: re-run the method"
        )
    folds = folds_frame(sub)
    expected = {
        (s, seed, d, n)
        for s in sub["settings"]
        for seed in sub["seeds"]
        for d in bench.dataset_ids
        for n in sub["budgets"]
    }
    present = set(zip(*(folds[c].tolist() for c in ("setting", "seed", "dataset_id", "n"))))
    if len(present) != len(folds):
        problems.append("duplicate fold rows")
    missing = expected - present
    if missing:
        example = sorted(missing)[0]
        problems.append(
            f"{len(missing)} folds missing (e.g. setting {example[0]}, seed {example[1]}, {example[2]}, n={example[3]})"
        )
    if present - expected:
        problems.append(
            f"{len(present - expected)} fold rows outside the declared settings, seeds, datasets and budgets"
        )
    ok = folds[folds.status == "ok"]
    if ok[list(BOARD_METRICS)].isna().any().any():
        problems.append("a fold marked ok lacks a metric")
    wrong = _not_worst_case(folds[folds.status == "failed"], bench)
    if wrong:
        problems.append(
            f"{wrong} failed folds do not score the worst case in {PRIMARY_METRIC} (a failure counts as the "
            "worst configuration within every budget)"
        )
    if (folds.n_measured > folds.n).any() and not sub["method"]["reference"]:
        problems.append("a fold measured more configurations than its budget n")
    recomputed = _summary_of(folds)
    if not _same_table(recomputed, sub["summary"]):
        problems.append("summary does not match the per-fold results (it is recomputed from them)")
    return problems


def _not_worst_case(failed: pd.DataFrame, bench: Any) -> int:
    """How many failed folds claim a primary score other than their worst case (computed from the suite)."""
    from ..protocol.rules import get_setting

    row_of = {d: i for i, d in enumerate(bench.dataset_ids)}
    worst: dict[tuple[str, str], float] = {}
    wrong = 0
    for setting, dataset, value in zip(failed.setting, failed.dataset_id, failed[PRIMARY_METRIC]):
        if (setting, dataset) not in worst:
            i = row_of[dataset]
            cap = bench.cap_of(i) if get_setting(setting).capped else None
            valid = np.flatnonzero(bench.M[i] <= cap) if cap is not None else np.arange(bench.M.shape[1])
            worst[setting, dataset] = worst_case(valid, bench.truth[i], bench.M[i])
        wrong += not _same_value(float(value), worst[setting, dataset])
    return wrong


FOLD_SETTINGS = frozenset(PAPER_SETTINGS + CROSS_ARCHITECTURE_SETTINGS)
FOLD_STATUSES = frozenset({"ok", "failed", "skipped"})


def fold_problems(sub: dict[str, Any]) -> list[str]:
    """Types, ranges and keys of every fold row, checked in bulk (the schema checks only the envelope)."""
    rows = sub["folds"]["rows"]
    if any(type(r) is not list or len(r) != len(FOLD_COLUMNS) for r in rows):
        return [f"folds: every row is a list of {len(FOLD_COLUMNS)} values ({', '.join(FOLD_COLUMNS)})"]
    df = pd.DataFrame(rows, columns=FOLD_COLUMNS, dtype=object)
    if df.empty:
        return ["folds: no rows"]

    def of_type(col: str, *types: type) -> pd.Series:
        return pd.Series([type(v) in types for v in df[col].to_numpy()], index=df.index)

    checks = {
        "setting is one of " + ", ".join(sorted(FOLD_SETTINGS)): df.setting.isin(FOLD_SETTINGS),
        "seed is an integer": of_type("seed", int),
        "dataset_id is a string": of_type("dataset_id", str),
        "n is an integer ≥ 1": of_type("n", int) & (pd.to_numeric(df.n, errors="coerce") >= 1),
        "n_measured is an integer ≥ 0": of_type("n_measured", int)
        & (pd.to_numeric(df.n_measured, errors="coerce") >= 0),
        "status is ok, failed or skipped": df.status.isin(FOLD_STATUSES),
        "reason is a string": of_type("reason", str),
    }
    for m in BOARD_METRICS:
        value = pd.to_numeric(df[m].where(of_type(m, int, float)), errors="coerce")
        in_range = (value >= 0) & ((value <= 1) if m == "relative_memory" else True)
        checks[f"{m} is null or a number ≥ 0" + (" and ≤ 1" if m == "relative_memory" else "")] = (
            df[m].isna() | in_range
        )
    problems = []
    for rule, ok in checks.items():
        bad = np.flatnonzero(~ok.to_numpy(dtype=bool))
        if len(bad):
            problems.append(f"folds: {len(bad)} rows break the rule '{rule}' (first: row {bad[0]}: {rows[bad[0]]})")
    return problems


def _same_table(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same columns and rows, floats equal within TOLERANCE (relative above 1)."""
    if a["columns"] != b["columns"] or len(a["rows"]) != len(b["rows"]):
        return False
    return all(_same_value(x, y) for ra, rb in zip(a["rows"], b["rows"]) for x, y in zip(ra, rb))


def same_folds(again: dict[str, Any], committed: dict[str, Any], whole: dict[str, Any] | None = None) -> bool:
    """Whether re-run folds reproduce committed ones, by the rule above FLIP_SHARE; `whole` is the committed
    table the re-run rows were drawn from (a spot check's), over whose cells the mean moves are measured."""
    if again["columns"] != committed["columns"] or len(again["rows"]) != len(committed["rows"]):
        return False
    a, b = (pd.DataFrame(t["rows"], columns=t["columns"]) for t in (again, committed))
    exact = [c for c in a.columns if c not in BOARD_METRICS]
    if not a[exact].equals(b[exact]):
        return False
    x, y = a[list(BOARD_METRICS)].to_numpy(dtype=float), b[list(BOARD_METRICS)].to_numpy(dtype=float)
    agree = (np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= TOLERANCE * np.maximum(1.0, np.abs(y)))
    flipped = int((~agree.all(axis=1)).sum())
    if flipped > max(1, int(FLIP_SHARE * len(a))):
        return False
    w = b if whole is None else pd.DataFrame(whole["rows"], columns=whole["columns"])
    moved = pd.DataFrame(np.nan_to_num(x - y), columns=list(BOARD_METRICS)).groupby([a.setting, a.n]).sum()
    cells = moved.div(w.groupby(["setting", "n"]).size().reindex(moved.index), axis=0)
    return bool((cells.abs() <= CELL_TOLERANCE).all().all())


def _same_value(x: Any, y: Any) -> bool:
    numbers = (int, float)
    if isinstance(x, float) or isinstance(y, float):
        return isinstance(x, numbers) and isinstance(y, numbers) and abs(x - y) <= TOLERANCE * max(1.0, abs(x))
    return x == y


@dataclass(frozen=True)
class Spot:
    """What a spot check re-runs of a submission: these of its mask seeds, in these of its settings."""

    seeds: tuple[int, ...]
    settings: tuple[str, ...]


def reproduces(subs: list[dict[str, Any]], bench: Any, root: Path, spot: Spot | None = None) -> dict[str, bool | str]:
    """Re-run submissions that share a suite, settings, budgets and seeds in one evaluation (their
    completions are shared), or only the mask seeds and settings of `spot`; per method name: True if every
    re-run fold reproduces, False, or why it failed."""
    from ..protocol.runner import evaluate
    from ..protocol.sandbox import MethodRef

    def ref(sub: dict[str, Any]) -> MethodRef:
        code = sub["method"]["code"]
        return MethodRef(
            str(root.resolve() / code) if ".py:" in code else code, sub["method"]["params"], sub["method"]["name"]
        )

    def run(group: list[dict[str, Any]]) -> Evaluation:
        first = group[0]  # each method in a sandbox of its own; the harness computes each fold's completion once
        return evaluate(
            [ref(s) for s in group],
            bench,
            settings=first["settings"] if spot is None else list(spot.settings),
            budgets=first["budgets"],
            seeds=first["seeds"] if spot is None else list(spot.seeds),
            progress=False,
            holdout=holdout_of(first),
        )

    out: dict[str, bool | str] = {}
    try:
        runs = [(run(subs), subs)]
    except ValueError:  # some method cannot be made: find which, and re-run the others on their own
        runs = []
        for sub in subs:
            try:
                runs.append((run([sub]), [sub]))
            except ValueError as exc:
                out[sub["method"]["name"]] = str(exc)
    for ev, group in runs:
        for sub in group:
            again = make_submission(ev, sub["method"]["name"], authors="", description="", code=sub["method"]["code"])
            out[sub["method"]["name"]] = same_folds(again["folds"], _of_spot(sub["folds"], spot), sub["folds"])
    return out


def _of_spot(folds: dict[str, Any], spot: Spot | None) -> dict[str, Any]:
    """The fold table's rows of the spot check's mask seeds and settings (all rows for None)."""
    if spot is None:
        return folds
    seed, setting = folds["columns"].index("seed"), folds["columns"].index("setting")
    rows = [r for r in folds["rows"] if r[seed] in set(spot.seeds) and r[setting] in set(spot.settings)]
    return {**folds, "rows": rows}


def spot_text(spot: Spot) -> str:
    """A spot check's draw in words, e.g. 'mask seed 3, setting IV'."""
    seeds, settings = (", ".join(map(str, v)) for v in (spot.seeds, spot.settings))
    return f"mask seed{'s' * (len(spot.seeds) > 1)} {seeds}, setting{'s' * (len(spot.settings) > 1)} {settings}"


def check_all(
    folder: Path,
    suites: dict[str, Any],
    root: Path,
    rerun: bool | Collection[str],
    files: Collection[str] | None = None,
    progress: Callable[[str], None] | None = None,
    spot: Mapping[str, Spot] | None = None,
) -> list[Check]:
    """Validate every submission file (or only `files`, by name), each on its own: a broken one is reported
    by name and the others still validate. A submission on a suite not in `suites` is not checked.
    `rerun`: True re-runs every valid one, a collection of file names re-runs those, each method in its
    own sandbox, and of those named in `spot` only the mask seeds and settings given there; `progress` is told what is
    being re-run."""
    spot = spot or {}
    found: list[tuple[str, dict[str, Any] | None, list[str]]] = []
    unchecked: dict[str, str] = {}
    paths = sorted(Path(folder).glob("*.json"))
    if files is not None:
        missing = set(files) - {p.name for p in paths}
        if missing:
            raise FileNotFoundError(f"no submission file {', '.join(sorted(missing))} in {folder}")
        paths = [p for p in paths if p.name in set(files)]
    for path in paths:
        try:
            sub = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            found.append((path.name, None, [f"not valid JSON: {exc}"]))
            continue
        suite = (
            sub.get("suite", {}).get("name") if isinstance(sub, dict) and isinstance(sub.get("suite"), dict) else None
        )
        if isinstance(suite, str) and suite not in suites:
            unchecked[path.name] = suite
            continue
        problems = validate(sub, suites, root)
        if not problems and path.name != submission_path(Path(), sub).name:
            problems = [
                f"the file of a submission of {sub['method']['name']!r} on {sub['suite']['name']!r} must be named "
                f"{submission_path(Path(), sub).name}"
            ]
        found.append((path.name, sub if isinstance(sub, dict) else None, problems))
    # Submissions re-run together share a suite, settings, budgets, seeds, hold-out and spot check.
    groups: dict[tuple[Any, ...], list[tuple[str, dict[str, Any]]]] = {}
    for name, sub, problems in found:
        if sub is not None and not problems and (rerun is True or (rerun is not False and name in rerun)):
            key = (
                sub["suite"]["name"],
                tuple(sub["settings"]),
                tuple(sub["budgets"]),
                tuple(sub["seeds"]),
                holdout_of(sub),
                spot.get(name),
            )
            groups.setdefault(key, []).append((name, sub))
    outcome: dict[str, bool | str] = {}
    for (suite, *_, which), group in groups.items():
        if progress:
            only = "" if which is None else f" ({spot_text(which)} only)"
            progress(f"re-running {len(group)} submission(s) on {suite}{only}: {', '.join(n for n, _ in group)}")
        results = reproduces([s for _, s in group], suites[suite], root, which)
        outcome.update({name: results[sub["method"]["name"]] for name, sub in group})
    checks = []
    for name, _sub, problems in found:
        verified = None
        if name in outcome:
            verified = outcome[name] is True
            if outcome[name] is False:
                problems = ["re-running its code in the repository does not reproduce its folds"]
            elif isinstance(outcome[name], str):
                problems = [f"re-running its code failed: {outcome[name]}"]
        checks.append(Check(name, not problems, tuple(problems), verified))
    for name, suite in unchecked.items():
        checks.append(Check(name, False, (f"not checked: suite {suite!r} is not available here",), None, checked=False))
    return sorted(checks, key=lambda c: c.path)


def check_submission_targets(
    board: Path, suite: str, names: list[str], references: list[tuple[str, Path | None]], replace: bool
) -> None:
    """Before the full run: names that are safe file names, and nothing overwritten without --replace."""
    for name, (code, copy_from) in zip(names, references):
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,79}", name):
            raise ValueError(f"method name {name!r} is not a safe file name: lower-case letters, digits, '.', '_', '-'")
        targets = [board / "submissions" / f"{suite}--{name}.json"]
        if copy_from is not None:
            targets.append(board.parent / code.split(":")[0])
        existing = [t for t in targets if t.exists() or t.is_symlink()]
        if existing and not replace:
            raise ValueError(
                f"{', '.join(map(str, existing))} exists: pass --replace to overwrite it, or choose another --name"
            )
        for t in existing:
            if t.is_symlink() or not t.is_file():
                raise ValueError(f"{t} is not a plain file: refusing to overwrite it")


def code_reference(spec: str, cls: str, board: Path, name: str) -> tuple[str, Path | None]:
    """The submission's code reference, and the file to copy to the board's methods/ (if any).

    A registered method's name becomes its package:Class (baselines:EDMF); module:Class stays as given; a
    file outside the board is copied to leaderboard/methods/NAME.py so the board can re-run it."""
    from ..protocol import registry

    if ":" not in spec:
        return registry.registered()[spec].code, None
    if ".py:" not in spec:
        return spec, None
    path = Path(spec.split(":")[0]).resolve()
    if path.parent == (board / "methods").resolve():
        return f"{board.name}/methods/{path.name}:{cls}", None
    return f"{board.name}/methods/{name}.py:{cls}", path


def board(subs: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long table of all folds of the given (valid) submissions, with suite and reference flags."""
    frames = [folds_frame(s).assign(suite=s["suite"]["name"], reference=s["method"]["reference"]) for s in subs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
