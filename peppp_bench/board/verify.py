"""Verification marks: which submissions were re-run and reproduced, bound to everything that makes a score.

A mark is content-addressed. Its key holds the submission file's sha256, the method's code (its file, or
a registered method's package as its module imports it), a fingerprint of all the harness code a verdict
depends on (`code.py`: found from the imports), the suite's `data_sha256` and the protocol version. A
mark whose key no longer matches is stale and counts for nothing.

Validation re-runs only what needs it: submissions with a missing or stale mark, those whose mark
changed since a trusted git commit (`since`: a mark is never trusted because it matches, since whoever
edits a submission can also write its mark), in full, and a sample of the rest, spot-checked on some of
their mask seeds. `everything=True` re-runs them all. `ci_policy` is what CI runs: the trusted commit comes
from the CI system, never from the commits under test, and without one every submission is spot-checked
on a mask seed drawn when CI runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import atomic_write
from ..protocol import boundary, registry
from .code import harness_fingerprint, method_fingerprint, source_fingerprint
from .leaderboard import Check, Spot, check_all, spot_text

KEY_FIELDS = {  # what a mark is bound to, and how a stale mark names what changed
    "submission_sha256": "submission file",
    "code_sha256": "method code",
    "harness_sha256": "harness code",
    "data_sha256": "suite data",
    "protocol_version": "protocol version",
}
SUBMISSIONS = "submissions"


def code_fingerprint(sub: dict[str, Any], root: Path) -> str:
    """Fingerprint of the method's own code: its file (`leaderboard/methods/NAME.py:Class`), or a registered
    method's package as far as its module imports it. Empty for code that cannot be found."""
    code = sub["method"]["code"]
    where = code.rpartition(":")[0]
    if where.endswith(".py"):
        path = root / where
        return source_fingerprint([path], path.parent)
    found = registry.by_code(code)
    return "" if found is None else method_fingerprint(found.source)


@dataclass(frozen=True)
class Key:
    """What a verification mark is bound to."""

    submission_sha256: str
    code_sha256: str
    harness_sha256: str
    data_sha256: str
    protocol_version: str

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in KEY_FIELDS}

    def stale_because(self, mark: Any) -> str | None:
        """None when `mark` (a verification.json entry) is fresh for this key, else what changed."""
        if not isinstance(mark, dict):
            return "no mark"
        changed = [KEY_FIELDS[f] for f in KEY_FIELDS if mark.get(f) != getattr(self, f)]
        return f"stale mark ({', '.join(changed)} changed)" if changed else None


def key_of(path: Path, sub: dict[str, Any], root: Path, data_sha256: str, harness: str) -> Key:
    return Key(
        hashlib.sha256(path.read_bytes()).hexdigest(),
        code_fingerprint(sub, root),
        harness,
        data_sha256,
        str(sub.get("protocol_version", "")),
    )


def read_marks(board: Path) -> dict[str, Any]:
    path = board / "verification.json"
    try:
        marks = json.loads(path.read_text()) if path.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return marks if isinstance(marks, dict) else {}


def write_marks(board: Path, marks: dict[str, Any]) -> None:
    atomic_write(board / "verification.json", json.dumps(marks, indent=1, sort_keys=True) + "\n")


def changed_since(root: Path, ref: str, board: Path) -> dict[str, Any]:
    """Submission files whose verification mark differs from their mark at git commit `ref`, each with its mark
    at `ref` (None when it had none).

    A fresh mark binds the submission file, the method's code, the harness and the data; so if a mark is
    the same as at `ref` and fresh now, nothing it vouches for changed since `ref`, where it was checked.
    Whoever edits a submission, its code or the harness must write a new mark, and a new mark is re-run."""
    rel = (board.resolve() / "verification.json").relative_to(root.resolve()).as_posix()
    try:
        shown = subprocess.run(
            ["git", "-C", str(root), "show", f"{ref}:{rel}"], capture_output=True, text=True, timeout=60
        )
        subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", f"{ref}^{{commit}}"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError) as exc:
        raise ValueError(f"--since {ref!r}: not a git commit of {root} ({exc})") from exc
    try:
        old = json.loads(shown.stdout) if shown.returncode == 0 else {}
    except json.JSONDecodeError:
        old = {}
    old = old if isinstance(old, dict) else {}
    now = read_marks(board)
    return {name: old.get(name) for name in now if old.get(name) != now[name]}


def rotating_sample(names: Iterable[str], k: int, seed: str) -> list[str]:
    """`k` names chosen by hashing each with `seed` (a commit sha rotates the choice from commit to commit)."""
    return sorted(names, key=lambda n: hashlib.sha256(f"{seed}\0{n}".encode()).hexdigest())[:k]


SAMPLED = "sampled"
FAILED = (
    "its verification mark says re-running its code did not reproduce its folds; re-run it in full with "
    "`peppp-bench leaderboard validate FILE`"
)


def spot_checks(
    chosen: Plan, subs: dict[str, Any], seeds: int | None, settings: int | None, seed: str
) -> dict[str, Spot]:
    """For each sampled re-run, `seeds` of its mask seeds and `settings` of its settings (all for None), chosen
    with `seed`; none when both are None. The submissions on one suite draw alike (one order per suite), so
    that they re-run together and share each fold's completion."""
    if seeds is None and settings is None:
        return {}

    def draw(values: list[Any], k: int | None, suite: str) -> tuple[Any, ...]:
        if k is None or len(values) <= k:
            return tuple(values)
        kept = set(rotating_sample(map(str, values), k, f"{seed}\0{suite}"))
        return tuple(v for v in values if str(v) in kept)

    return {
        name: Spot(
            draw(sorted(subs[name]["seeds"]), seeds, subs[name]["suite"]["name"]),
            draw(list(subs[name]["settings"]), settings, subs[name]["suite"]["name"]),
        )
        for name, why in chosen.rerun.items()
        if why == SAMPLED
    }


@dataclass(frozen=True)
class Policy:
    """What a validation re-runs: marks changed since `since` in full, and `sample` others on `spot_seeds` of
    their mask seeds in `spot_settings` of their settings, chosen with `seed`."""

    since: str | None
    sample: int
    seed: str
    spot_seeds: int | None
    spot_settings: int | None = None


def ci_policy(base: str | None) -> Policy:
    """CI's validation. `base` is the trusted commit the CI system names (a pull request's merge base with its
    target: `PEPPP_CI_BASE`): every submission whose file or mark differs from it is re-run in full, and one
    other is spot-checked. Without a base, nothing in the commits under test can say what is new, so every
    submission is spot-checked. Spot checks run one mask seed in one setting, drawn here and now: whoever
    commits cannot know them in advance (a commit's sha or date can be ground or set)."""
    seed = secrets.token_hex(16)
    return Policy(base, 1, seed, 1, 1) if base else Policy(None, sys.maxsize, seed, 1, 1)


@dataclass(frozen=True)
class Plan:
    """Which valid submissions to re-run, each with why; the rest keep their fresh marks: `fresh` those that say
    verified, `failed` those whose re-run did not reproduce (they stay unverified until re-run in full)."""

    rerun: dict[str, str]
    fresh: list[str]
    failed: list[str] = field(default_factory=list)


def plan(
    keys: dict[str, Key],
    marks: dict[str, Any],
    *,
    everything: bool = False,
    changed: dict[str, Any] | None = None,
    sample: int = 0,
    seed: str = "",
) -> Plan:
    """Re-run every submission with a missing or stale mark, every one in `changed` (name → its mark at the
    compared commit), however many a change of code renewed at once, and `sample` of the rest chosen with
    `seed`; or all of them with `everything`."""
    changed = changed or {}
    rerun: dict[str, str] = {}
    for name, key in keys.items():
        why = "--all" if everything else key.stale_because(marks.get(name))
        if why is None and name in changed:
            why = "changed since the compared commit"
        if why:
            rerun[name] = why
    rest = [n for n in keys if n not in rerun]
    failed = [n for n in rest if marks[n].get("verified") is not True]
    for name in rotating_sample([n for n in rest if n not in failed], sample, seed):  # a spot check never
        rerun[name] = SAMPLED  # turns a failed mark into a verified one: only a full re-run does
    return Plan(rerun, [n for n in rest if n not in rerun and n not in failed], failed)


def new_marks(
    old: dict[str, Any], keys: dict[str, Key], outcome: dict[str, bool], keep: Iterable[str]
) -> dict[str, Any]:
    """The verification record after a run: re-run submissions get a mark with their outcome, fresh marks
    stay, marks in `keep` (submissions not looked at: suite absent, or not named) stay untouched, and the
    rest (invalid or removed submissions, stale marks) are dropped."""
    marks: dict[str, Any] = {name: old[name] for name in keep if name in old}
    for name, key in keys.items():
        if name in outcome:
            marks[name] = {**key.as_dict(), "verified": outcome[name]}
        elif key.stale_because(old.get(name)) is None:
            marks[name] = old[name]
    return marks


def verified_on_board(keys: dict[str, Key], marks: dict[str, Any]) -> dict[str, bool | None]:
    """Per submission file: its mark's verdict if the mark is fresh, else None (not verified)."""
    return {
        name: (bool(marks[name].get("verified")) if key.stale_because(marks.get(name)) is None else None)
        for name, key in keys.items()
    }


def board_keys(
    board: Path, checks: Iterable[Check], suites: dict[str, Any], root: Path
) -> tuple[dict[str, Key], dict[str, Any]]:
    """The mark key and the parsed submission of every valid submission among `checks`."""
    harness = harness_fingerprint()
    keys, subs = {}, {}
    for c in checks:
        if c.valid:
            path = board / SUBMISSIONS / c.path
            sub = json.loads(path.read_text())
            keys[c.path] = key_of(path, sub, root, suites[sub["suite"]["name"]].data_sha256, harness)
            subs[c.path] = sub
    return keys, subs


def validate_board(
    board: Path,
    suites: dict[str, Any],
    root: Path,
    *,
    files: Collection[str] | None = None,
    rerun: bool = True,
    everything: bool = False,
    since: str | None = None,
    sample: int = 0,
    seed: str = "",
    spot_seeds: int | None = None,
    spot_settings: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Check], Plan]:
    """Validate the board's submissions (or only `files`), re-run what `plan` selects (all of `files` when
    named), and write verification.json. Returns every check and the plan it followed.

    `spot_seeds`, `spot_settings`: the sampled re-runs re-run only this many of their mask seeds and settings,
    chosen with `seed`: a spot check of fresh marks. Missing, stale and changed marks are always re-run in full."""
    folder = board / SUBMISSIONS
    checks = check_all(folder, suites, root, rerun=False, files=files)
    if not rerun:
        return checks, Plan({}, [])
    if not boundary.available():
        raise RuntimeError(
            "re-running submissions to verify them needs the OS sandbox, bubblewrap, which does not run here: "
            f"{boundary.INSTALL_HINT}; or validate without re-running (--no-rerun), which marks nothing verified"
        )
    keys, subs = board_keys(board, checks, suites, root)
    marks = read_marks(board)
    changed = changed_since(root, since, board) if since else {}
    chosen = plan(
        keys,
        marks,
        everything=everything or files is not None,
        changed=changed,
        sample=sample,
        seed=seed,
    )
    spot = spot_checks(chosen, subs, spot_seeds, spot_settings, seed)
    for name, drawn in spot.items():
        chosen.rerun[name] += f"; {spot_text(drawn)}"
    if progress:
        progress(f"{len(keys)} valid submissions: {len(chosen.rerun)} to re-run, {len(chosen.fresh)} with a fresh mark")
    rerun_checks = (
        {
            c.path: c
            for c in check_all(
                folder, suites, root, rerun=set(chosen.rerun), files=list(chosen.rerun), progress=progress, spot=spot
            )
        }
        if chosen.rerun
        else {}
    )
    checks = [rerun_checks.get(c.path, c) for c in checks]
    checks = [
        dataclasses.replace(c, valid=False, problems=(*c.problems, FAILED), verified=False)
        if c.path in chosen.failed
        else c
        for c in checks
    ]
    outcome = {name: c.verified is True for name, c in rerun_checks.items()}
    looked_at = {c.path for c in checks if c.checked}
    write_marks(board, new_marks(marks, keys, outcome, keep=[name for name in marks if name not in looked_at]))
    return checks, chosen
