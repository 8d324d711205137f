"""The method API and the harness's rules: broken methods fail their folds with the right reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peppp_bench
from peppp_bench import Oracle, Task, evaluate
from peppp_bench.cli import main
from peppp_bench.numerics import snap
from peppp_bench.protocol.rules import Measurement, ProtocolViolation, regress
from peppp_bench.protocol.scoring import score
from tests.conftest import USER_METHOD
from tests.methods_broken import Cheapest, Invalid, NaNs, OverBudget, PeeksByCopying, PeeksByLoading, Raises, WrongShape


@pytest.mark.parametrize("isolate", [True, False])
def test_broken_methods_fail_with_reasons_and_nothing_else(tiny, tmp_path: Path, isolate: bool) -> None:
    """The same rules isolated (the default: a copy of the suite in a folder the run protects cannot be read)
    and in the harness's own process (where loading the suite is caught, but reading its files is not)."""
    data_dir = str(tmp_path)
    from tests.conftest import make_tiny_suite

    make_tiny_suite(tmp_path / "tiny")
    methods = [
        Cheapest(),
        OverBudget(),
        Invalid(),
        NaNs(),
        WrongShape(),
        Raises(),
        PeeksByLoading(data_dir),
        PeeksByCopying(data_dir),
    ]
    ev = evaluate(
        methods,
        tiny,
        settings=("I", "III"),  # full and partial meta-training; a failed fold restarts the sandbox (~1 s)
        budgets=(3,),
        workers=1,
        progress=False,
        isolate=isolate,
        protect=[data_dir],
        seeds=(0,),
    )
    r = ev.results
    assert len(r) == len(methods) * 2 * 12
    by = r.groupby("method")
    assert (by.get_group("cheapest").status == "ok").all()
    expected = {
        "over-budget": "protocol violation: over budget",
        "invalid": "protocol violation: configuration .* is not valid",
        "nans": "protocol violation: .* predictions are NaN or infinite",
        "wrong-shape": r"protocol violation: predictions have shape \(3,\)",
        "raises": r"RuntimeError: my bug \(at methods_broken.py:\d+\)",
        "peeks-load": "PermissionError: sandbox: a method may not load"
        if isolate
        else "protocol violation: peeking: a method loaded suite 'tiny'",
    }
    if isolate:  # pyarrow.parquet may not be imported in the sandbox
        expected["peeks-copy"] = "ImportError: Unable to find a usable engine"
    else:  # in the harness's own process nothing stops it: why every board run is isolated
        assert (by.get_group("peeks-copy").status == "ok").all()
    for name, pattern in expected.items():
        g = by.get_group(name)
        assert (g.status == "failed").all(), name
        assert g.reason.str.match(pattern).all(), (name, g.reason.iloc[0])
        assert g.convergence.isna().all() and (g.frontier_regret > 0).all()  # a failure scores its worst case
    assert (ev.summary.loc[ev.summary.method == "raises", "failed"] == 12).all()


def test_a_fold_sees_only_meta_training_rows(tiny) -> None:
    seen: list[tuple] = []

    class Spy(Cheapest):
        name = "spy"

        def select(self, task: Task, oracle: Oracle) -> None:
            seen.append(
                (
                    task.setting,
                    task.train_error.shape,
                    task.train_error.flags.writeable,
                    np.isnan(task.train_error).mean(),
                    task.reference_error,
                )
            )
            super().select(task, oracle)

    evaluate(Spy(), tiny, settings=("I", "III"), budgets=(5,), workers=1, progress=False, isolate=False, seeds=(0,))
    assert {s[1] for s in seen} == {(11, 99)} and not any(s[2] for s in seen) and all(s[4] is None for s in seen)
    assert {s[3] for s in seen if s[0] == "I"} == {0.0}
    assert all(0.7 < s[3] < 0.9 for s in seen if s[0] == "III")


def test_non_nested_methods_are_called_once_per_budget(tiny) -> None:
    calls: list[int] = []

    class Counting(Cheapest):
        name = "counting"

        def select(self, task: Task, oracle: Oracle) -> None:
            calls.append(task.budget)
            super().select(task, oracle)

    ev = evaluate(
        Counting(), tiny, settings=("I",), budgets=(3, 5), workers=1, progress=False, isolate=False, seeds=(0,)
    )
    assert sorted(set(calls)) == [3, 5] and len(calls) == 2 * 12
    assert (ev.results.groupby("n").n_measured.max() == pd.Series({3: 3, 5: 5})).all()


def test_oracle_rules_directly() -> None:
    row, mem = np.linspace(0.3, 0.9, 99), np.linspace(100, 200, 99)
    o = Oracle(row, mem, np.arange(10), budget=2)
    assert o.measure(3) == row[3] and o.measure(3) == row[3] and o.remaining == 1
    with pytest.raises(ProtocolViolation, match="not valid"):
        o.measure(50)
    with pytest.raises(ProtocolViolation, match="int"):
        o.measure(1.5)
    o.measure(4)
    with pytest.raises(ProtocolViolation, match="over budget"):
        o.measure(5)
    assert [m.config for m in o.measured] == [3, 4] and len(o.violations) == 3


def test_a_singular_design_gives_the_minimum_norm_fit_whatever_the_rounding() -> None:
    """Two measured configurations whose embeddings coincide (columns completed alike) make the design
    singular; rounding noise on it (1e-13, from a completion and SVD on another CPU) must neither scale the
    fit nor change it."""
    Y = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 3)))[0].T  # 3 × 8, orthonormal rows
    Y[:, 1] = Y[:, 0]
    measured = [Measurement(0, 0.30, 1.0), Measurement(1, 0.31, 1.0), Measurement(2, 0.5, 1.0)]
    fits = []
    for noise in (0.0, 1e-13, -1e-13):
        design = Y.copy()
        design[0, 1] += noise
        fits.append(regress(design, measured, np.arange(8)))
    assert np.abs(fits[0]).max() < 2
    for fit in fits[1:]:
        np.testing.assert_allclose(fit, fits[0], atol=1e-9)


def test_predictions_zero_but_for_rounding_noise_give_the_same_frontier() -> None:
    """A prediction that should be 0 comes out as ±1e-17 beside errors of 0.2: its sign must not change
    which configurations the estimated frontier holds, nor any score."""
    assert snap([0.2, 1e-17, 0.3]).tolist() == snap([0.2, -5e-18, 0.3]).tolist() == [snap(0.2), 0.0, snap(0.3)]
    assert snap([1e-17, 3e-18]).tolist() != [0.0, 0.0]  # what is small beside nothing larger is kept
    valid, truth, memory = np.arange(4), np.array([0.0, 0.0, 0.1, 0.2]), np.array([1.0, 1.0, 2.0, 3.0])
    measured = [Measurement(2, 0.1, 2.0)]
    one, other = (score(np.array([0.2, z, 0.1, 0.05]), valid, measured, truth, memory, 3.0) for z in (1e-17, -1e-17))
    assert one == other


@pytest.mark.slow
def test_results_identical_whatever_the_number_of_workers(tiny) -> None:
    import baselines

    methods = [baselines.make("ed-mf", rank=3), baselines.make("random-mf", rank=3), baselines.make("bo-mf", rank=3)]
    one = evaluate(methods, tiny, budgets=(3, 5, 8), workers=1, progress=False, seeds=(0,))
    two = evaluate(methods, tiny, budgets=(3, 5, 8), workers=2, progress=False, seeds=(0,))
    pd.testing.assert_frame_equal(one.results, two.results)
    assert one.meta["data_sha256"] == tiny.data_sha256 and one.meta["seeds"] == [0]


def test_unknown_setting_and_bad_budgets(tiny) -> None:
    with pytest.raises(KeyError, match="unknown setting 'VII'"):
        evaluate(Cheapest(), tiny, settings=("VII",), progress=False, seeds=(0,))
    with pytest.raises(ValueError, match="budgets must be positive"):
        evaluate(Cheapest(), tiny, budgets=(0, 2), progress=False, seeds=(0,))
    with pytest.raises(TypeError, match="not a peppp_bench.Method"):
        evaluate([object()], tiny, progress=False, seeds=(0,))


def test_cli_evaluates_a_method_from_a_file(tmp_path: Path, capsys) -> None:
    from tests.conftest import make_tiny_suite

    make_tiny_suite(tmp_path / "data" / "tiny")
    method_file = tmp_path / "my_method.py"
    method_file.write_text(USER_METHOD)
    out = tmp_path / "res.parquet"
    code = main(
        [
            "evaluate",
            f"{method_file}:CheapMean",
            "--suite",
            "tiny",
            "--data-dir",
            str(tmp_path / "data"),
            "--settings",
            "I,IV",
            "--budgets",
            "3-5",
            "--workers",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    r = pd.read_parquet(out)
    assert set(r.setting) == {"I", "IV"} and set(r.n) == {3, 4, 5} and (r.status == "ok").all()
    assert "cheap-mean" in capsys.readouterr().out
    assert main(["evaluate", "no-such-method", "--suite", "tiny", "--data-dir", str(tmp_path / "data")]) == 2
    assert "unknown method 'no-such-method'" in capsys.readouterr().err


def test_cli_meta_training_study(suites_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "study.parquet"
    assert (
        main(
            [
                "study",
                "--suite",
                "paper",
                "--data-dir",
                str(suites_dir),
                "--kind",
                "nonuniform",
                "--ratios",
                "0.2",
                "--seeds",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    t = pd.read_parquet(out)
    assert len(t) == 87 and {"relative_error", "convergence", "hyperdiff"} <= set(t.columns)
    assert t.observed.mean() == pytest.approx(0.1, abs=0.02)


def test_a_configuration_never_observed_in_meta_training_is_no_phantom_frontier_point(paper) -> None:
    """Setting V, seed 0: e5m3-e8m9 is never observed. It used to complete to 0, so ED-MF predicted error 0
    for it; now it is completed from the configurations nearest in format."""
    import baselines
    from peppp_bench import SETTINGS, Oracle
    from peppp_bench.protocol.runner import fold_tasks
    from peppp_bench.protocol.sampling import observation_mask

    s = SETTINGS["V"]
    task = fold_tasks(paper, 0, 0, s.observation, observation_mask(s.observation, paper.M, 0), [s], 10)[0]
    j = list(paper.error.columns).index("e5m3-e8m9")
    assert j in task.never_observed and np.isnan(task.train_error[:, j]).all()
    assert task.completed()[:, j].min() > 0.2  # the paper's errors are all above 0.23
    method = baselines.make("ed-mf")
    oracle = Oracle(paper.E[0], paper.M[0], task.valid, task.budget)
    method.select(task, oracle)
    predicted = method.predict(task, oracle.measured)
    assert predicted[j] > 0.5 * paper.E[0].min()


def test_rows_of_a_multi_architecture_suite_never_leak_the_held_out_task() -> None:
    """mini-arch: the same-architecture settings meta-train on the other tasks on the held-out row's
    network, the cross-architecture ones on the other tasks on every other network."""
    bench = peppp_bench.load("mini-arch")
    assert bench.multi_architecture and bench.E.shape == (102, 33)  # 34 tasks × 3 networks
    task, arch = bench.datasets.task.to_numpy(), bench.datasets.architecture.to_numpy()
    for row in (0, 57, 101):
        same, other = bench.meta_training_rows(row, "same"), bench.meta_training_rows(row, "other")
        assert len(same) == 33 and len(other) == 33 * 2
        assert (task[same] != task[row]).all() and (arch[same] == arch[row]).all()
        assert (task[other] != task[row]).all() and (arch[other] != arch[row]).all()
    mini = peppp_bench.load("mini")
    assert list(mini.meta_training_rows(3)) == [i for i in range(len(mini.dataset_ids)) if i != 3]
    with pytest.raises(ValueError, match="one architecture: cross-architecture settings need"):
        mini.meta_training_rows(3, "other")


def test_cross_architecture_settings_run_and_are_refused_on_one_architecture() -> None:
    import baselines

    bench = peppp_bench.load("mini-arch")
    ev = peppp_bench.evaluate(
        baselines.make("ed-mf"),
        bench,
        settings=("I", "X", "XII"),
        budgets=(3,),
        workers=1,
        progress=False,
        isolate=False,
        seeds=(0,),
    )
    assert set(ev.results.setting) == {"I", "X", "XII"} and len(ev.results) == 3 * 102
    assert (ev.results.status == "ok").mean() > 0.95
    with pytest.raises(ValueError, match=r"settings \['X'\] are cross-architecture"):
        peppp_bench.evaluate(
            baselines.make("ed-mf"), "mini", settings=("X",), budgets=(3,), progress=False, isolate=False, seeds=(0,)
        )


def test_a_large_suite_holds_datasets_out_in_groups_and_completes_once_per_group(tmp_path: Path, monkeypatch) -> None:
    """Above GROUPED_ABOVE tasks, datasets are held out in the fewest groups that leave every fold 95 % of the
    tasks: a fold meta-trains on the rows outside its group only, one completion serves the whole group, and
    sharing it changes no result. `with_holdout("loo")` holds one out at a time; on `mini` "groups" is LOO."""
    import baselines
    from peppp_bench.protocol import rules, runner
    from peppp_bench.suites.suite import GROUPED_ABOVE, read_suite
    from peppp_bench.suites.synthetic import synthetic_suite

    mini = peppp_bench.load("mini")
    assert mini.holdout_groups is None and mini.with_holdout("groups").holdout_groups is None  # 34 tasks: LOO
    n = GROUPED_ABOVE + 5
    bench = read_suite(synthetic_suite(tmp_path / "big", n=n, name="big", seed=1))
    groups = bench.holdout_groups
    assert groups == 21 and bench.holdout == "auto"  # 205 tasks in groups of at most 10 (5 %)
    for row in (0, 7, n - 1):
        together = [r for r in range(n) if r % groups == row % groups]
        assert list(bench.meta_training_rows(row)) == [r for r in range(n) if r not in together]
        assert len(bench.meta_training_rows(row)) >= 0.95 * n
    loo = bench.with_holdout("loo")
    assert loo.holdout_groups is None and len(loo.meta_training_rows(3)) == n - 1 and bench.holdout_groups == groups
    with pytest.raises(ValueError, match="hold-out 'kfold': use one of auto, loo, groups"):
        bench.with_holdout("kfold")

    completions = [0]
    real = rules.soft_impute

    def counted(*args, **kwargs):
        completions[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(rules, "soft_impute", counted)
    run = dict(settings=("III", "IV"), budgets=(3,), seeds=(0,), workers=1, progress=False, isolate=False)
    shared = evaluate(baselines.make("ed-mf", rank=3), bench, **run)
    assert completions[0] == groups and (shared.results.status == "ok").all()
    assert not runner._COMPLETIONS  # emptied after the run: another suite may have the same rows
    monkeypatch.setattr(runner, "_shared_cache", lambda *_: {})  # every fold completes on its own
    alone = evaluate(baselines.make("ed-mf", rank=3), bench, **run)
    assert completions[0] == groups + n
    pd.testing.assert_frame_equal(shared.results, alone.results)


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_evaluate_runs_on_a_suite_of_any_size_and_says_what_cannot_run(rows: int, tmp_path: Path, capsys) -> None:
    """On 1-, 2- and 3-dataset suites `evaluate` exits 0; a fold no method can run is skipped with why."""
    from peppp_bench.suites.synthetic import synthetic_suite

    synthetic_suite(tmp_path / "tiny", n=rows)
    out = tmp_path / "results.parquet"
    args = ["evaluate", "ed-mf", "--suite", "tiny", "--data-dir", str(tmp_path), "--settings", "I,III,V"]
    assert main([*args, "--seeds", "0", "--budgets", "3,150", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "budgets [150] exceed the suite's 99 configurations" in err
    r = pd.read_parquet(out)
    if rows == 1:
        assert "a suite of at least 2 datasets is needed" in err
        assert (r.status == "skipped").all() and r.reason.str.contains("no meta-training dataset").all()
    else:
        assert r.status.isin(["ok", "skipped"]).all()
        assert r[r.status == "skipped"].reason.str.startswith("not run: ").all()


def test_a_fold_whose_meta_training_rows_are_all_masked_is_skipped_with_why() -> None:
    from peppp_bench.protocol.runner import unrunnable

    task = Task(
        "III",
        "uniform",
        np.full((1, 4), np.nan),
        np.ones((1, 4)),
        np.full((1, 4), 0.05),
        None,
        np.ones(4),
        None,
        np.arange(4),
        3,
        0,
        1.0,
    )  # type: ignore[arg-type]
    assert "observes no entry of the 1 meta-training rows" in unrunnable(task, precompute=True)
