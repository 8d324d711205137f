"""Isolated method runs: every attack of a hostile method fails only its own folds, and changes nothing else.

Each attacker (tests/methods_attacks.py) is a Cheapest method that tries one thing. The tiny suite is
read from a folder the test owns; its path reaches a method only as a constructor parameter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import baselines
import peppp_bench
from peppp_bench.protocol.sandbox import Limits
from tests.methods_attacks import (
    Aborts,
    CallsLoader,
    ClaimsReference,
    EatsMemory,
    Exits,
    FindsOtherSettings,
    FindsTheCheckout,
    Floods,
    ForgesBudget,
    HardExits,
    HogsTmp,
    HugeReason,
    Interrupts,
    KeepsAcrossBudgets,
    KillsParent,
    LoadsAParquetReaderByAnotherName,
    Monkeypatches,
    MovesOut,
    Mutates,
    NestsDeep,
    OpensClosure,
    OpensFile,
    OpensWithDirFd,
    PersistsAcrossFolds,
    PredictsBooleans,
    PredictsStrings,
    ReadsHarnessMemory,
    ReadsModuleState,
    ReadsParquet,
    ReadsSecrets,
    ReadsSuite,
    Remembers,
    ScansGarbageCollector,
    SeesHarnessProcess,
    Sleeps,
    Spawns,
    SpeaksForLaterFolds,
    StashesOutsideTmp,
    WalksStack,
    Writes,
    WritesZygoteMemory,
)
from tests.methods_broken import Cheapest
from tests.methods_memory import LeavesNamesForLaterFolds

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_harness_owns_the_budget_and_the_wire(suite) -> None:
    """Nothing a method sends changes its budget or stops the run: each attack fails its own folds with a
    reason of bounded length, and a method beside them is unchanged."""
    attacks = [
        ForgesBudget(),
        NestsDeep(),
        Floods(),
        HugeReason(),
        ClaimsReference(),
        PredictsBooleans(),
        PredictsStrings(),
    ]
    alone = _run([Cheapest()], suite).results
    ev = _run([Cheapest(), *attacks], suite, limits=Limits(seconds_per_fold=3.0), workers=2)
    r = ev.results
    pd.testing.assert_frame_equal(r[r.method == "cheapest"].reset_index(drop=True), alone)
    expected = {
        "forges-budget": "broke the harness protocol .*unexpected message",
        "nests-deep": "broke the harness protocol .*nested deeper than",
        "floods": "timed out|not run: the method exceeded the time limit",
        "huge-reason": "RuntimeError: x+…",
        "claims-reference": "LookupError: no reference row",  # never given to code outside the registry
        "predicts-booleans": "predictions must be real numbers .*got bool",
        "predicts-strings": "predictions must be real numbers .*got str",
    }
    reasons = _reasons(ev)
    for name, pattern in expected.items():
        g = r[r.method == name]
        assert (g.status == "failed").all() and g.reason.str.contains(pattern).all(), (name, reasons[name])
    assert r.reason.str.len().max() <= 400
    assert not ev.meta["methods"]["claims-reference"]["reference"]


def _ancestors(pid: int) -> list[int]:
    """The parent, grandparent, ... of a process (tests beside this one run sandboxes of their own)."""
    out = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        out.append(pid)
    return out


def test_behind_the_os_boundary_nothing_reaches_the_data_the_harness_or_the_next_fold(
    os_sandbox, suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = str(suite.folder)
    outside = tmp_path / "outside" / "precious.txt"
    outside.parent.mkdir()
    outside.write_text("precious")
    runs = tmp_path / "tmp"  # this test's own temporary folder: tests running beside it make their own runs
    runs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    attacks = [
        MovesOut(str(outside)),
        LoadsAParquetReaderByAnotherName(folder),
        ReadsHarnessMemory(str(os.getpid())),
        SeesHarnessProcess(),
        OpensWithDirFd(folder),
        FindsTheCheckout(),
        PersistsAcrossFolds(),
    ]
    ev = peppp_bench.evaluate(
        [Cheapest(), *attacks], suite, settings=("I", "II"), budgets=(3,), workers=1, progress=False, seeds=(0,)
    )
    r = ev.results
    assert (r[r.method == "cheapest"].status == "ok").all()
    expected = {
        "reads-harness-memory": "FileNotFoundError",  # another PID namespace: the harness's pid is not there
        "sees-harness": "LookupError: no harness in sight",
        "opens-dir-fd": "FileNotFoundError",  # the suite folder is not in the sandbox at all
        "finds-the-checkout": "LookupError: nothing beside the code",
        "persists": "LookupError: nothing from another fold",  # in every fold: each starts clean
        "moves-out": "PermissionError: sandbox: os.rename of",
        "aliased-reader": "sandbox|Error",  # refused by the guard, or the file is not there to read
    }
    reasons = _reasons(ev)
    for name, pattern in expected.items():
        g = r[r.method == name]
        assert (g.status == "failed").all() and g.reason.str.contains(pattern).all(), (name, reasons[name])
    assert outside.read_text() == "precious" and not Path(str(outside) + ".link").exists()
    assert not list(runs.iterdir())  # no temporary folder outlives the run
    assert not _sandboxes_left()


def _sandboxes_left() -> list[bytes]:
    """The command lines of sandboxes and methods' interpreters this test started, or orphaned ones."""
    leftovers = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        sandbox = b"peppp_bench.protocol.sandbox" in cmdline or cmdline.startswith(b"bwrap")
        line = _ancestors(int(proc.name)) if proc.name.isdigit() and sandbox else []
        if os.getpid() in line or line[:1] == [1]:  # started by this test, or orphaned
            leftovers.append(cmdline)
    return leftovers


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_stopped_by_sigterm_leaves_no_temporary_folder(suite, workers: int, tmp_path: Path) -> None:
    """`timeout` and job schedulers stop a run with SIGTERM: the run exits (143) through its clean-up, as on
    Ctrl-C, leaving neither its temporary folder nor a sandbox, whether it runs its units in a pool or not."""
    runs = tmp_path / "tmp"
    runs.mkdir()
    script = (
        "import peppp_bench\nfrom tests.methods_attacks import Sleeps\n"
        f"bench = peppp_bench.load('tiny', data_dir={str(suite.folder.parent)!r})\n"
        f"peppp_bench.evaluate([Sleeps()], bench, settings=('I',), budgets=(3,), seeds=(0,), workers={workers},"
        " progress=False)"
    )
    env = {**os.environ, "TMPDIR": str(runs), "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(runs.glob("peppp-run-*/*")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # until a sandbox has started in the run's folder
    assert any(runs.glob("peppp-run-*/*")), "the run made no sandbox folder"
    time.sleep(2)  # the method is asleep in its first fold
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 143, stderr.decode(errors="replace")[-2000:]
    assert not list(runs.iterdir())
    assert not _sandboxes_left()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory):
    from peppp_bench.suites.synthetic import synthetic_suite

    root = tmp_path_factory.mktemp("sandboxed")  # 6 rows: a failed fold restarts the method's sandbox (~1 s)
    return peppp_bench.load("tiny", data_dir=synthetic_suite(root / "tiny", n=6).parent)


def _run(methods: list, bench, limits: Limits = Limits(), workers: int = 1):
    return peppp_bench.evaluate(
        methods, bench, settings=("I", "II"), budgets=(3,), workers=workers, progress=False, limits=limits, seeds=(0,)
    )


def _reasons(ev) -> dict[str, str]:
    r = ev.results
    return {m: "; ".join(sorted(set(g.reason))) for m, g in r.groupby("method")}


def test_peeking_attacks_fail_their_own_folds_only(suite) -> None:
    folder = str(suite.folder)
    attacks = [
        ReadsParquet(folder),
        OpensFile(folder),
        CallsLoader(folder),
        ReadsSuite(folder),
        ScansGarbageCollector(),
        WalksStack(),
        OpensClosure(),
        ReadsModuleState(),
    ]
    ev = _run([Cheapest(), *attacks], suite, workers=2)
    r = ev.results
    assert (r[r.method == "cheapest"].status == "ok").all()
    expected = {
        "reads-parquet": "ImportError: Unable to find a usable engine|sandbox",  # pyarrow.parquet may not be imported
        "opens-file": "PermissionError: sandbox: .*cells.parquet holds benchmark data",
        "calls-loader": "PermissionError: sandbox: a method may not load benchmark data",
        "reads-suite": "PermissionError: sandbox: a method may not load benchmark data",
        "scans-gc": "PermissionError: sandbox: gc.get_objects is not allowed",
        "walks-stack": "RuntimeError: nothing on the stack",
        "opens-closure": "RuntimeError: nothing in the closures",
        "reads-module-state": "KeyError: 'bench'",
    }
    reasons = _reasons(ev)
    for name, pattern in expected.items():
        g = r[r.method == name]
        assert (g.status == "failed").all() and g.reason.str.contains(pattern).all(), (name, reasons[name])


def test_a_method_cannot_change_another_methods_results(suite) -> None:
    alone = _run([baselines.make("ed-mf", rank=3)], suite).results
    together = _run([Mutates(), Monkeypatches(), baselines.make("ed-mf", rank=3)], suite, workers=2).results
    pd.testing.assert_frame_equal(together[together.method == "ed-mf"].reset_index(drop=True), alone)
    mine = together[together.method == "monkeypatches"]  # scored by the harness's own scorer, not its lambda
    assert (mine.status == "ok").all() and np.isfinite(mine.hyperdiff).all()
    mutated = together[together.method == "mutates"]  # the task's arrays are read-only views it cannot unlock
    assert (mutated.status == "failed").all() and mutated.reason.str.contains("WRITEABLE|read-only").all()


def test_nothing_is_remembered_between_held_out_datasets(suite) -> None:
    ev = peppp_bench.evaluate(Remembers(), suite, settings=("I",), budgets=(3,), workers=1, progress=False, seeds=(0,))
    assert (ev.results.status == "ok").all(), _reasons(ev)


@pytest.mark.slow
def test_exits_hangs_and_memory_exhaustion_fail_their_folds_and_the_run_goes_on(suite, tiny, tmp_path: Path) -> None:
    target = ROOT / "leaderboard" / "a-method-was-here.txt"
    limits = Limits(seconds_per_fold=2.0, memory_bytes=3 << 30)
    methods = [
        Exits(),
        HardExits(),
        Aborts(),
        Interrupts(),
        EatsMemory(),
        Writes(str(target)),
        KillsParent(),
        Spawns(),
        Cheapest(),
    ]
    ev = _run(methods, suite, limits=limits, workers=2)
    r = ev.results
    assert (r[r.method == "cheapest"].status == "ok").all()
    expected = {
        "exits": "SystemExit: 3",
        "hard-exits": "exited with status 4",
        "aborts": "killed by signal SIGABRT",
        "interrupts": "KeyboardInterrupt",
        "eats-memory": "MemoryError|killed by signal",
        "writes": "PermissionError: sandbox: a method may write only under",
        "kills-parent": "PermissionError: sandbox: os.kill is not allowed",
        "spawns": "PermissionError: sandbox: subprocess.Popen is not allowed",
    }
    reasons = _reasons(ev)
    for name, pattern in expected.items():
        g = r[r.method == name]
        assert (g.status == "failed").all() and g.reason.str.contains(pattern).all(), (name, reasons[name])
    assert not target.exists()
    # three timeouts in a row, then the sleeper's other folds are not run (12 rows: more folds than a unit)
    sleeper = _run([Sleeps()], tiny, limits=limits).results
    assert (sleeper.status == "failed").all() and sleeper.reason.str.contains("timed out|not run").all()
    assert sleeper.reason.str.contains("not run: the method exceeded the time limit").any(), set(sleeper.reason)


def test_a_method_that_cannot_be_made_is_refused_before_any_fold(suite, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('my import fails')\n")
    with pytest.raises(ValueError, match="could not be made: RuntimeError: my import fails"):
        _run([f"{broken}:Nope"], suite)

    class Local(Cheapest):
        name = "local"

    with pytest.raises(TypeError, match="cannot be re-created in a sandbox"):
        _run([Local()], suite)


def test_a_unit_larger_than_a_method_message_reaches_its_method_in_one_process(tmp_path: Path) -> None:
    """A 600-row suite's unit is over 1 MiB: the method's process must take it and serve the next unit, not
    die and restart per unit (the 1 MiB limit bounds what a method sends, never what the harness hands it)."""
    from peppp_bench.protocol.rules import get_setting
    from peppp_bench.protocol.runner import fold_tasks
    from peppp_bench.protocol.sampling import observation_mask
    from peppp_bench.protocol.sandbox import Limits, MethodRef, Sandbox
    from peppp_bench.suites.suite import read_suite
    from peppp_bench.suites.synthetic import synthetic_suite

    bench = read_suite(synthetic_suite(tmp_path / "big", n=600, name="big", seed=3))
    box = Sandbox(MethodRef("ed-mf"), Limits(), [str(tmp_path)], str(tmp_path))
    try:
        pids = []
        for fold in (0, 1):
            tasks = fold_tasks(bench, fold, 0, "full", observation_mask("full", bench.M, 0), [get_setting("I")], 5)
            out = box.run_unit(tasks, [5], bench.E[fold], bench.M[fold])
            assert not isinstance(out[0][5], str), out[0][5]  # measurements and predictions, not a failure
            pids.append(box._running().pid)
        assert pids[0] == pids[1]
    finally:
        box.close()


def test_cleaning_up_after_a_unit_never_enters_a_mount(os_sandbox, tmp_path: Path) -> None:
    """Where the checkout and its environment live under /tmp, the boundary binds them inside the sandbox's
    private /tmp: the wipe after each unit removes what the method left, and leaves the binds untouched
    (it used to walk the whole environment, unlinking file by file: a 30-minute test run)."""
    import subprocess
    import sys

    from peppp_bench.protocol import boundary

    mounted = tmp_path / "mounted"
    (mounted / "deep").mkdir(parents=True)
    (mounted / "deep" / "keep.txt").write_text("kept")
    script = (
        "import os; from peppp_bench.protocol.zygote import _wipe\n"
        "os.makedirs('/scratch/left/sub'); open('/scratch/left/sub/file', 'w').close(); os.chmod('/scratch/left', 0)\n"
        "os.symlink('/scratch/mounted', '/scratch/link'); open('/scratch/file', 'w').close()\n"
        "_wipe('/scratch'); print(sorted(os.listdir('/scratch')))"
    )
    argv = boundary.command("", [sys.executable, "-c", script])
    # before the root goes read-only: a writable bind, which a wipe must not enter
    at = next(i for i in range(len(argv)) if argv[i : i + 2] == ["--remount-ro", "/dev"])
    argv[at:at] = ["--tmpfs", "/scratch", "--bind", str(mounted), "/scratch/mounted"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['mounted']"]  # the method's files, folder and link are gone
    assert (mounted / "deep" / "keep.txt").read_text() == "kept"


def test_the_kernel_seals_what_the_hook_cannot(os_sandbox, suite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read-only root, /dev and mount points; a non-dumpable zygote; an allowlisted environment; a /tmp that
    counts against the memory limit; a fresh process per budget, with its own task and its own channel, forked
    from a zygote that never held another fold's data. Each attack fails only its own folds."""
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token-of-the-caller")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key-of-the-caller")
    attacks = [
        StashesOutsideTmp("/"),
        StashesOutsideTmp("/dev"),
        StashesOutsideTmp(""),  # the checkout's mount point
        WritesZygoteMemory(),
        ReadsSecrets(),
        HogsTmp(),
        KeepsAcrossBudgets(),
        SpeaksForLaterFolds(),
        LeavesNamesForLaterFolds(),
        FindsOtherSettings(),
    ]
    for a, name in zip(attacks[:3], ("root", "dev", "mount")):
        a.name = f"stashes-{name}"
    ev = peppp_bench.evaluate(
        [Cheapest(), *attacks],
        suite,
        settings=("I", "II"),
        budgets=(2, 3),
        workers=1,
        progress=False,
        limits=Limits(memory_bytes=1 << 30),
        seeds=(0,),
    )
    r = ev.results
    reasons = _reasons(ev)
    assert (r[r.method == "cheapest"].status == "ok").all()
    expected = {
        "stashes-root": "Read-only file system",
        "stashes-dev": "Read-only file system",
        # read-only, or (a checkout under /tmp) inside the private /tmp, which is emptied after every fold
        "stashes-mount": "Read-only file system|the held-out row was never stashed",
        "writes-zygote": "PermissionError",  # not dumpable: /proc/<zygote>/mem is closed to it
        "hogs-tmp": "No space left on device",  # /tmp is an eighth of the 1 GiB limit
    }
    for name, pattern in expected.items():
        g = r[r.method == name]
        assert (g.status == "failed").all() and g.reason.str.contains(pattern).all(), (name, reasons[name])
    secrets = r[r.method == "reads-secrets"]
    assert not secrets.reason.str.contains("secret|GITHUB|AWS").any(), reasons["reads-secrets"]
    assert secrets.reason.str.contains("PATH=").all()  # what it may see, it saw
    honest = r[r.method == "cheapest"].drop(columns="method").reset_index(drop=True)
    # every budget starts from a process that measured nothing, holds its own task only, and finds nothing an
    # earlier fold left in the zygote's memory (the names of the files it wrote, which the zygote removed)
    for name in ("keeps-across-budgets", "leaves-names", "finds-other-settings"):
        mine = r[r.method == name].drop(columns="method").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, honest, obj=f"{name}: {reasons[name]}")
    # a process that goes on to speak for the next budget breaks the protocol: its channel is its own fold's,
    # and the held-out dataset's later folds fail (its first setting's n = 2, where it spoke for itself, stands)
    spoken = r[r.method == "speaks-for-later-folds"]
    assert (spoken[(spoken.setting == "I") & (spoken.n == 2)].status == "ok").all(), reasons["speaks-for-later-folds"]
    later = spoken[spoken.n == 3]
    assert (later.status == "failed").all() and later.reason.str.contains("broke the harness protocol").all()


def test_the_system_call_filter_refuses_new_processes_but_not_threads() -> None:
    """What the filter does, apart from the audit hook: fork and SysV IPC refused, threads and BLAS run."""
    import subprocess
    import sys

    code = (
        "import os, threading, numpy as np\n"
        "from peppp_bench.protocol import kernel\n"
        "kernel.forbid_escape()\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "np.linalg.svd(np.ones((40, 40)))\n"
        "for call in (os.fork, lambda: os.posix_spawn('/bin/true', ['true'], {})):\n"
        "    try:\n"
        "        call(); print('made a process'); os._exit(0)\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["refused 1", "refused 1"], out.stdout


def test_the_boundary_isolates_an_interpreter_started_through_a_relative_path(os_sandbox, tmp_path: Path) -> None:
    """`../env/bin/python` from another folder: the probe resolves the path, so the run is isolated."""
    import subprocess
    import sys

    folder = tmp_path / "my-folder"
    folder.mkdir()
    relative = os.path.relpath(sys.executable, folder)  # through `..`, as a newcomer beside the clone types it
    code = "from peppp_bench.protocol import boundary; print(boundary.available())"
    out = subprocess.run([relative, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr
