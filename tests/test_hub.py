"""Publish → load round trips through a loopback Hub; cache, offline and corruption behaviour."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

import peppp_bench
from peppp_bench.cli import main
from peppp_bench.suites.hub import HubUnavailable
from peppp_bench.suites.suite import SuiteError


def _repo() -> str:
    return f"test-org/peppp-{uuid.uuid4().hex[:8]}"


def test_publish_then_load_by_tag_and_by_sha_then_offline(
    suites_dir: Path, hub_url: str, tmp_path: Path, capsys
) -> None:
    repo = _repo()
    assert (
        main(["publish", str(suites_dir / "paper"), "--repo-id", repo, "--tag", "paper-v1.1.0", "--endpoint", hub_url])
        == 0
    )
    sha = capsys.readouterr().out.split("at commit ")[1].split()[0]
    cache = str(tmp_path / "cache")
    by_tag = peppp_bench.load("paper", repo_id=repo, endpoint=hub_url, cache_dir=cache)  # default pin is the tag
    by_sha = peppp_bench.load("paper", repo_id=repo, revision=sha, endpoint=hub_url, cache_dir=cache)
    local = peppp_bench.load("paper", data_dir=suites_dir)
    assert by_tag.data_sha256 == by_sha.data_sha256 == local.data_sha256
    np.testing.assert_array_equal(by_tag.E, local.E)
    # Offline afterwards, with an unreachable endpoint: served from the cache.
    again = peppp_bench.load("paper", repo_id=repo, endpoint="http://127.0.0.1:9", cache_dir=cache, offline=True)
    np.testing.assert_array_equal(again.M, local.M)


def test_offline_with_empty_cache_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(HubUnavailable, match="offline.*peppp-bench build paper"):
        peppp_bench.load("paper", cache_dir=str(tmp_path / "empty"), offline=True)


def test_unreachable_hub_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HubUnavailable, match="could not be downloaded"):
        peppp_bench.load("paper", endpoint="http://127.0.0.1:9", cache_dir=str(tmp_path / "c"))


def _cached_cells(cache: Path) -> Path:
    return next(p for p in cache.rglob("cells.parquet") if "snapshots" in p.parts)


def test_corrupt_cached_file_is_refetched(suites_dir: Path, hub_url: str, tmp_path: Path) -> None:
    repo = _repo()
    main(["publish", str(suites_dir / "paper"), "--repo-id", repo, "--tag", "paper-v1.1.0", "--endpoint", hub_url])
    cache = tmp_path / "cache"
    good = peppp_bench.load("paper", repo_id=repo, endpoint=hub_url, cache_dir=str(cache))
    cells = _cached_cells(cache).resolve()
    cells.write_bytes(cells.read_bytes()[:-10] + b"corrupted!")
    # Offline, a corrupt file is never used silently ...
    with pytest.raises(HubUnavailable, match="corrupt"):
        peppp_bench.load("paper", repo_id=repo, endpoint=hub_url, cache_dir=str(cache), offline=True)
    # ... with a network error, the cache is kept as it is ...
    with pytest.raises(HubUnavailable, match="cache was left"):
        peppp_bench.load("paper", repo_id=repo, endpoint="http://127.0.0.1:9", cache_dir=str(cache))
    assert _cached_cells(cache).exists()
    # ... and online it is re-fetched.
    fixed = peppp_bench.load("paper", repo_id=repo, endpoint=hub_url, cache_dir=str(cache))
    np.testing.assert_array_equal(fixed.E, good.E)


def test_checksum_mismatch_in_a_local_folder(suites_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "paper"
    shutil.copytree(suites_dir / "paper", copy)
    (copy / "datasets.parquet").write_bytes(b"not parquet")
    with pytest.raises(SuiteError, match="datasets.parquet missing or not matching manifest"):
        peppp_bench.load("paper", data_dir=tmp_path)


def test_unknown_suite_and_wrong_revision(hub_url: str, suites_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown suite 'papr'"):
        peppp_bench.load("papr")
    repo = _repo()
    main(["publish", str(suites_dir / "paper"), "--repo-id", repo, "--endpoint", hub_url])
    with pytest.raises(SuiteError, match="has no"):
        peppp_bench.load("paper", repo_id=repo, revision="no-such-tag", endpoint=hub_url, cache_dir=str(tmp_path / "c"))


def test_environment_data_dir_and_info(suites_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PEPPP_BENCH_DATA_DIR", str(suites_dir))
    assert peppp_bench.load("paper-lr").E.shape == (45, 99)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "paper-lr" in out and f"local: {suites_dir / 'paper-lr'}" in out


def test_loading_and_evaluating_never_import_torch(suites_dir: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, peppp_bench, baselines; b = peppp_bench.load('paper', data_dir=sys.argv[1]); "
        "peppp_bench.evaluate(baselines.make('ed-mf'), b, settings=('I',), budgets=(5,), workers=1, progress=False, "
        "seeds=(0,)); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(suites_dir)], check=True)
