"""Shared fixtures: the upstream arrays, the paper suite built once per session, a loopback Hub."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = Path(os.environ.get("PEPPP_BENCH_UPSTREAM", ROOT.parent / "shared" / "upstream" / "peppp"))
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (a slow test's `seconds`, as measured on 2 cores), so that the processes of
    `-n auto` finish together instead of one of them running the longest test last."""
    items.sort(
        key=lambda item: -((marker.kwargs.get("seconds", 0)) if (marker := item.get_closest_marker("slow")) else 0)
    )


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
    """The project's loopback stand-in of the Hugging Face Hub HTTP API (tests/hub_mirror.py), for the session."""
    from tests.hub_mirror import serve

    server, url = serve(0)
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
        "--new-board",  # a test's own board: started where it is not yet
        "--budgets",
        budgets,
        "--seeds",
        seeds,
        "--workers",
        "1",
        "--quiet",
    ]


def retrain_unit(spec_path: Path, task_id: str, seed: int, unit_index: int = 0, configs: int | None = None) -> list:
    """Re-train one unit of a committed spec exactly as generated (one torch thread, the run used
    workers × 1 thread), or `configs` of its configurations drawn at random (PEPPP_BENCH_REGEN_SEED): a
    unit's configurations share their rounding bits, so each cell is the same trained with any others.
    Returns the cells."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from peppp_bench.generate.backends import run_unit
    from peppp_bench.generate.spec import read_spec

    spec = read_spec(spec_path)
    unit = [u for u in spec.units() if u.task.id == task_id and u.seed == seed][unit_index]
    if configs is not None:
        rng = np.random.default_rng(int(os.environ.get("PEPPP_BENCH_REGEN_SEED", "2026")))
        drawn = sorted(rng.choice(len(unit.config_ids), size=configs, replace=False))
        unit = dataclasses.replace(unit, config_ids=tuple(unit.config_ids[i] for i in drawn))
    threads = torch.get_num_threads()
    try:
        return list(run_unit(spec.text, spec.base, unit, "cpu", 1))
    finally:
        torch.set_num_threads(threads)


def seed_noise(bench, task_id: str) -> float:
    """Mean |error difference| between seeds of the same cell in a suite's replicates (seed 0 from its
    matrix, unless the suite has scoring seeds): of `task_id`'s replicated cells when it has 5 or more, else
    of all of them."""
    import numpy as np

    reps = bench.replicates.pivot_table(index=["dataset_id", "config_id"], columns="seed", values="error")
    if not bench.scoring_seeds:  # else the replicates hold every seed, and the matrix is their mean
        reps[0] = [bench.error.loc[d, c] for d, c in reps.index]
    if (reps.index.get_level_values(0) == task_id).sum() >= 5:
        reps = reps.loc[[task_id]]
    seeds = list(reps.columns)
    gaps = [(reps[a] - reps[b]).abs().dropna() for i, a in enumerate(seeds) for b in seeds[i + 1 :]]
    return float(np.concatenate(gaps).mean())


def assert_reproduced(cells: list, committed: dict, trained_on: dict | None, noise: float) -> None:
    """A re-trained unit against its committed errors. CPU kernels differ by processor and instruction set
    (measured: 12 of 33 cells of a modern-mini unit differ between two x86 machines with the same packages),
    so cells must equal bit for bit where every committed cell was trained on this kind of CPU
    (`trained_on`: the suite's cells_by_cpu) and elsewhere agree within seed noise: mean |difference|
    over the unit at most `noise`, the suite's mean |difference| between seeds of a cell."""
    gaps = [abs(c.error - committed[c.config_id]) for c in cells]
    exact = sum(g == 0 for g in gaps)
    here = cells[0].provenance["cpu"]
    if trained_on is not None and set(trained_on) == {here}:
        assert exact == len(cells), f"{len(cells) - exact} of {len(cells)} cells differ on the generating CPU"
    else:
        mean = sum(gaps) / len(gaps)
        assert mean <= noise, f"mean |difference| {mean:.4f} > seed noise {noise:.4f} ({exact} of {len(cells)} equal)"


BOARD_ROWS = 5  # the test boards' tiny suite: every re-run of a standard submission costs per row


def assert_criteria_recomputed(bench) -> None:
    """A suite's structure report meets the structure criteria, and the same analyses recomputed from its
    replicates agree: the two-way interaction, the share of tasks whose seed halves (the first half of its
    seeds against the second) agree at τ ≥ 0.5, no identical columns."""
    import numpy as np

    from peppp_bench.suites.structure import duplicate_columns, seed_group_tau, two_way
    from peppp_bench.suites.suite import replicate_cube

    s = bench.metadata["structure"]
    assert s["two_way_configuration_p"] < 1e-6 and s["two_way_interaction_over_noise"] >= 3
    assert s["seed_split_tau_share_at_least_0_5"] >= 0.8 and s["duplicate_column_groups"] == 0
    columns = list(bench.error.columns)
    cube = np.moveaxis(replicate_cube(bench.replicates, bench.dataset_ids, columns, True), 0, 2)
    assert two_way(cube)["interaction_over_noise"] == pytest.approx(s["two_way_interaction_over_noise"], abs=0.01)
    k = cube.shape[2]
    share = np.mean(seed_group_tau(cube, (list(range(k // 2)), list(range(k // 2, k)))) >= 0.5)
    assert share == pytest.approx(s["seed_split_tau_share_at_least_0_5"], abs=1e-3)
    assert not duplicate_columns(cube, columns)


def make_tiny_suite(out: Path) -> Path:
    from peppp_bench.suites.synthetic import synthetic_suite

    return synthetic_suite(out)


def _template_key() -> str:
    """What the template board is made from: this package's and the baselines' files, this file, the
    interpreter, the numerical libraries' versions and whether bubblewrap is installed. A template made from the
    same is the same board."""
    import hashlib
    import importlib.metadata
    import sys

    from peppp_bench.protocol import boundary

    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "peppp_bench").rglob("*"), *(ROOT / "baselines").rglob("*"), Path(__file__)]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    versions = [importlib.metadata.version(p) for p in ("numpy", "scipy", "pandas", "cvxpy-base", "scikit-learn")]
    digest.update(repr((sys.version, versions, boundary.available())).encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def _tiny_board_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A board on the tiny suite with two standard submissions, cheap-mean (a user's file, copied into the
    board's methods) and ed-mf, re-run and marked verified where bubblewrap is installed. Made once for what it
    is made from (`_template_key`) and kept in pytest's cache, so that later runs (CI's second phase) reuse it:
    test processes share it (under a lock) and tests change copies of it (`tiny_board`)."""
    from filelock import FileLock

    from peppp_bench.cli import main
    from peppp_bench.protocol import boundary
    from peppp_bench.suites.synthetic import synthetic_suite

    cache = getattr(request.config, "cache", None)  # None where pytest runs without its cache (-p no:cacheprovider)
    shared = cache.mkdir("board-templates") if cache is not None else _run_temp(tmp_path_factory) / "board-templates"
    shared.mkdir(exist_ok=True)  # holds the templates and their lock only
    root = shared / _template_key()
    with FileLock(str(shared / "lock")):
        if (root / "done").is_file():
            return root
        for old in shared.iterdir():  # templates of other code, made by earlier runs of these tests
            if old.is_dir() and old != root and len(old.name) == len(root.name):
                shutil.rmtree(old)
        shutil.rmtree(root, ignore_errors=True)  # a half-made template of an interrupted process
        synthetic_suite(root / "data" / "tiny", n=BOARD_ROWS)
        board = root / "repo" / "leaderboard"
        method = root / "cheap.py"
        method.write_text(USER_METHOD)
        common = submit_args(root / "data", board)
        assert main(["submit", f"{method}:CheapMean", "--name", "cheap-mean", *common]) == 0
        assert main(["submit", "ed-mf", *common]) == 0
        if boundary.available():
            assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(root / "data")]) == 0
        (root / "done").touch()
    return root


def _run_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every process of this test run shares (without pytest's cache)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture
def tiny_board(_tiny_board_template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(board folder, data dir): this test's own copy of the template board and its tiny suite."""
    for part in ("data", "repo"):
        shutil.copytree(_tiny_board_template / part, tmp_path / part)
    return tmp_path / "repo" / "leaderboard", tmp_path / "data"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    import peppp_bench

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_suite(root / "tiny")
    return peppp_bench.load("tiny", data_dir=root)
