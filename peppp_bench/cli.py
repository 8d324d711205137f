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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (KeyError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"peppp-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
