"""Build the board (README.md, index.html and board.json) from the submissions on the suites that are present.

A suite that is not present here (`paper` for whoever has not built it) keeps its part of the committed
board.json, unchanged: a build never drops what it cannot see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..files import atomic_write
from ..suites.build import BUILDERS
from ..suites.suite import SuiteError
from .leaderboard import check_all, standard
from .render import NOT_EMBEDDED, frontier_views, kept_from, render, results_block, with_results
from .verify import SUBMISSIONS, board_keys, read_marks, verified_on_board


def suites_for(board: Path, data_dir: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The suites the board's submissions name, loaded (from `data_dir` first, then the usual places), and
    the ones that cannot be loaded here with why (they are reported as not checked, never a stop)."""
    from ..suites.sources import load

    names = set()
    for p in (board / SUBMISSIONS).glob("*.json"):
        try:
            names.add(json.loads(p.read_text())["suite"]["name"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            continue
    loaded, missing = {}, {}
    for name in sorted(n for n in names if isinstance(n, str)):
        try:
            loaded[name] = load(name, data_dir=data_dir if data_dir and (Path(data_dir) / name).is_dir() else None)
        except (SuiteError, KeyError, ValueError, OSError) as exc:
            hint = f"; `peppp-bench build {name}` makes it" if name in BUILDERS else ""
            missing[name] = str(exc).splitlines()[0].split(" (")[0] + hint
    return loaded, missing


def build_board(board: Path, suites: dict[str, Any], root: Path, say: Callable[[str], None] = print) -> int:
    """Write board/README.md, board/index.html and board/board.json from the valid, standard submissions; returns
    how many are on it.
    A submission is shown verified only with a fresh verification mark (see verify.py)."""
    checks = check_all(board / SUBMISSIONS, suites, root, rerun=False)
    committed = json.loads((board / "board.json").read_text()) if (board / "board.json").is_file() else {}
    absent = {}  # suite → its submission files, for the suites not here
    for c in checks:
        if not c.checked:
            absent.setdefault(_suite_of(board / SUBMISSIONS / c.path), []).append(c.path)
    kept = kept_from(committed, set(absent))
    on_board = {c["suite"] for c in kept["cells"]}
    for suite, paths in sorted(absent.items()):
        if suite in on_board:
            say(f"suite {suite!r} is not here: its part of the board is kept as committed ({len(paths)} submissions)")
        else:
            say(f"left off the board, suite {suite!r} not being here and not on the board: {', '.join(paths)}")
    kept["subs"] = [json.loads((board / SUBMISSIONS / p).read_text()) for s in on_board for p in absent[s]]
    for c in checks:
        if c.checked and not c.valid:
            say(f"left off the board: {c.path}: {'; '.join(c.problems)}")
    keys, subs = board_keys(board, checks, suites, root)
    verdicts = verified_on_board(keys, read_marks(board))
    ranked, apart, verified = [], [], {}
    for name, sub in subs.items():
        if not standard(sub):
            apart.append(name)
            say(
                f"not ranked (not on the standard protocol: settings I-VI, and X, XII on a multi-architecture "
                f"suite; n = 5, 10, 15; seeds 0-9): {name}"
            )
            continue
        ranked.append(sub)
        verified[sub["method"]["name"] + "@" + sub["suite"]["name"]] = verdicts[name]
    present = {s["suite"]["name"] for s in ranked}
    say(f"computing the frontier views of {', '.join(sorted(present - set(NOT_EMBEDDED))) or 'no suite'}")
    frontiers = {name: frontier_views(bench) for name, bench in suites.items() if name not in NOT_EMBEDDED}
    noise = {  # the noise entries of each suite's structure report, and its negative-control label if it has one
        name: {
            **{
                k: v
                for k, v in bench.metadata["structure"].items()
                if k.startswith(("noise_", "two_way_", "seed", "measure_all_"))
            },
            **(
                {"negative_control": bench.metadata["negative_control"]} if "negative_control" in bench.metadata else {}
            ),
        }
        for name, bench in suites.items()
    }
    markdown, page, as_json = render(ranked, verified, frontiers, noise, apart, kept)
    atomic_write(board / "README.md", markdown)
    atomic_write(board / "index.html", page)
    atomic_write(board / "board.json", as_json)
    readme = root / "README.md"  # the repository's README shows the headline results, from board.json alone
    if readme.is_file() and "paper" in present | on_board:
        text = readme.read_text()
        updated = with_results(text, results_block(json.loads(as_json)))
        if updated != text:
            atomic_write(readme, updated)
    return len(ranked)


def _suite_of(path: Path) -> str:
    """The suite a submission file names (its checks said it is a dict naming one)."""
    return str(json.loads(path.read_text())["suite"]["name"])
