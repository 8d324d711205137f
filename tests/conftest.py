"""Shared fixtures: the upstream arrays, the paper suite built once per session, a loopback Hub."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = Path(os.environ.get("PEPPP_BENCH_UPSTREAM", ROOT.parent / "shared" / "upstream" / "peppp"))
HUB_STANDIN = ROOT.parent / "shared" / "tools" / "hub_standin.py"
# huggingface_hub reads HF_HUB_OFFLINE once, when first imported: import it before any test sets it, so that a
# test that switches the Hub off (test_download.py) does not switch it off for the rest of the session.
import huggingface_hub.constants  # noqa: E402, F401

# qtorch compiles its C++ extension once (~50 s); keep it in the checkout's cache, not in /tmp.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".cache" / "torch_extensions"))


# A researcher's method in a file of its own, for the submission and CLI tests.
USER_METHOD = '''
"""Predict the mean of the cheapest measurements (a deliberately simple submission)."""
import numpy as np
from peppp_bench import Method


class CheapMean(Method):
    name = "cheap-mean"
    nested = True

    def select(self, task, oracle):
        for j in task.valid[np.argsort(task.test_memory[task.valid], kind="stable")][: task.budget]:
            oracle.measure(int(j))

    def predict(self, task, measured):
        return np.full(len(task.valid), np.mean([m.error for m in measured]))
'''


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authors' released arrays: ../shared/upstream/peppp or $PEPPP_BENCH_UPSTREAM, else the package's
    pinned download. Without either, the tests that need them are skipped, saying how to provide them
    (in CI, where ../shared is always beside the checkout, they fail instead)."""
    if (UPSTREAM / "acc_matrix_res64_all.npy").is_file():
        return UPSTREAM
    if os.environ.get("CI"):
        pytest.fail(f"the authors' released arrays are expected in {UPSTREAM} (set PEPPP_BENCH_UPSTREAM)")
    from peppp_bench.suites.build import UPSTREAM_FILES
    from peppp_bench.suites.download import download_upstream

    files = sorted({f for names in UPSTREAM_FILES.values() for f in names})
    try:
        return download_upstream(files, dest=tmp_path_factory.mktemp("upstream"), timeout=20.0)
    except Exception as exc:  # no network, a mirror that refuses: skip, never fail, on a user's machine
        pytest.skip(
            f"needs the authors' released arrays: not in {UPSTREAM} and the pinned download failed "
            f"({type(exc).__name__}); set PEPPP_BENCH_UPSTREAM=DIR to a folder holding them"
        )


@pytest.fixture(scope="session")
def os_sandbox() -> None:
    """Bubblewrap, which `leaderboard validate` needs to re-run submissions: skipped without it (with how to
    install it), except in CI, which installs it and runs every test."""
    from peppp_bench.protocol import boundary

    if not boundary.available():
        if os.environ.get("CI"):
            pytest.fail(f"CI runs methods behind bubblewrap: {boundary.INSTALL_HINT}")
        pytest.skip(f"needs bubblewrap, the OS sandbox: {boundary.INSTALL_HINT}")


@pytest.fixture(scope="session")
def suites_dir(upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of suite folders holding `paper` and `paper-lr`, built from the released arrays."""
    from peppp_bench.suites.build import build_paper, build_paper_lr

    root = tmp_path_factory.mktemp("suites")
    build_paper(upstream, root / "paper")
    build_paper_lr(upstream, root / "paper-lr")
    return root


@pytest.fixture(scope="session")
def paper(suites_dir: Path):
    import peppp_bench

    return peppp_bench.load("paper", data_dir=suites_dir)


@pytest.fixture(scope="session")
def hub_url() -> str:
    """A loopback stand-in of the Hugging Face Hub HTTP API, for the whole session (from ../shared/tools:
    without it, the tests that need it are skipped, except in CI)."""
    if not HUB_STANDIN.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the Hub stand-in is expected at {HUB_STANDIN}")
        pytest.skip(f"needs the loopback Hub stand-in {HUB_STANDIN} (in the project's shared tools)")
    spec = importlib.util.spec_from_file_location("hub_standin", HUB_STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server, url = module.serve(0)
    yield url
    server.shutdown()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's data dir, cache or Hub settings."""
    for var in (
        "PEPPP_BENCH_DATA_DIR",
        "PEPPP_BENCH_REPO_ID",
        "PEPPP_BENCH_HUB_ENDPOINT",
        "PEPPP_BENCH_OFFLINE",
        "HF_HUB_OFFLINE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PEPPP_BENCH_CACHE", str(tmp_path / "hf-cache"))


def submit_args(data: Path, board: Path, budgets: str = "5,10,15", seeds: str = "0-9") -> list[str]:
    """The options every test submission to a test board uses: the tiny suite, the standard budgets and
    seeds, one worker, quiet."""
    return [
        "--suite",
        "tiny",
        "--data-dir",
        str(data),
        "--board",
        str(board),
        "--budgets",
        budgets,
        "--seeds",
        seeds,
        "--workers",
        "1",
        "--quiet",
    ]


def retrain_unit(spec_path: Path, task_id: str, seed: int, unit_index: int = 0) -> list:
    """Re-train one unit of a committed spec exactly as generated (one torch thread, the run used
    workers × 1 thread): CPU training is deterministic given seed, threads and unit, so its cells must
    equal the committed ones. Returns the unit's cells."""
    torch = pytest.importorskip("torch")
    from peppp_bench.generate.backends import run_unit
    from peppp_bench.generate.spec import read_spec

    spec = read_spec(spec_path)
    unit = [u for u in spec.units() if u.task.id == task_id and u.seed == seed][unit_index]
    threads = torch.get_num_threads()
    try:
        return list(run_unit(spec.text, spec.base, unit, "cpu", 1))
    finally:
        torch.set_num_threads(threads)


def make_tiny_suite(out: Path) -> Path:
    from peppp_bench.suites.synthetic import synthetic_suite

    return synthetic_suite(out)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    import peppp_bench

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_suite(root / "tiny")
    return peppp_bench.load("tiny", data_dir=root)
