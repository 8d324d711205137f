"""Hugging Face Hub transport: download a suite folder into the cache (verified), and publish one.

Suites live as top-level folders (`paper/`, `paper-lr/`, ...) of one dataset repository. Every
downloaded file is checked against the suite's manifest; a corrupt cached file is re-fetched, and a
failed download never deletes what the cache holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .build import BUILDERS
from .suite import DATA_FILES, SuiteError, read_suite, verify_suite

DEFAULT_REPO_ID = "peppp-bench/peppp-bench"
REPO_TYPE = "dataset"


class HubUnavailable(SuiteError):
    """The suite is not cached and the Hub cannot be reached (or is switched off)."""


@dataclass(frozen=True)
class HubLocation:
    """Where a suite lives on the Hub: repository, pinned revision (tag or commit sha), endpoint."""

    repo_id: str
    revision: str
    endpoint: str | None = None
    cache_dir: str | None = None


def package_cache_dir() -> str:
    """The package's own cache: `PEPPP_BENCH_CACHE`, else the user cache folder (platformdirs), never inside
    huggingface_hub's managed cache."""
    from platformdirs import user_cache_dir

    return os.environ.get("PEPPP_BENCH_CACHE") or user_cache_dir("peppp-bench", appauthor=False)


def default_cache_dir() -> str:
    """Where Hub snapshots of suites are kept: `hub/` inside the package's own cache."""
    return os.path.join(package_cache_dir(), "hub")


def offline_by_default() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or os.environ.get(
        "PEPPP_BENCH_OFFLINE", ""
    ).lower() in ("1", "true", "yes")


def _snapshot(name: str, where: HubLocation, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    root = snapshot_download(
        where.repo_id,
        repo_type=REPO_TYPE,
        revision=where.revision,
        cache_dir=where.cache_dir or default_cache_dir(),
        allow_patterns=[f"{name}/*"],
        local_files_only=local_only,
        endpoint=where.endpoint,
    )
    return Path(root) / name


def _refetch(name: str, files: list[str], where: HubLocation) -> None:
    from huggingface_hub import hf_hub_download

    for f in files:
        try:
            hf_hub_download(
                where.repo_id,
                f"{name}/{f}",
                repo_type=REPO_TYPE,
                revision=where.revision,
                cache_dir=where.cache_dir or default_cache_dir(),
                force_download=True,
                endpoint=where.endpoint,
            )
        except ValueError as exc:  # huggingface_hub reports a failed forced download as ValueError
            raise OSError(f"re-download of {name}/{f} failed: {exc.__cause__ or exc}") from exc


def cached_folder(name: str, where: HubLocation) -> Path | None:
    """The cached suite folder for this pinned revision, or None; never touches the network."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = _snapshot(name, where, local_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
    return folder if (folder / "manifest.json").is_file() else None


def fetch(name: str, where: HubLocation, offline: bool) -> Path:
    """A verified local folder of suite `name`: from the cache, else downloaded; corrupt files re-fetched."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    how_to = (
        (
            f"to get it, run `peppp-bench build {name}` (downloads the authors' released arrays, sha256-pinned, and "
            f"builds it into the cache, where load() finds it), or "
            if name in BUILDERS  # suites `peppp-bench build` makes from the authors' released arrays
            else "to get it, "
        )
        + f"connect to the Hub (repository {where.repo_id}, revision {where.revision})"
        + (
            f", or build it from a local copy of the arrays "
            f"(`peppp-bench build {name} --upstream DIR --out DATA_DIR/{name}`) "
            "and pass data_dir=DATA_DIR or set PEPPP_BENCH_DATA_DIR=DATA_DIR"
            if name in BUILDERS  # suites `peppp-bench build` makes from the authors' released arrays
            else ""
        )
    )
    folder = cached_folder(name, where)
    try:
        if folder is None:
            if offline:
                raise HubUnavailable(
                    f"suite {name!r} is not in the cache and the Hub is switched off (offline); {how_to}"
                )
            folder = _snapshot(name, where, local_only=False)
            if not (folder / "manifest.json").is_file():
                raise SuiteError(f"{where.repo_id}@{where.revision} has no suite folder {name!r}/ with a manifest.json")
        bad = verify_suite(folder)
        if bad:
            if offline:
                raise HubUnavailable(
                    f"cached suite {name!r} is corrupt ({', '.join(bad)}) and the Hub is switched off; {how_to}"
                )
            _refetch(name, ["manifest.json", *DATA_FILES] if "manifest.json" in bad else bad, where)
            bad = verify_suite(folder)
            if bad:
                raise SuiteError(
                    f"suite {name!r} at {where.repo_id}@{where.revision}: {', '.join(bad)} "
                    "still do not match the manifest after re-download"
                )
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise SuiteError(
            f"suite {name!r}: the Hub has no {where.repo_id}@{where.revision} ({type(exc).__name__}); {how_to}"
        ) from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise HubUnavailable(
            f"suite {name!r} could not be downloaded ({type(exc).__name__}: {exc}); "
            f"the cache was left as it was; {how_to}"
        ) from exc
    return folder


def publish(
    folder: Path, repo_id: str, tag: str | None = None, endpoint: str | None = None, token: str | None = None
) -> str:
    """Upload a built suite folder to `repo_id` as `<suite name>/` in one commit; return the commit sha.

    Creates the dataset repository if missing and tags the commit (`tag`), so loaders can pin it.
    """
    from huggingface_hub import HfApi

    bench = read_suite(folder)  # refuses a corrupt or incomplete folder before anything is uploaded
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type=REPO_TYPE, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        repo_type=REPO_TYPE,
        folder_path=str(folder),
        path_in_repo=bench.name,
        commit_message=f"Publish suite {bench.name} v{bench.version} (data {bench.data_sha256[:12]})",
    )
    if tag:
        api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type=REPO_TYPE)
    return str(info.oid)
