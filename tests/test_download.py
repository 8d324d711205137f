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


class _Hostile(SimpleHTTPRequestHandler):
    """A mirror that sends an endless body (`/big/...`) or one byte every half second (`/slow/...`)."""

    sent = 0  # bytes of the endless body written before the client hung up

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the handler's API
        import time

        self.send_response(200)
        self.end_headers()
        try:
            for _ in range(10_000):  # bounded (655 MB or 10,000 s at most): the server stops by itself
                if self.path.startswith("/big/"):
                    self.wfile.write(b"\0" * (1 << 16))
                    type(self).sent += 1 << 16
                else:
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass


def test_a_hostile_mirror_can_neither_exhaust_memory_nor_hang_the_download(tmp_path: Path) -> None:
    from peppp_bench.suites.build import UpstreamError
    from peppp_bench.suites.download import download_upstream

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        dest = tmp_path / "new" / "upstream"
        with pytest.raises(UpstreamError, match="larger than the released file"):
            download_upstream(["acc_matrix_res64_all.npy"], dest=dest, base_url=f"{url}/big")
        server.shutdown()  # the handler ends once the client has hung up: it has counted what it sent
        assert _Hostile.sent < 64 << 20  # cut off at the pinned size (plus socket buffers), not the 655 MB sent
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(UpstreamError, match="not downloaded within 2 s"):  # each byte comes within `timeout`
            download_upstream(["acc_matrix_res64_all.npy"], dest=dest, base_url=f"{url}/slow", timeout=5, deadline=2)
        assert not (tmp_path / "new").exists()  # nothing left behind, not even the folders it made
    finally:
        server.shutdown()


def test_load_paper_is_one_call_where_the_hub_has_no_copy(
    mirror: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("PEPPP_BENCH_HUB_ENDPOINT", "http://127.0.0.1:9")  # the Hub: nothing listens
    bench = peppp_bench.load("paper")
    assert bench.E.shape == (87, 99) and bench.folder == (built_cache() / "paper").resolve()
    assert "not on the Hub" in capsys.readouterr().err
    (upstream_cache() / "acc_matrix_res64_all.npy").unlink()  # a second call loads from the cache: no download
    monkeypatch.setenv("PEPPP_BENCH_UPSTREAM_URL", "http://127.0.0.1:9")
    assert peppp_bench.load("paper").data_sha256 == bench.data_sha256


def test_load_paper_offline_is_one_error_with_the_two_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    for offline in ("HF_HUB_OFFLINE", None):  # switched off, and a machine where nothing answers
        if offline:
            monkeypatch.setenv(offline, "1")
        else:
            monkeypatch.delenv("HF_HUB_OFFLINE")
            monkeypatch.setenv("PEPPP_BENCH_HUB_ENDPOINT", "http://127.0.0.1:9")
            monkeypatch.setenv("PEPPP_BENCH_UPSTREAM_URL", "http://127.0.0.1:9")
        with pytest.raises(peppp_bench.SuiteError) as caught:
            peppp_bench.load("paper")
        error = caught.value
        assert error.__cause__ is None and error.__suppress_context__, "one error, no chained traceback"
        assert "PEPPP_BENCH_UPSTREAM_URL" in str(error) and "peppp-bench build paper --upstream DIR" in str(error)
        assert not (built_cache() / "paper").exists()
