"""The `peppp-bench` command: one small handler per subcommand, each a thin call into the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]
Declare = Callable[[argparse.ArgumentParser], Handler]  # adds a subcommand's arguments, returns its handler

# Every subcommand, in the order `--help` lists them: its path (`("leaderboard", "validate")` for an action of a
# group), one-line summary, example, and the function beside its handler that declares its arguments.
SUBCOMMANDS: list[tuple[tuple[str, ...], str, str, Declare]] = []
GROUPS = {  # subcommands that hold actions: summary and example
    "leaderboard": (
        "validate submissions, or build the board (README.md, index.html)",
        "peppp-bench leaderboard validate leaderboard/submissions/mini--my-method.json",
    ),
}


def subcommand(path: tuple[str, ...], summary: str, example: str) -> Callable[[Declare], Declare]:
    """Register the decorated function as the declaration of subcommand `path`."""

    def register(declare: Declare) -> Declare:
        SUBCOMMANDS.append((path, summary, example, declare))
        return declare

    return register


def _build(args: argparse.Namespace) -> int:
    from .suites.build import BUILDERS, UPSTREAM_FILES
    from .suites.download import built_cache, download_upstream, upstream_url
    from .suites.suite import read_suite

    if args.upstream:
        upstream = Path(args.upstream)
    else:
        print(
            f"downloading the released arrays ({', '.join(UPSTREAM_FILES[args.suite])}) from "
            f"{upstream_url('').rsplit('/', 1)[0]}/ (sha256-pinned)"
        )
        upstream = download_upstream(UPSTREAM_FILES[args.suite])
    out = Path(args.out) if args.out else built_cache() / args.suite
    folder = BUILDERS[args.suite](upstream, out)
    bench = read_suite(folder)
    print(f"built {bench!r} in {folder}\ndata_sha256 {bench.data_sha256}")
    if not args.out:
        print(f'peppp_bench.load("{args.suite}") now finds it there')
    return 0


@subcommand(("build",), "build a suite from the authors' released arrays", "peppp-bench build paper")
def _build_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("suite", choices=["paper", "paper-lr"], help="which of the paper's suites to build")
    p.add_argument("--upstream", help="folder of the released .npy arrays (default: download them, sha256-pinned)")
    p.add_argument("--out", help="suite folder to write (default: the cache, where load() finds it)")
    return _build


def _upgrade(args: argparse.Namespace) -> int:
    from .suites.suite import read_suite, upgrade_suite

    folder = upgrade_suite(Path(args.folder), Path(args.out or args.folder))
    print(f"upgraded {read_suite(folder)!r} in {folder}")
    return 0


@subcommand(
    ("upgrade",),
    "write a suite folder of an older format in the current one",
    "peppp-bench upgrade suites/old-suite --out suites/new-suite",
)
def _upgrade_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("folder", help="the suite folder to upgrade")
    p.add_argument("--out", help="suite folder to write (default: FOLDER itself)")
    return _upgrade


def _publish(args: argparse.Namespace) -> int:
    from .suites.hub import publish

    sha = publish(Path(args.folder), args.repo_id, tag=args.tag, endpoint=args.endpoint)
    print(f"published {args.folder} to {args.repo_id} at commit {sha}" + (f" (tag {args.tag})" if args.tag else ""))
    print(f"pin it: peppp_bench.load(NAME, repo_id={args.repo_id!r}, revision={sha!r})")
    return 0


@subcommand(
    ("publish",),
    "upload a built suite folder to a Hugging Face dataset repo",
    "peppp-bench publish suites/paper --repo-id peppp-bench/peppp-bench --tag paper-v1.1.0",
)
def _publish_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("folder", help="a built suite folder (e.g. from `peppp-bench build paper --out`)")
    p.add_argument("--repo-id", required=True, help="the Hub dataset repository, e.g. peppp-bench/peppp-bench")
    p.add_argument("--tag", help="a tag to put on the upload commit, e.g. paper-v1.1.0 (default: none)")
    p.add_argument(
        "--endpoint",
        default=os.environ.get("PEPPP_BENCH_HUB_ENDPOINT"),
        help="Hub endpoint URL (default: $PEPPP_BENCH_HUB_ENDPOINT, else the public Hub)",
    )
    return _publish


def _info(args: argparse.Namespace) -> int:
    from . import __version__
    from .suites.hub import package_cache_dir
    from .suites.sources import hub_location, suite_status

    print(f"peppp-bench {__version__}; cache {package_cache_dir()}; Hub repository {hub_location('paper').repo_id}")
    for row in suite_status():
        print(f"  {row['suite']:<10} {row['revision']:<18} {row['status']}  ({row['description']})")
    return 0


@subcommand(("info",), "list suites, their pinned versions and cache status", "peppp-bench info")
def _info_args(p: argparse.ArgumentParser) -> Handler:

    return _info


def _structure(args: argparse.Namespace) -> int:
    from .suites.sources import load
    from .suites.structure import comparison_table

    print(comparison_table({name: load(name, data_dir=args.data_dir).metadata["structure"] for name in args.suites}))
    return 0


@subcommand(
    ("structure",),
    "suites' structure reports side by side (a Markdown table)",
    "peppp-bench structure mini mini-arch modern-mini",
)
def _structure_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("suites", nargs="+", help="suite names, e.g. paper mini modern-mini")
    _data_dir_arg(p)
    return _structure


def _int_list(text: str) -> list[int]:
    """'5-15' or '5,10,15' -> integers."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    return out


def _method_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not value:
            raise ValueError(f"--param takes KEY=VALUE, got {pair!r}")
        try:
            params[key] = int(value)
        except ValueError:
            try:
                params[key] = float(value)
            except ValueError:
                params[key] = value
    return params


def _method_specs(text: str) -> list[str]:
    """'all' (every registered method) or comma-separated method specifications (file paths made absolute)."""
    from .loading import absolute_file_ref
    from .protocol.registry import names

    return names() if text == "all" else [absolute_file_ref(s) for s in text.split(",")]


def _settings(args: argparse.Namespace) -> list[str]:
    """--settings: a comma-separated list, or "standard" (I-VI, and X, XII on a multi-architecture suite)."""
    from .protocol.rules import CROSS_ARCHITECTURE_SETTINGS, PAPER_SETTINGS
    from .suites.sources import load

    if args.settings != "standard":
        return args.settings.split(",")
    cross = load(args.suite, data_dir=args.data_dir).multi_architecture
    return list(PAPER_SETTINGS + (CROSS_ARCHITECTURE_SETTINGS if cross else ()))


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from .protocol.sandbox import MethodRef

    params = _method_params(args.param)
    methods = [MethodRef(spec, params) for spec in _method_specs(args.method)]  # made only inside sandboxes
    ev = _run(methods, args)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        ev.results.to_parquet(out, index=False)
        out.with_suffix(".meta.json").write_text(json.dumps(ev.meta, indent=2, sort_keys=True) + "\n")
        print(f"results: {out} ({len(ev.results)} rows); metadata: {out.with_suffix('.meta.json')}")
    _print_summary(ev)
    return 0


@subcommand(
    ("evaluate",),
    "score selection methods by meta-LOOCV",
    "peppp-bench evaluate ed-mf --suite mini --settings I,III --budgets 5,10",
)
def _evaluate_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("method", help="'all', baseline names (comma-separated), module:Class or path/file.py:Class")
    _protocol_args(p)
    p.add_argument("--out", help="results table (.parquet); metadata goes beside it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _limit_args(p)
    return _evaluate


def _print_summary(ev: Any) -> None:
    """The headline table at every budget asked for (at most 6; else n = 5, 10, 15 and the largest n, saying
    so); skipped and failed fold-budgets with their reasons."""
    from .protocol.runner import HEADLINE_COLUMNS

    results, summary = ev.results, ev.summary
    for reason, group in results[results.status == "skipped"].groupby("reason"):
        print(
            f"{_count(len(group), 'fold-budget')} skipped ({_count(group.dataset_id.nunique(), 'dataset')}): {reason}"
        )
    failed = results[results.status == "failed"]
    budgets = sorted(set(summary.n))
    shown_n = budgets if len(budgets) <= 6 else sorted({n for n in budgets if n in (5, 10, 15)} | {budgets[-1]})
    print("mean over held-out datasets (lower is better):")
    print(
        summary[summary.n.isin(shown_n)][list(HEADLINE_COLUMNS)].to_string(
            index=False, float_format=lambda x: f"{x:.4f}"
        )
    )
    if shown_n != budgets:
        print(f"(n = {', '.join(map(str, shown_n))} of the {len(budgets)} budgets run; every budget is in --out)")
    if len(failed):
        print(f"\n{len(failed)} fold-budgets failed; first reasons:")
        for reason in failed.reason.unique()[:5]:
            print(f"  {reason}")


def _study(args: argparse.Namespace) -> int:
    from .protocol.studies import meta_training_study
    from .suites.sources import load

    bench = load(args.suite, data_dir=args.data_dir)
    table = meta_training_study(
        bench, args.kind, [float(r) for r in args.ratios.split(",")], _int_list(args.seeds), args.rank
    )
    if args.out:
        table.to_parquet(args.out, index=False)
        print(f"wrote {args.out} ({len(table)} rows)")
    print(
        table.groupby("ratio")[["relative_error", "convergence", "hyperdiff", "observed"]]
        .mean()
        .to_string(float_format=lambda x: f"{x:.4f}")
    )
    return 0


@subcommand(
    ("study",),
    "the meta-training study: completion quality versus sampling (Figures 9/10)",
    "peppp-bench study --suite mini --kind uniform --ratios 0.05,0.1,0.2",
)
def _study_args(p: argparse.ArgumentParser) -> Handler:
    _suite_args(p)
    p.add_argument(
        "--kind",
        choices=["uniform", "nonuniform"],
        default="uniform",
        help="how entries are observed (default uniform)",
    )
    p.add_argument("--ratios", default="0.05,0.1,0.2", help="sampling ratios (uniform) or maximum probabilities")
    p.add_argument("--seeds", default="0-2", help="mask seeds (default 0-2)")
    p.add_argument("--rank", type=int, default=5, help="rank of the completion (default 5)")
    p.add_argument("--out", help="long table (.parquet)")
    return _study


def _generate(args: argparse.Namespace) -> int:
    import time
    import warnings

    from .generate.backends import check_device, generate
    from .generate.spec import SpecError, check_spec, read_spec
    from .generate.store import Store

    if args.status:
        return _generate_status(Path(args.status), args.spec)
    if not args.store or not args.spec:
        raise SpecError("give a spec and --store STORE (or --status STORE)")
    spec = read_spec(args.spec)  # every check below runs before anything is written
    check_device(args.device)
    if args.threads < 1 or args.workers < 1:
        raise SpecError("--threads and --workers must be at least 1")
    if args.to_suite:
        from .suites.suite import check_replaceable

        check_replaceable(Path(args.to_suite))
        if Path(args.to_suite).name != spec.name:  # load(name, data_dir=PARENT) finds a suite by its folder's name
            raise SpecError(
                f"--to-suite {args.to_suite}: a suite folder carries its suite's name; write it to "
                f"{Path(args.to_suite).parent / spec.name} (the spec's suite is {spec.name!r})"
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_spec(spec)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    store = Store(args.store, spec)
    done, total = store.count()
    print(
        f"{spec.name} v{spec.version}: {_count(len(spec.tasks), 'task')} × "
        f"{_count(len(spec.architectures), 'architecture')} × {_count(len(spec.config_ids), 'configuration')} × "
        f"{_count(len(spec.seeds), 'seed')} = {_count(total, 'cell')}; "
        f"{done} already in {args.store}"
    )
    started = time.time()
    try:
        computed, seconds = generate(
            spec, store, args.backend, args.workers, args.address, args.device, not args.quiet, args.threads
        )
    except KeyboardInterrupt:
        seconds, computed = time.time() - started, store.count()[0] - done
        store.log_run(
            spec, started, seconds, computed, args.backend, args.workers, args.threads, args.device, interrupted=True
        )
        print(f"interrupted: {computed} cells computed and kept; run the same command to go on", file=sys.stderr)
        return 130
    store.log_run(spec, started, seconds, computed, args.backend, args.workers, args.threads, args.device)
    print(f"computed {computed} cells in {seconds:.0f} s")
    status = store.status()
    if status["failed"]:
        print(
            f"{status['failed']} cells failed (see {store.root / 'failures.jsonl'}); run the same command to retry them"
        )
    for row, floor in store.rows_that_learned_nothing():
        print(
            f"warning: every cell of {row} has error ≥ {floor:.3f}, what always answering the commonest class gets: "
            "the recipe may be too short (epochs, learning rate) to learn this task",
            file=sys.stderr,
        )
    if args.to_suite:
        from .generate.to_suite import store_to_suite

        if status["done"] < status["total"]:
            print(
                f"not writing {args.to_suite}: {status['total'] - status['done']} cells are unfinished", file=sys.stderr
            )
            return 1
        command = " ".join(["peppp-bench generate", args.spec, "--store", args.store, "--to-suite", args.to_suite])
        folder = store_to_suite(store, Path(args.to_suite), command)
        print(f"suite written to {folder}")
    return 1 if status["failed"] else 0  # a script sees that cells failed


@subcommand(
    ("generate",),
    "train the cells a spec names into a resumable store; optionally build a suite",
    "peppp-bench generate datasets/mini/spec.toml --store /tmp/store --workers 2 --to-suite out/mini",
)
def _generate_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("spec", nargs="?", help="generation spec (.toml)")
    p.add_argument("--store", help="store folder (resumes what is there)")
    p.add_argument("--status", metavar="STORE", help="print done / failed / remaining cells of STORE and the time left")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument(
        "--backend", choices=["local", "ray"], default="local", help="local processes or a Ray cluster (default local)"
    )
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda (worker i on cuda:i), or auto (each worker detects its own)"
    )
    p.add_argument("--to-suite", default=None, metavar="OUT", help="when complete, write the suite folder OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return _generate


def _generate_status(root: Path, spec_path: str | None) -> int:
    from .generate.spec import read_spec
    from .generate.store import Store

    store = Store.open(root) if spec_path is None else Store(root, read_spec(spec_path), create=False)
    st = store.status()
    left = (
        "unknown (no finished cell yet)"
        if st["seconds_left"] is None
        else f"{st['seconds_left'] / 60:.1f} min at the pace of the finished cells"
    )
    print(
        f"{store.spec.name} v{store.spec.version} in {root}: {st['done']} done, {st['failed']} failed, "
        f"{st['remaining']} remaining of {st['total']} cells; time left: {left}"
    )
    return 0


def _replicates(args: argparse.Namespace) -> int:
    from .generate.store import Store
    from .generate.to_suite import add_replicates
    from .suites.suite import read_suite

    stores = [Store.open(Path(root)) for root in args.store]
    command = " ".join(
        [
            "peppp-bench replicates",
            args.suite_folder,
            *(f"--store {s}" for s in args.store),
            "--out",
            args.out,
            "--version",
            args.version,
        ]
        + (["--cap-rule", args.cap_rule] if args.cap_rule else [])
    )
    folder = add_replicates(Path(args.suite_folder), stores, Path(args.out), args.version, args.cap_rule, command)
    structure = read_suite(folder).metadata["structure"]
    print(f"suite written to {folder}")
    for key, value in structure.items():
        if key.startswith("noise_"):
            print(f"  {key}: {value}")
    return 0


@subcommand(
    ("replicates",),
    "write a suite again with seed replicates from finished stores (its seed noise)",
    "peppp-bench replicates suites/mini --store /tmp/reps --out suites/mini --version 1.1.0",
)
def _replicates_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("suite_folder", help="the suite folder whose cells the stores re-train with other seeds")
    p.add_argument("--store", action="append", required=True, help="a finished store (repeat for several)")
    p.add_argument("--out", required=True, help="suite folder to write (may be SUITE_FOLDER itself)")
    p.add_argument("--version", required=True, help="the new suite version")
    p.add_argument("--cap-rule", choices=["global-median", "row-median"], default=None, help="default: the suite's")
    return _replicates


def _submit(args: argparse.Namespace) -> int:
    import tempfile

    from .board.leaderboard import check_submission_targets, code_reference, make_submission, write_submission
    from .files import atomic_write
    from .protocol.runner import evaluate
    from .protocol.sandbox import MethodRef
    from .suites.synthetic import smoke_benchmark

    board = _submission_board(args.board, args.new_board)
    params = _method_params(args.param)
    specs = _method_specs(args.method)
    name = args.name if args.name and len(specs) == 1 else None
    if name is not None:  # before the smoke run: a file in the way is said at once
        check_submission_targets(board, args.suite, [name], [(f"{name}.py:X", None)], args.replace)
    methods = [MethodRef(spec, params, name) for spec in specs]  # made only inside sandboxes
    with tempfile.TemporaryDirectory() as tmp:  # the smoke run: seconds, on a synthetic suite
        smoke = evaluate(methods, smoke_benchmark(Path(tmp)), budgets=(4, 5), seeds=(0,), workers=1, progress=False)
    broken = smoke.results[smoke.results.status != "ok"]
    if len(broken):
        print(f"smoke run: {len(broken)} fold-budgets failed; first: {broken.reason.iloc[0]}", file=sys.stderr)
        return 1
    print(f"smoke run passed ({len(smoke.results)} fold-budgets on a synthetic suite)")
    if args.smoke:
        return 0
    described = smoke.meta["methods"]  # name → class, params, doc, in the order given
    references = [
        code_reference(spec, info["class"].split(":")[-1], board, name)
        for spec, (name, info) in zip(specs, described.items())
    ]
    check_submission_targets(board, args.suite, list(described), references, args.replace)
    ev = _run(methods, args)
    for (name, info), (code, copy_from) in zip(described.items(), references):
        if copy_from is not None:
            (board / "methods").mkdir(parents=True, exist_ok=True)
            atomic_write(board.parent / code.split(":")[0], Path(copy_from).read_bytes())
        sub = make_submission(ev, name, authors=args.authors, description=args.description or info["doc"], code=code)
        path = write_submission(sub, board / "submissions")
        print(f"wrote {path}")
    _print_ranks(board, ev.meta["suite"], list(described))
    return 0


@subcommand(
    ("submit",),
    "run the full protocol on a method and write its leaderboard submission",
    "peppp-bench submit my_method.py:MyMethod --suite mini --authors 'A. Researcher'",
)
def _submit_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("method", help="path/to/file.py:Class, module:Class, a baseline's name, or 'all' baselines")
    p.add_argument("--name", help="the method's name on the board (default: its class's `name`)")
    p.add_argument("--authors", default="anonymous", help="who made the method (default anonymous)")
    p.add_argument("--description", default="", help="one line about the method (default: its class docstring)")
    p.add_argument("--smoke", action="store_true", help="only the seconds-long smoke run on a synthetic suite")
    _protocol_args(p)
    p.add_argument(
        "--board",
        default=None,
        help="leaderboard folder (submissions/, methods/); default: the leaderboard/ of the peppp-bench clone you "
        "are in (outside a clone, give --board, or --new-board to start one)",
    )
    p.add_argument("--new-board", action="store_true", help="start a board in --board (default ./leaderboard)")
    p.add_argument("--replace", action="store_true", help="overwrite an existing submission of the same name and suite")
    _limit_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return _submit


def _count(n: int, noun: str) -> str:
    """'1 task', '2 tasks'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _submission_board(given: str | None, new: bool) -> Path:
    """The board `submit` writes to: --board, else the leaderboard/ of the clone the working folder is in; outside
    one, only with --new-board (./leaderboard), so that no one starts a board of their own unawares."""
    if given is not None:
        board = Path(given).resolve()
        if not (board / "submissions").is_dir() and not new:
            raise ValueError(f"{board} is not a board (it has no submissions/): pass --new-board to start one there")
        return board
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "leaderboard" / "submissions").is_dir() and (folder / "pyproject.toml").is_file():
            return (folder / "leaderboard").resolve()
    if new:
        return (Path.cwd() / "leaderboard").resolve()
    raise ValueError(
        "no board found: the working folder is not inside a peppp-bench clone. Run submit inside your clone "
        f"(it writes to its leaderboard/), or pass --board PATH; to start a new board in {Path.cwd() / 'leaderboard'}, "
        "pass --new-board"
    )


def _print_ranks(board: Path, suite: str, names: list[str]) -> None:
    from .board.leaderboard import board as board_table
    from .board.leaderboard import read_submissions
    from .board.statistics import average_ranks
    from .protocol.rules import SETTING_ORDER
    from .protocol.runner import PRIMARY_METRIC

    folds = board_table(read_submissions(board / "submissions", suite))
    ranked = set(folds[~folds.reference.astype(bool)].method)
    for setting in sorted(set(folds.setting), key=SETTING_ORDER.index):
        ranks, _, _ = average_ranks(folds[folds.setting == setting], PRIMARY_METRIC, ranked)
        for name in names:
            if name in ranks.index:
                place = list(ranks.index).index(name) + 1
                print(
                    f"setting {setting}: {name} ranks {place} of the {len(ranks)} methods on {suite} in {board} by "
                    f"frontier regret over the folds (average rank {ranks[name]:.2f})"
                )


def _leaderboard_validate(args: argparse.Namespace) -> int:
    import os

    from .board.build import suites_for
    from .board.verify import Policy, ci_policy, validate_board

    policy = Policy(args.since, args.sample, args.sample_seed, args.spot_seeds, args.spot_settings)
    if args.ci:
        spot = args.spot_seeds is not None or args.spot_settings is not None
        if args.since or args.sample or args.sample_seed or spot or args.all or args.files:
            raise ValueError(
                "--ci chooses what to re-run itself: give it no --since, --sample, --spot-seeds, --spot-settings "
                "or files"
            )
        policy = ci_policy(os.environ.get("PEPPP_CI_BASE") or None)
        base = f"changed since {policy.since} (PEPPP_CI_BASE) in full" if policy.since else "no trusted base commit"
        print(
            f"CI validation: {base}; spot checks on a mask seed and setting drawn with {policy.seed}", file=sys.stderr
        )
    board = Path(args.board).resolve()
    suites, missing = suites_for(board, args.data_dir)
    for name, why in missing.items():
        print(f"suite {name!r} is not available here ({why}): its submissions are not checked", file=sys.stderr)
    files = [Path(f).name for f in args.files] or None
    checks, plan = validate_board(
        board,
        suites,
        board.parent,
        files=files,
        rerun=not args.no_rerun,
        everything=args.all,
        since=policy.since,
        sample=policy.sample,
        seed=policy.seed,
        spot_seeds=policy.spot_seeds,
        spot_settings=policy.spot_settings,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    for c in checks:
        if not c.checked:
            status = "not checked"
        elif not c.valid:
            status = "INVALID"
        elif c.path in plan.rerun:
            status = f"valid, {'verified' if c.verified else 'NOT verified'} (re-run: {plan.rerun[c.path]})"
        else:
            status = "valid, verified (mark fresh)" if c.path in plan.fresh else "valid, not re-run"
        print(f"{c.path}: {status}" + "".join(f"\n  - {p}" for p in c.problems if c.checked))
    bad = [c for c in checks if c.checked and not c.valid]
    unchecked = [c for c in checks if not c.checked]
    print(f"{len(checks) - len(bad) - len(unchecked)} valid, {len(bad)} invalid, {len(unchecked)} not checked")
    return 1 if bad or (unchecked and args.strict) else 0


@subcommand(
    ("leaderboard", "validate"),
    "check submissions; re-run those whose verification mark is missing or stale",
    "peppp-bench leaderboard validate leaderboard/submissions/mini--my-method.json",
)
def _leaderboard_validate_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument(
        "files", nargs="*", help="submission files to check and re-run (default: every submission on the board)"
    )
    p.add_argument("--all", action="store_true", help="re-run every submission, fresh marks too")
    p.add_argument(
        "--since",
        metavar="GIT_REF",
        default=None,
        help="also re-run submissions whose verification mark differs from its mark at this git commit",
    )
    p.add_argument(
        "--sample", type=int, default=0, help="also re-run this many others, chosen by --sample-seed (default 0)"
    )
    p.add_argument("--sample-seed", default="", help="chooses the sample and its spot-checked mask seeds and settings")
    p.add_argument(
        "--spot-seeds",
        type=int,
        default=None,
        metavar="K",
        help="the sampled re-runs (--sample) re-run only K of their mask seeds, chosen with --sample-seed: a spot "
        "check; missing, stale and changed marks are re-run in full (default: all seeds)",
    )
    p.add_argument(
        "--spot-settings",
        type=int,
        default=None,
        metavar="K",
        help="the sampled re-runs re-run only K of their settings, chosen with --sample-seed (default: all settings)",
    )
    p.add_argument(
        "--ci",
        action="store_true",
        help="CI's policy: with $PEPPP_CI_BASE (the pull request's merge base, set by the CI system) re-run in full "
        "every submission whose mark differs from it and spot-check one other; without it spot-check every "
        "submission; spot checks run one mask seed in one setting, drawn at random when it runs",
    )
    p.add_argument(
        "--no-rerun", action="store_true", help="validate without re-running any code, and leave the marks alone"
    )
    p.add_argument("--strict", action="store_true", help="fail when a submission's suite is not available (CI)")
    _board_args(p)
    return _leaderboard_validate


def _leaderboard_build(args: argparse.Namespace) -> int:
    from .board.build import build_board, suites_for

    board = Path(args.board).resolve()
    suites, missing = suites_for(board, args.data_dir)
    for name, why in missing.items():
        print(f"suite {name!r} is not available here ({why})", file=sys.stderr)
    count = build_board(board, suites, board.parent)
    print(f"built {board / 'README.md'} and {board / 'index.html'} from {count} submissions")
    return 0


@subcommand(
    ("leaderboard", "build"),
    "write the board's README.md and index.html from the valid submissions",
    "peppp-bench leaderboard build --board leaderboard",
)
def _leaderboard_build_args(p: argparse.ArgumentParser) -> Handler:
    _board_args(p)
    return _leaderboard_build


def _leaderboard_agreement(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from .board.agreement import agreement_markdown, ranking_agreement

    board = json.loads((Path(args.board) / "board.json").read_text())
    table = ranking_agreement(pd.DataFrame(board["cells"]), args.suite, args.reference)
    print(agreement_markdown(table, args.suite, args.reference))
    return 0


@subcommand(
    ("leaderboard", "agreement"),
    "whether a suite ranks methods like another (Kendall τ per board cell, from board.json)",
    "peppp-bench leaderboard agreement mini --reference paper",
)
def _leaderboard_agreement_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("suite", help="the suite whose ranking is checked")
    p.add_argument("--reference", default="paper", help="the suite it should rank like (default: paper)")
    p.add_argument("--board", default="leaderboard", help="leaderboard folder holding board.json")
    return _leaderboard_agreement


def _seed_noise(suite: str, data_dir: str | None) -> float | None:
    """The HyperDiff of a seed replicate's frontier (the suite's structure report), if the suite is at hand."""
    from .suites.sources import load
    from .suites.suite import SuiteError

    try:
        bench = load(suite, data_dir=data_dir, offline=True)
    except SuiteError:
        return None
    return bench.metadata["structure"].get("seed_noise_hyperdiff")


def _plot(args: argparse.Namespace) -> int:
    from .board import plots
    from .board.leaderboard import read_submissions
    from .suites.sources import load

    out = Path(args.out)
    if args.kind == "study":
        subs = read_submissions(Path(args.board) / "submissions", args.suite)
        if not subs:
            raise ValueError(f"no submissions for suite {args.suite!r} in {args.board}/submissions")
        paths = plots.study_figures(subs, out, {args.suite: _seed_noise(args.suite, args.data_dir)})
    else:
        bench = load(args.suite, data_dir=args.data_dir)
        if args.kind == "frontier":
            paths = plots.frontier_figure(bench, args.dataset or bench.dataset_ids[0], out)
        else:
            paths = {"spectrum": plots.spectrum_figure, "kendall": plots.kendall_figure, "bits": plots.bits_figure}[
                args.kind
            ](bench, out)
    for p in paths:
        print(p)
    return 0


@subcommand(
    ("plot",),
    "figures: frontier, spectrum, kendall, bits (a suite's data) or study (submissions)",
    "peppp-bench plot spectrum --suite mini --out figures",
)
def _plot_args(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("kind", choices=["frontier", "spectrum", "kendall", "bits", "study"], help="which figure")
    _suite_args(p)
    p.add_argument("--dataset", help="dataset id for `frontier` (default: the first)")
    p.add_argument("--board", default="leaderboard", help="leaderboard folder for `study`")
    p.add_argument("--out", default="figures", help="output folder (PNG and SVG)")
    return _plot


def parser() -> argparse.ArgumentParser:
    """Every subcommand, each declared beside its handler with `@subcommand`."""
    from . import __version__

    p = argparse.ArgumentParser(prog="peppp-bench", description=__doc__)
    p.add_argument("--version", action="version", version=f"peppp-bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    groups: dict[str, Any] = {}
    for path, summary, example, declare in SUBCOMMANDS:
        if len(path) == 2 and path[0] not in groups:
            summary_, example_ = GROUPS[path[0]]
            groups[path[0]] = _command(sub, path[0], summary_, example_).add_subparsers(dest="action", required=True)
        command = _command(groups[path[0]] if len(path) == 2 else sub, path[-1], summary, example)
        command.set_defaults(handler=declare(command))
    return p


def _limits(args: argparse.Namespace) -> object:
    from .protocol.sandbox import Limits

    return Limits(seconds_per_fold=args.seconds_per_fold, memory_bytes=int(args.memory_gib * (1 << 30)))


def _run(methods: list[Any], args: argparse.Namespace) -> Any:
    """`evaluate` of `methods` on the suite, settings, budgets, seeds and limits the command line names."""
    from .protocol.runner import evaluate

    return evaluate(
        methods,
        args.suite,
        settings=_settings(args),
        budgets=_int_list(args.budgets),
        seeds=_int_list(args.seeds),
        workers=args.workers,
        progress=not args.quiet,
        data_dir=args.data_dir,
        limits=_limits(args),
        holdout=args.holdout,
    )


def _limit_args(p: argparse.ArgumentParser) -> None:
    from .protocol.sandbox import Limits

    p.add_argument(
        "--seconds-per-fold",
        type=float,
        default=Limits.seconds_per_fold,
        help="wall-time limit of one method on one fold (all its budgets)",
    )
    p.add_argument(
        "--memory-gib", type=float, default=Limits.memory_bytes / (1 << 30), help="address-space limit of a method"
    )


def _suite_args(p: argparse.ArgumentParser) -> None:
    from .suites.sources import DEFAULT_SUITE

    p.add_argument("--suite", default=DEFAULT_SUITE, help=f"suite name (default: {DEFAULT_SUITE}, bundled)")
    _data_dir_arg(p)


def _command(subs: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A subcommand with its one-line help and an example invocation shown under its options."""
    return subs.add_parser(name, help=summary, epilog=f"example: {example}")


def _protocol_args(p: argparse.ArgumentParser) -> None:
    """The suite, settings, budgets, seeds, workers and method parameters of a run (evaluate, submit)."""
    _suite_args(p)
    p.add_argument(
        "--settings",
        default="standard",
        help="comma-separated, or standard: I-VI (and X, XII on a multi-architecture suite)",
    )
    p.add_argument("--budgets", default="5,10,15", help="budgets n, e.g. 5-15 or 5,10,15 (default, the board's)")
    p.add_argument("--seeds", default="0-9", help="mask and method seeds, e.g. 0 (default 0-9, the board's)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter, e.g. rank=5")
    p.add_argument(
        "--holdout",
        choices=["auto", "loo", "groups"],
        default="auto",
        help="tasks held out one at a time (loo) or in groups that leave 95%% of them to meta-train; default auto, "
        "the board's: groups above 200 tasks",
    )


def _board_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default="leaderboard", help="leaderboard folder (default: leaderboard)")
    _data_dir_arg(p)


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", default=None, help="folder of suite folders (default: $PEPPP_BENCH_DATA_DIR, bundled, cache, Hub)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (KeyError, ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"peppp-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
