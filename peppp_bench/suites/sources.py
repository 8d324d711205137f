"""Where suites come from and `load()`: explicit folder, PEPPP_BENCH_DATA_DIR, bundled, cache, Hub."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProtocolViolation
from .build import BUILDERS, UpstreamError
from .hub import DEFAULT_REPO_ID, HubLocation, HubUnavailable, cached_folder, fetch, offline_by_default
from .suite import Benchmark, SuiteError, read_suite

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_SUITE = "mini"  # bundled, so the default works offline on a fresh install (Python and CLI alike)


@dataclass(frozen=True)
class SuiteSource:
    """A named suite: its pinned Hub revision and the fingerprint its data must have."""

    name: str
    revision: str
    data_sha256: str
    description: str


# Pins: the tag each suite is published under, and the fingerprint its data must have (built from the
# authors' arrays, so a rebuilt or downloaded suite is checked to be exactly the published one).
SUITES: dict[str, SuiteSource] = {
    "paper": SuiteSource(
        "paper",
        "paper-v1.1.0",
        "f796d0822ffb4ca5d0b8c6f1701786de2c306ffb93df49b97c0820c819bfa39e",
        "87 × 99 error/memory of the PEPPP paper",
    ),
    "paper-lr": SuiteSource(
        "paper-lr",
        "paper-lr-v1.1.0",
        "eb010204680481fc3aaa02c2f07c15dd3a1990b88669a46e6296cdc6dd3db9c8",
        "45 × 99 learning-rate study of the paper",
    ),
}


def data_dir_from_env() -> Path | None:
    value = os.environ.get("PEPPP_BENCH_DATA_DIR")
    return Path(value) if value else None


def _find(folder: Path, name: str, itself: bool = False) -> Path | None:
    """`folder/name` if that is a suite folder; with `itself`, else `folder` if it is one (name checked later)."""
    for candidate in (folder / name, folder) if itself else (folder / name,):
        if (candidate / "metadata.json").is_file():
            return candidate
    return None


def hub_location(
    name: str,
    repo_id: str | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | None = None,
) -> HubLocation:
    if revision is None:
        if name not in SUITES:
            raise KeyError(f"unknown suite {name!r}: known suites are {sorted(SUITES)}; pass revision= for another")
        revision = SUITES[name].revision
    return HubLocation(
        repo_id=repo_id or os.environ.get("PEPPP_BENCH_REPO_ID") or DEFAULT_REPO_ID,
        revision=revision,
        endpoint=endpoint or os.environ.get("PEPPP_BENCH_HUB_ENDPOINT") or None,
        cache_dir=cache_dir,
    )


def load(
    name: str = DEFAULT_SUITE,
    *,
    data_dir: str | Path | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | None = None,
    offline: bool | None = None,
) -> Benchmark:
    """Load suite `name` as a Benchmark.

    Resolution order: `data_dir` (a suite folder or a folder of suite folders), then
    `PEPPP_BENCH_DATA_DIR`, then the suites bundled with the package, then the suites that
    `peppp-bench build` made from downloaded arrays (in the cache), then the Hub cache, then the Hub
    at the suite's pinned revision (`repo_id`/`PEPPP_BENCH_REPO_ID`, `revision`, `endpoint`). Where the
    Hub has no copy of `paper` or `paper-lr`, they are built from the authors' sha256-pinned arrays into
    the cache. Every file is checked against the suite's manifest.
    """
    if data_dir is not None:
        folder = _find(Path(data_dir), name, itself=True)
        if folder is None:
            raise SuiteError(f"no suite {name!r} in {data_dir} (expected {Path(data_dir) / name}/metadata.json)")
        return _checked(read_suite(folder), name)
    from .download import built_cache

    for root in (data_dir_from_env(), BUNDLED_DIR, built_cache()):
        if root is not None and (folder := _find(root, name)) is not None:
            return _checked(read_suite(folder), name)
    if name not in SUITES and revision is None:
        raise KeyError(f"unknown suite {name!r}: known suites are {sorted(set(SUITES) | set(bundled_suites()))}")
    where = hub_location(name, repo_id, revision, endpoint, cache_dir)
    offline = offline_by_default() if offline is None else offline
    if name not in BUILDERS or revision is not None or repo_id is not None:
        return _checked(read_suite(fetch(name, where, offline)), name)
    try:  # the published suite, else built from the authors' arrays (sha256-pinned) into the cache
        folder = fetch(name, where, offline)
    except SuiteError as hub:
        folder = _build_from_download(name, where, offline, hub)
    return _checked(read_suite(folder), name)


def _build_from_download(name: str, where: HubLocation, offline: bool, hub: SuiteError) -> Path:
    """Suite `name` built from the pinned download into the cache; else one error with the two ways out."""
    from .download import build_into_cache, upstream_url

    ways_out = (
        f"two ways to get it: connect to the internet (or set PEPPP_BENCH_UPSTREAM_URL to a mirror of "
        f"{upstream_url('').rsplit('/', 1)[0]}/) and load again, which downloads the authors' arrays "
        f"(sha256-pinned) and builds the suite into the cache; or, with a copy of the arrays, run "
        f"`peppp-bench build {name} --upstream DIR` and load again"
    )
    if offline:
        raise HubUnavailable(f"suite {name!r} is not here and this session is offline; {ways_out}") from None
    print(f"suite {name!r}: not on the Hub ({where.repo_id}@{where.revision}); building it", file=sys.stderr)
    try:
        return build_into_cache(name, progress=True)
    except (UpstreamError, OSError) as exc:
        raise HubUnavailable(
            f"suite {name!r} is not here, the Hub has no copy ({type(hub).__name__}) and the authors' arrays "
            f"could not be downloaded ({exc}); {ways_out}"
        ) from None


_PROTECTED: set[str] = set()  # data fingerprints of suites whose held-out rows a running method must not read


@contextmanager
def protected(data_sha256: str) -> Iterator[None]:
    """While a method runs, loading the suite under evaluation is peeking and raises."""
    _PROTECTED.add(data_sha256)
    try:
        yield
    finally:
        _PROTECTED.discard(data_sha256)


def _checked(bench: Benchmark, name: str) -> Benchmark:
    if bench.data_sha256 in _PROTECTED:
        raise ProtocolViolation(f"peeking: a method loaded suite {name!r} while being evaluated on it")
    if bench.name != name:
        raise SuiteError(f"asked for suite {name!r} but the folder holds suite {bench.name!r}")
    pin = SUITES.get(name)
    if pin is not None and pin.data_sha256 and bench.data_sha256 != pin.data_sha256:
        raise SuiteError(
            f"suite {name!r} holds data {bench.data_sha256[:12]}…, but this package pins {pin.data_sha256[:12]}…: "
            "it is not the published suite (rebuild it from the released arrays)"
        )
    return bench


def bundled_suites() -> list[str]:
    return (
        sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "metadata.json").is_file()) if BUNDLED_DIR.is_dir() else []
    )


def suite_status(cache_dir: str | None = None) -> list[dict[str, str]]:
    """One row per known suite: version pin and where it would load from now (for `peppp-bench info`)."""
    from .download import built_cache

    rows = []
    env_dir = data_dir_from_env()
    for name in sorted(set(SUITES) | set(bundled_suites())):
        if env_dir is not None and (local := _find(env_dir, name)) is not None:
            status = f"local: {local}"
        elif name in bundled_suites():
            status = "bundled with the package"
        elif cached_folder(name, hub_location(name, cache_dir=cache_dir)) is not None:
            status = "cached"
        elif (built_cache() / name / "manifest.json").is_file():
            status = f"built: {built_cache() / name}"
        else:
            how = f"`peppp-bench build {name}` makes it, or " if name in BUILDERS else ""
            status = f"not here: {how}it downloads from the Hub on first load"
        pin = SUITES.get(name)
        rows.append(
            {
                "suite": name,
                "revision": pin.revision if pin else "-",
                "status": status,
                "description": pin.description if pin else "bundled",
            }
        )
    return rows
