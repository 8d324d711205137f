"""The leaderboard: submissions (one JSON file each), their validation and verification, and the board.

Nothing in a submission is trusted but its per-fold results: summaries are recomputed from them, the
data fingerprint must equal the suite's, and submissions whose code is in the repository are re-run
and marked verified only when they reproduce. The board is a pure function of the valid submissions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from .. import __version__
from ..files import atomic_write
from ..protocol.rules import CROSS_ARCHITECTURE_SETTINGS, PAPER_SETTINGS
from ..protocol.runner import PROTOCOL_VERSION, Evaluation, summarize

FOLD_COLUMNS = ["setting", "seed", "dataset_id", "n", "convergence", "hyperdiff", "regret", "relative_memory",
                "n_measured", "status", "reason"]
BOARD_METRICS = ("convergence", "hyperdiff", "regret", "relative_memory")
COMPARED_WITH = ("ed-mf", "bo-full")  # the board pairs every method's folds with these (sign tests)
SHOWN_BUDGETS = (5, 10, 15)
TOLERANCE = 1e-6


def schema() -> dict[str, Any]:
    return json.loads(resources.files("peppp_bench").joinpath("schemas/submission.schema.json").read_text())


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
        "schema_version": 1,
        "method": {"name": name, "authors": authors, "description": description, "code": code,
                   "params": method["params"], "reference": bool(method["reference"])},
        "suite": {"name": ev.meta["suite"], "version": ev.meta["suite_version"], "data_sha256": ev.meta["data_sha256"]},
        "package_version": __version__, "protocol_version": PROTOCOL_VERSION,
        "settings": ev.meta["settings"], "budgets": ev.meta["budgets"], "seeds": ev.meta["seeds"],
        "environment": {k: ev.meta[k] for k in ("git_sha", "python", "packages", "wall_seconds") if k in ev.meta},
        "folds": {"columns": FOLD_COLUMNS, "rows": folds},
    }
    sub["summary"] = _summary_of(sub)
    return sub


def folds_frame(sub: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(sub["folds"]["rows"], columns=sub["folds"]["columns"])
    for m in BOARD_METRICS:
        df[m] = pd.to_numeric(df[m], errors="coerce")
    return df.assign(method=sub["method"]["name"])


def _summary_of(sub: dict[str, Any]) -> dict[str, Any]:
    s = summarize(folds_frame(sub), BOARD_METRICS)
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
        text = text.replace(f'"@@{k}@@"', "[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows) + "\n  ]")
    atomic_write(path, text + "\n")
    return path


def read_submissions(folder: Path, suite: str) -> list[dict[str, Any]]:
    """Every submission on `suite` in `folder` that parses and is valid by the schema, in file-name order
    (`check_all` reports the others)."""
    import jsonschema

    out = []
    for p in sorted(Path(folder).glob(f"{suite}--*.json")):
        try:
            sub = json.loads(p.read_text())
            jsonschema.validate(sub, schema())
        except (json.JSONDecodeError, UnicodeDecodeError, jsonschema.ValidationError):
            continue
        out.append(sub)
    return out


@dataclass(frozen=True)
class Check:
    """Validation outcome of one submission file."""

    path: str
    valid: bool
    problems: tuple[str, ...]
    verified: bool | None  # None: not re-run (code outside the repository, or verification not asked)


STANDARD = {"budgets": list(range(5, 16)), "seeds": [0]}
STANDARD_SETTINGS = (list(PAPER_SETTINGS), list(PAPER_SETTINGS + CROSS_ARCHITECTURE_SETTINGS))  # the latter: multi-architecture suites
METHODS_DIR = "leaderboard/methods"  # where submitted method files live, relative to the repository root


def standard(sub: dict[str, Any]) -> bool:
    """On the standard protocol (settings I–VI, and X, XII on multi-architecture suites; n = 5…15;
    seed 0): only these are ranked together."""
    return sub["settings"] in STANDARD_SETTINGS and all(sub[k] == v for k, v in STANDARD.items())


def code_problems(sub: dict[str, Any], root: Path) -> list[str]:
    """The method's code must be a baseline (`baselines:Class`) or a file in leaderboard/methods/
    (`leaderboard/methods/NAME.py:Class`), and only the baselines' own bounds may be reference bounds."""
    import baselines

    code = sub["method"]["code"]
    where, _, cls = code.rpartition(":")
    known = {c.__name__: c for c in baselines.BASELINES.values()}
    if where == "baselines":
        if cls not in known:
            return [f"code {code!r}: baselines has no method class {cls!r} ({', '.join(sorted(known))})"]
    elif where.endswith(".py"):
        path = Path(where)
        methods = (root / METHODS_DIR).resolve()
        if path.is_absolute() or ".." in path.parts or path.parent.as_posix() != METHODS_DIR or not cls.isidentifier():
            return [f"code {code!r} is not a file of {METHODS_DIR}/: method code is only run from there "
                    "(as leaderboard/methods/NAME.py:Class) or from baselines"]
        full = root / path
        if full.is_symlink() or not full.is_file() or full.resolve().parent != methods:
            return [f"code {code!r}: {full} is missing, or a link out of {METHODS_DIR}/"]
    else:
        return [f"code {code!r} must be baselines:Class or {METHODS_DIR}/NAME.py:Class"]
    bound = where == "baselines" and known[cls].reference
    if bool(sub["method"]["reference"]) != bound:
        return [f"reference is {sub['method']['reference']} but code {code!r} is {'' if bound else 'not '}a reference bound: "
                "only the baselines' bounds are, whatever the file says"]
    return []


def validate(sub: dict[str, Any], suites: dict[str, Any], root: Path | None = None) -> list[str]:
    """Problems with a submission, each a sentence saying what is wrong; [] when it is valid.

    `suites` maps suite names to loaded Benchmarks (their fingerprint and dataset ids are checked);
    with `root` (the repository), the method's code reference is checked too.
    """
    import jsonschema

    try:
        jsonschema.validate(sub, schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "top level"
        return [f"schema: {exc.message} (at {where})"]
    problems = code_problems(sub, root) if root is not None else []
    name = sub["suite"]["name"]
    bench = suites.get(name)
    if bench is None:
        return [f"suite {name!r} is not available to check against"]
    if sub["suite"]["data_sha256"] != bench.data_sha256:
        problems.append(f"data sha256 {sub['suite']['data_sha256'][:12]}… is not suite {name}'s {bench.data_sha256[:12]}…: "
                        "results on other data cannot share a board")
    major = sub["protocol_version"].split(".")[0]
    if major != PROTOCOL_VERSION.split(".")[0]:
        problems.append(f"protocol version {sub['protocol_version']} is incompatible with {PROTOCOL_VERSION}: re-run the method")
    folds = folds_frame(sub)
    expected = {(s, seed, d, n) for s in sub["settings"] for seed in sub["seeds"] for d in bench.dataset_ids for n in sub["budgets"]}
    present = set(zip(folds.setting, folds.seed, folds.dataset_id, folds.n))
    if len(present) != len(folds):
        problems.append("duplicate fold rows")
    missing = expected - present
    if missing:
        example = sorted(missing)[0]
        problems.append(f"{len(missing)} folds missing (e.g. setting {example[0]}, seed {example[1]}, {example[2]}, n={example[3]})")
    if present - expected:
        problems.append(f"{len(present - expected)} fold rows outside the declared settings, seeds, datasets and budgets")
    ok = folds[folds.status == "ok"]
    if ok[list(BOARD_METRICS)].isna().any().any():
        problems.append("a fold marked ok lacks a metric")
    if (folds.n_measured > folds.n).any() and not sub["method"]["reference"]:
        problems.append("a fold measured more configurations than its budget n")
    recomputed = _summary_of(sub)
    if not _same_table(recomputed, sub["summary"]):
        problems.append("summary does not match the per-fold results (it is recomputed from them)")
    return problems


def _same_table(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same columns and rows, floats equal within TOLERANCE (relative above 1)."""
    if a["columns"] != b["columns"] or len(a["rows"]) != len(b["rows"]):
        return False
    return all(_same_value(x, y) for ra, rb in zip(a["rows"], b["rows"]) for x, y in zip(ra, rb))


def _same_value(x: Any, y: Any) -> bool:
    numbers = (int, float)
    if isinstance(x, float) or isinstance(y, float):
        return isinstance(x, numbers) and isinstance(y, numbers) and abs(x - y) <= TOLERANCE * max(1.0, abs(x))
    return x == y


def reproduces(subs: list[dict[str, Any]], bench: Any, root: Path) -> dict[str, bool | str]:
    """Re-run submissions that share a suite, settings, budgets and seeds in one evaluation (their
    completions are shared); per method name: True if every fold reproduces, False, or why it failed."""
    from ..protocol.runner import evaluate
    from ..protocol.sandbox import MethodRef

    def ref(sub: dict[str, Any]) -> MethodRef:
        code = sub["method"]["code"]
        return MethodRef(str(root / code) if ".py:" in code else code, sub["method"]["params"], sub["method"]["name"])

    def run(group: list[dict[str, Any]]) -> Evaluation:
        first = group[0]  # each method in a sandbox of its own; the harness computes each fold's completion once
        return evaluate([ref(s) for s in group], bench, settings=first["settings"], budgets=first["budgets"],
                        seeds=first["seeds"], progress=False)

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
            out[sub["method"]["name"]] = _same_table(again["folds"], sub["folds"])
    return out


def code_sha256(sub: dict[str, Any], root: Path) -> str:
    """Fingerprint of the code a verification mark vouches for: the method's file, or the baselines package."""
    import hashlib

    code = sub["method"]["code"]
    files = [root / code.rpartition(":")[0]] if code.endswith(".py") or ".py:" in code else sorted((root / "baselines").glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + (f.read_bytes() if f.is_file() else b""))
    return h.hexdigest()


def check_all(folder: Path, suites: dict[str, Any], root: Path, rerun: bool) -> list[Check]:
    """Validate every submission file (each on its own: a broken one is reported by name, the others
    still validate); with `rerun`, re-run every valid one, each method in its own sandbox."""
    found: list[tuple[str, dict[str, Any] | None, list[str]]] = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            sub = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            found.append((path.name, None, [f"not valid JSON: {exc}"]))
            continue
        problems = validate(sub, suites, root)
        if not problems and path.name != submission_path(Path(), sub).name:
            problems = [f"the file of a submission of {sub['method']['name']!r} on {sub['suite']['name']!r} must be named "
                        f"{submission_path(Path(), sub).name}"]
        found.append((path.name, sub if isinstance(sub, dict) else None, problems))
    groups: dict[str, list[dict[str, Any]]] = {}
    for _, sub, problems in found:
        if sub is not None and not problems and rerun:
            key = json.dumps([sub["suite"]["name"], sub["settings"], sub["budgets"], sub["seeds"]])
            groups.setdefault(key, []).append(sub)
    outcome: dict[tuple[str, str], bool | str] = {}
    for key, subs in groups.items():
        suite = json.loads(key)[0]
        for name, result in reproduces(subs, suites[suite], root).items():
            outcome[(suite, name)] = result
    checks = []
    for name, sub, problems in found:
        verified = None
        if sub is not None and (sub["suite"]["name"], sub["method"]["name"]) in outcome:
            result = outcome[(sub["suite"]["name"], sub["method"]["name"])]
            verified = result is True
            if result is False:
                problems = ["re-running its code in the repository does not reproduce its folds"]
            elif isinstance(result, str):
                problems = [f"re-running its code failed: {result}"]
        checks.append(Check(name, not problems, tuple(problems), verified))
    return checks


def board(subs: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Long table of all folds of the given (valid) submissions, with suite and reference flags."""
    frames = [folds_frame(s).assign(suite=s["suite"]["name"], reference=s["method"]["reference"]) for s in subs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def average_ranks(folds: pd.DataFrame) -> pd.Series:
    """Mean rank of each non-reference method by regret (equivalently best error) per fold and budget;
    ties share the lowest rank (spec §6)."""
    ok = folds[(folds.status == "ok") & ~folds.reference]
    ranks = ok.groupby(["setting", "seed", "dataset_id", "n"]).regret.rank(method="min")
    return ranks.groupby(ok.method).mean()


def paired_versus(folds: pd.DataFrame, method: str, reference: str, metric: str = "hyperdiff") -> dict[str, Any]:
    """Wins/ties/losses of `method` against `reference` over shared folds (lower metric wins), sign test."""
    keys = ["setting", "seed", "dataset_id", "n"]
    a = folds[(folds.method == method) & (folds.status == "ok")].set_index(keys)[metric]
    b = folds[(folds.method == reference) & (folds.status == "ok")].set_index(keys)[metric]
    a, b = a.align(b, join="inner")
    wins, losses = int((a < b - 1e-12).sum()), int((a > b + 1e-12).sum())
    ties = int(len(a) - wins - losses)
    p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
    return {"wins": wins, "ties": ties, "losses": losses, "p": float(p)}
