"""`peppp-bench build paper` with no --upstream: the released arrays downloaded from a loopback mirror of
the authors' repository, sha256-checked, built into the cache, and loaded with no Hub and no ../shared."""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import peppp_bench
from peppp_bench.cli import main
from peppp_bench.suites.build import UPSTREAM_FILES
from peppp_bench.suites.download import UPSTREAM_COMMIT, UPSTREAM_REPOSITORY, built_cache, upstream_cache


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def mirror(upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A loopback HTTP server laid out like the repository's raw files; yields the data folder it serves."""
    root = tmp_path / "www"
    data = root / UPSTREAM_REPOSITORY / UPSTREAM_COMMIT / "data"
    data.mkdir(parents=True)
    for name in set(UPSTREAM_FILES["paper"]) | set(UPSTREAM_FILES["paper-lr"]):
        shutil.copy(upstream / name, data / name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PEPPP_BENCH_UPSTREAM_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no Hub: load() must find the built suite in the cache
    yield data
    server.shutdown()


def test_build_downloads_checks_and_load_finds_it(mirror: Path, capsys) -> None:
    assert main(["build", "paper"]) == 0
    assert "downloading the released arrays" in capsys.readouterr().out
    bench = peppp_bench.load("paper")
    assert bench.E.shape == (87, 99) and bench.folder == (built_cache() / "paper").resolve()
    assert sorted(p.name for p in upstream_cache().iterdir()) == sorted(UPSTREAM_FILES["paper"])
    assert main(["build", "paper-lr"]) == 0 and peppp_bench.load("paper-lr").E.shape == (45, 99)


def test_a_tampered_download_is_refused_and_nothing_is_built(mirror: Path, capsys) -> None:
    target = mirror / "acc_matrix_res64_all.npy"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 1  # one bit of one accuracy
    target.write_bytes(bytes(raw))
    assert main(["build", "paper"]) == 2
    err = capsys.readouterr().err
    assert "acc_matrix_res64_all.npy has sha256" in err and "refused, nothing was built" in err
    assert not (built_cache() / "paper").exists() and not (upstream_cache() / "acc_matrix_res64_all.npy").exists()
    with pytest.raises(peppp_bench.SuiteError, match="offline"):
        peppp_bench.load("paper")


def test_an_unreachable_mirror_says_what_to_do(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PEPPP_BENCH_UPSTREAM_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    assert main(["build", "paper"]) == 2
    err = capsys.readouterr().err
    assert "could not download" in err and "--upstream DIR" in err
