"""The `peppp-bench` command: one small handler per subcommand, each a thin call into the library."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _build(args: argparse.Namespace) -> int:
    from .build import BUILDERS

    out = Path(args.out) if args.out else _default_out(args.suite)
    folder = BUILDERS[args.suite](Path(args.upstream), out)
    from .suite import read_suite

    bench = read_suite(folder)
    print(f"built {bench!r} in {folder}\ndata_sha256 {bench.data_sha256}")
    return 0


def _default_out(name: str) -> Path:
    root = os.environ.get("PEPPP_BENCH_DATA_DIR")
    if not root:
        raise SystemExit("give --out DIR (or set PEPPP_BENCH_DATA_DIR, a folder of suite folders)")
    return Path(root) / name


def _publish(args: argparse.Namespace) -> int:
    from .hub import publish

    sha = publish(Path(args.folder), args.repo_id, tag=args.tag, endpoint=args.endpoint)
    print(f"published {args.folder} to {args.repo_id} at commit {sha}" + (f" (tag {args.tag})" if args.tag else ""))
    print(f"pin it: peppp_bench.load(NAME, repo_id={args.repo_id!r}, revision={sha!r})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from . import __version__
    from .hub import default_cache_dir
    from .sources import hub_location, suite_status

    print(f"peppp-bench {__version__}; cache {default_cache_dir()}; Hub repository {hub_location('paper').repo_id}")
    for row in suite_status():
        print(f"  {row['suite']:<10} {row['revision']:<18} {row['status']}  ({row['description']})")
    return 0


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
    """'all' (every baseline) or comma-separated method specifications."""
    import baselines

    return list(baselines.BASELINES) if text == "all" else text.split(",")


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from .methods import make_method
    from .runner import evaluate

    params = _method_params(args.param)
    methods = [make_method(spec, **params) for spec in _method_specs(args.method)]
    ev = evaluate(methods, args.suite, settings=args.settings.split(","), budgets=_int_list(args.budgets),
                  seeds=_int_list(args.seeds), workers=args.workers, progress=not args.quiet, data_dir=args.data_dir)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        ev.results.to_parquet(out, index=False)
        out.with_suffix(".meta.json").write_text(json.dumps(ev.meta, indent=2, sort_keys=True) + "\n")
        print(f"results: {out} ({len(ev.results)} rows); metadata: {out.with_suffix('.meta.json')}")
    _print_summary(ev.summary, ev.results)
    return 0


def _print_summary(summary, results) -> None:
    skipped = results[results.status == "skipped"]
    if len(skipped):
        print(f"{skipped.dataset_id.nunique()} datasets have no configuration under the memory cap: "
              f"{len(skipped)} capped fold-budgets skipped")
    failed = results[results.status == "failed"]
    shown = summary[summary.n.isin([5, 10, 15]) | (summary.n == summary.n.max())]
    cols = ["method", "setting", "n", "folds", "failed", "convergence_mean", "hyperdiff_mean", "regret_mean", "relative_memory_mean"]
    print(shown[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if len(failed):
        print(f"\n{len(failed)} fold-budgets failed; first reasons:")
        for reason in failed.reason.unique()[:5]:
            print(f"  {reason}")


def _study(args: argparse.Namespace) -> int:
    from .sources import load
    from .studies import meta_training_study

    bench = load(args.suite, data_dir=args.data_dir)
    table = meta_training_study(bench, args.kind, [float(r) for r in args.ratios.split(",")], _int_list(args.seeds), args.rank)
    if args.out:
        table.to_parquet(args.out, index=False)
        print(f"wrote {args.out} ({len(table)} rows)")
    print(table.groupby("ratio")[["relative_error", "convergence", "hyperdiff", "observed"]].mean().to_string(float_format=lambda x: f"{x:.4f}"))
    return 0


def _generate(args: argparse.Namespace) -> int:
    import time

    from .generate.backends import generate
    from .generate.spec import read_spec
    from .generate.store import Store
    from .generate.to_suite import store_to_suite

    spec = read_spec(args.spec)
    store = Store(args.store, spec)
    done, total = store.count()
    print(f"{spec.name} v{spec.version}: {len(spec.tasks)} tasks × {len(spec.config_ids)} configurations × "
          f"{len(spec.seeds)} seeds = {total} cells; {done} already in {args.store}")
    started = time.time()
    computed, seconds = generate(spec, store, args.backend, args.workers, args.address, args.device, not args.quiet)
    if computed:
        store.log_run({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "seconds": round(seconds, 1),
                       "cells": computed, "backend": args.backend, "workers": args.workers, "device": args.device})
    print(f"computed {computed} cells in {seconds:.0f} s")
    if args.to_suite:
        command = " ".join(["peppp-bench generate", args.spec, "--store", args.store, "--to-suite", args.to_suite])
        folder = store_to_suite(store, Path(args.to_suite), command)
        print(f"suite written to {folder}")
    return 0


def _replicates(args: argparse.Namespace) -> int:
    from .generate.spec import read_spec
    from .generate.store import Store
    from .generate.to_suite import add_replicates
    from .suite import read_suite

    stores = [Store(root, read_spec(Path(root) / "spec.toml")) for root in args.store]
    command = " ".join(["peppp-bench replicates", args.suite_folder, *(f"--store {s}" for s in args.store),
                        "--out", args.out, "--version", args.version] + (["--cap-rule", args.cap_rule] if args.cap_rule else []))
    folder = add_replicates(Path(args.suite_folder), stores, Path(args.out), args.version, args.cap_rule, command)
    structure = read_suite(folder).metadata["structure"]
    print(f"suite written to {folder}")
    for key, value in structure.items():
        if key.startswith("noise_"):
            print(f"  {key}: {value}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from .leaderboard import make_submission, write_submission
    from .methods import make_method
    from .runner import evaluate
    from .synthetic import smoke_benchmark

    board = Path(args.board)
    params = _method_params(args.param)
    specs = _method_specs(args.method)
    methods = [make_method(spec, **params) for spec in specs]
    if args.name and len(methods) == 1:
        methods[0].name = args.name  # type: ignore[misc]
    references = [_code_reference(spec, type(m).__name__, board, m.name) for spec, m in zip(specs, methods)]
    with tempfile.TemporaryDirectory() as tmp:  # the smoke run: seconds, on a synthetic suite
        smoke = evaluate(methods, smoke_benchmark(Path(tmp)), budgets=(4, 5), workers=1, progress=False)
    broken = smoke.results[smoke.results.status != "ok"]
    if len(broken):
        print(f"smoke run: {len(broken)} fold-budgets failed; first: {broken.reason.iloc[0]}", file=sys.stderr)
        return 1
    print(f"smoke run passed ({len(smoke.results)} fold-budgets on a synthetic suite)")
    if args.smoke:
        return 0
    ev = evaluate(methods, args.suite, settings=args.settings.split(","), budgets=_int_list(args.budgets),
                  seeds=_int_list(args.seeds), workers=args.workers, progress=not args.quiet, data_dir=args.data_dir)
    for method, (code, copy_from) in zip(methods, references):
        if copy_from is not None:
            (board / "methods").mkdir(parents=True, exist_ok=True)
            shutil.copy(copy_from, board.parent / code.split(":")[0])
        sub = make_submission(ev, method, authors=args.authors, description=args.description or type(method).__doc__ or "",
                              code=code)
        path = write_submission(sub, board / "submissions")
        print(f"wrote {path}")
    _print_ranks(board, ev.meta["suite"], [m.name for m in methods])
    return 0


def _code_reference(spec: str, cls: str, board: Path, name: str) -> tuple[str, Path | None]:
    """The submission's code reference, and the file to copy to the board's methods/ (if any).

    A baseline's name becomes baselines:Class; module:Class stays as given; a file outside the board
    is copied to leaderboard/methods/NAME.py so the board can re-run it."""
    if ":" not in spec:
        return f"baselines:{cls}", None
    if ".py:" not in spec:
        return spec, None
    path = Path(spec.split(":")[0]).resolve()
    if path.parent == (board / "methods").resolve():
        return f"{board.name}/methods/{path.name}:{cls}", None
    return f"{board.name}/methods/{name}.py:{cls}", path


def _print_ranks(board: Path, suite: str, names: list[str]) -> None:
    from .leaderboard import average_ranks, board as board_table, read_submissions

    folds = board_table(read_submissions(board / "submissions", suite))
    for setting in sorted(set(folds.setting), key=["I", "II", "III", "IV", "V", "VI"].index):
        ranks = average_ranks(folds[folds.setting == setting]).sort_values()
        for name in names:
            if name in ranks.index:
                place = list(ranks.index).index(name) + 1
                print(f"setting {setting}: {name} ranks {place} of {len(ranks)} (average rank {ranks[name]:.2f})")


def _suites_for(board: Path, data_dir: str | None) -> dict:
    import json

    from .sources import load

    names = set()
    for p in (board / "submissions").glob("*.json"):
        try:
            names.add(json.loads(p.read_text())["suite"]["name"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    # --data-dir first (the paper suite you built), then the usual places (bundled, cache, Hub).
    return {name: load(name, data_dir=data_dir if data_dir and (Path(data_dir) / name).is_dir() else None)
            for name in sorted(names)}


def _leaderboard(args: argparse.Namespace) -> int:
    import hashlib
    import json

    from .board_render import NOT_EMBEDDED, frontier_views, render
    from .leaderboard import check_all

    board = Path(args.board)
    suites = _suites_for(board, args.data_dir)
    verification_file = board / "verification.json"
    if args.action == "validate":
        checks = check_all(board / "submissions", suites, board.parent, rerun=not args.no_rerun)
        record = {}
        for c in checks:
            status = "valid" + (", verified" if c.verified else ", not re-run" if c.verified is None else "") if c.valid else "INVALID"
            print(f"{c.path}: {status}" + "".join(f"\n  - {p}" for p in c.problems))
            if c.valid and c.verified is not None:
                digest = hashlib.sha256((board / "submissions" / c.path).read_bytes()).hexdigest()
                record[c.path] = {"verified": c.verified, "submission_sha256": digest}
        if not args.no_rerun:
            verification_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        bad = [c for c in checks if not c.valid]
        print(f"{len(checks) - len(bad)} valid, {len(bad)} invalid")
        return 1 if bad else 0
    checks = check_all(board / "submissions", suites, board.parent, rerun=False)
    record = json.loads(verification_file.read_text()) if verification_file.exists() else {}
    subs, verified = [], {}
    for c in checks:
        if not c.valid:
            print(f"left off the board: {c.path}: {'; '.join(c.problems)}")
            continue
        raw = (board / "submissions" / c.path).read_bytes()
        sub = json.loads(raw)
        subs.append(sub)
        mark = record.get(c.path)
        fresh = mark is not None and mark["submission_sha256"] == hashlib.sha256(raw).hexdigest()
        verified[sub["method"]["name"] + "@" + sub["suite"]["name"]] = mark["verified"] if fresh else None
    frontiers = {name: frontier_views(bench) for name, bench in suites.items() if name not in NOT_EMBEDDED}
    noise = {name: {k: v for k, v in bench.metadata["structure"].items() if k.startswith("noise_")}
             for name, bench in suites.items()}
    markdown, page = render(subs, verified, frontiers, noise)
    (board / "README.md").write_text(markdown)
    (board / "index.html").write_text(page)
    print(f"built {board / 'README.md'} and {board / 'index.html'} from {len(subs)} submissions")
    return 0


def _noise_floor(suite: str, data_dir: str | None) -> float | None:
    """The suite's HyperDiff between seed replicates (its structure report), if the suite is at hand offline."""
    from .sources import load
    from .suite import SuiteError

    try:
        bench = load(suite, data_dir=data_dir, offline=True)
    except SuiteError:
        return None
    return bench.metadata["structure"].get("noise_floor_hyperdiff")


def _plot(args: argparse.Namespace) -> int:
    from . import plots
    from .leaderboard import read_submissions
    from .sources import load

    out = Path(args.out)
    if args.kind == "study":
        subs = read_submissions(Path(args.board) / "submissions", args.suite)
        if not subs:
            raise ValueError(f"no submissions for suite {args.suite!r} in {args.board}/submissions")
        paths = plots.study_figures(subs, out, {args.suite: _noise_floor(args.suite, args.data_dir)})
    else:
        bench = load(args.suite, data_dir=args.data_dir)
        if args.kind == "frontier":
            paths = plots.frontier_figure(bench, args.dataset or bench.dataset_ids[0], out)
        else:
            paths = {"spectrum": plots.spectrum_figure, "kendall": plots.kendall_figure, "bits": plots.bits_figure}[args.kind](bench, out)
    for p in paths:
        print(p)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peppp-bench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build a suite from the authors' released arrays")
    b.add_argument("suite", choices=["paper", "paper-lr"])
    b.add_argument("--upstream", required=True, help="folder of the released .npy arrays")
    b.add_argument("--out", help="suite folder to write (default: $PEPPP_BENCH_DATA_DIR/SUITE)")
    b.set_defaults(handler=_build)

    pub = sub.add_parser("publish", help="upload a built suite folder to a Hugging Face dataset repo")
    pub.add_argument("folder")
    pub.add_argument("--repo-id", required=True)
    pub.add_argument("--tag")
    pub.add_argument("--endpoint", default=os.environ.get("PEPPP_BENCH_HUB_ENDPOINT"))
    pub.set_defaults(handler=_publish)

    i = sub.add_parser("info", help="list suites, their pinned versions and cache status")
    i.set_defaults(handler=_info)

    e = sub.add_parser("evaluate", help="score selection methods by meta-LOOCV")
    e.add_argument("method", help="'all', baseline names (comma-separated), module:Class or path/file.py:Class")
    _suite_args(e)
    e.add_argument("--settings", default="I,II,III,IV,V,VI")
    e.add_argument("--budgets", default="5-15", help="e.g. 5-15 or 5,10,15")
    e.add_argument("--seeds", default="0")
    e.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    e.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter, e.g. rank=5")
    e.add_argument("--out", help="results table (.parquet); metadata goes beside it")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(handler=_evaluate)

    st = sub.add_parser("study", help="the meta-training study: completion quality versus sampling (Figures 9/10)")
    _suite_args(st)
    st.add_argument("--kind", choices=["uniform", "nonuniform"], default="uniform")
    st.add_argument("--ratios", default="0.05,0.1,0.2", help="sampling ratios (uniform) or maximum probabilities")
    st.add_argument("--seeds", default="0-2")
    st.add_argument("--rank", type=int, default=5)
    st.add_argument("--out", help="long table (.parquet)")
    st.set_defaults(handler=_study)

    g = sub.add_parser("generate", help="train the cells a spec names into a resumable store; optionally build a suite")
    g.add_argument("spec", help="generation spec (.toml)")
    g.add_argument("--store", required=True, help="store folder (resumes what is there)")
    g.add_argument("--backend", choices=["local", "ray"], default="local")
    g.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    g.add_argument("--workers", type=int, default=1, help="local worker processes")
    g.add_argument("--device", default="cpu", help="cpu, cuda, or auto (a GPU per Ray task when present)")
    g.add_argument("--to-suite", default=None, metavar="OUT", help="when complete, write the suite folder OUT")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(handler=_generate)

    r = sub.add_parser("replicates", help="write a suite again with seed replicates from finished stores (its noise floor)")
    r.add_argument("suite_folder", help="the suite folder whose cells the stores re-train with other seeds")
    r.add_argument("--store", action="append", required=True, help="a finished store (repeat for several)")
    r.add_argument("--out", required=True, help="suite folder to write (may be SUITE_FOLDER itself)")
    r.add_argument("--version", required=True, help="the new suite version")
    r.add_argument("--cap-rule", choices=["global-median", "row-median"], default=None, help="default: the suite's")
    r.set_defaults(handler=_replicates)

    sm = sub.add_parser("submit", help="run the full protocol on a method and write its leaderboard submission")
    sm.add_argument("method", help="path/to/file.py:Class, module:Class, a baseline's name, or 'all' baselines")
    sm.add_argument("--name", help="the method's name on the board (default: its class's `name`)")
    sm.add_argument("--authors", default="anonymous")
    sm.add_argument("--description", default="")
    sm.add_argument("--smoke", action="store_true", help="only the seconds-long smoke run on a synthetic suite")
    _suite_args(sm)
    sm.add_argument("--settings", default="I,II,III,IV,V,VI")
    sm.add_argument("--budgets", default="5-15")
    sm.add_argument("--seeds", default="0")
    sm.add_argument("--workers", type=int, default=None)
    sm.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    sm.add_argument("--board", default="leaderboard", help="leaderboard folder (submissions/, methods/)")
    sm.add_argument("--quiet", action="store_true")
    sm.set_defaults(handler=_submit)

    lb = sub.add_parser("leaderboard", help="validate submissions, or build the board (README.md, index.html)")
    lb.add_argument("action", choices=["validate", "build"])
    lb.add_argument("--board", default="leaderboard")
    lb.add_argument("--data-dir", default=None, help="folder of suite folders to check submissions against")
    lb.add_argument("--no-rerun", action="store_true", help="validate without re-running repository code")
    lb.set_defaults(handler=_leaderboard)

    pl = sub.add_parser("plot", help="figures: frontier, spectrum, kendall, bits (a suite's data) or study (submissions)")
    pl.add_argument("kind", choices=["frontier", "spectrum", "kendall", "bits", "study"])
    _suite_args(pl)
    pl.add_argument("--dataset", help="dataset id for `frontier` (default: the first)")
    pl.add_argument("--board", default="leaderboard", help="leaderboard folder for `study`")
    pl.add_argument("--out", default="figures", help="output folder (PNG and SVG)")
    pl.set_defaults(handler=_plot)
    return p


def _suite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="paper")
    p.add_argument("--data-dir", default=None, help="folder of suite folders (default: $PEPPP_BENCH_DATA_DIR, bundled, cache, Hub)")


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
