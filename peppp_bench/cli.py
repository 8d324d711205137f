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


def _evaluate(args: argparse.Namespace) -> int:
    import json

    import baselines

    from .methods import make_method
    from .runner import evaluate

    params = _method_params(args.param)
    specs = list(baselines.BASELINES) if args.method == "all" else args.method.split(",")
    methods = [make_method(spec, **params) for spec in specs]
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
    failed = results[results.status != "ok"]
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
    computed, seconds = generate(spec, store, args.backend, args.workers, args.address, args.device, not args.quiet,
)
    if computed:
        store.log_run({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "seconds": round(seconds, 1),
                       "cells": computed, "backend": args.backend, "workers": args.workers, "device": args.device})
    print(f"computed {computed} cells in {seconds:.0f} s")
    if args.to_suite:
        command = " ".join(["peppp-bench generate", args.spec, "--store", args.store, "--to-suite", args.to_suite])
        folder = store_to_suite(store, Path(args.to_suite), command)
        print(f"suite written to {folder}")
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
