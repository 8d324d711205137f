"""The paper's baselines on a tiny synthetic suite with known answers."""

from __future__ import annotations

import numpy as np
import pytest

import baselines
from baselines.experiment_design import d_optimal_order, pivots
from peppp_bench import SETTINGS, Oracle, evaluate


@pytest.mark.slow(seconds=40)
def test_every_baseline_runs_every_setting(tiny) -> None:
    methods = [
        baselines.make(name, rank=4)
        if name not in ("max-memory", "oracle", *baselines.NEGATIVE_CONTROLS, *baselines.PRIORS)
        else baselines.make(name)
        for name in baselines.BASELINES
    ]
    ev = evaluate(methods, tiny, budgets=(4,), workers=2, progress=False, seeds=(0,))
    assert (ev.results.status == "ok").all(), ev.results.reason.unique()
    assert set(ev.results.method) == set(baselines.BASELINES)
    assert ((ev.results.n_measured <= ev.results.n) | (ev.results.method == "oracle")).all()


@pytest.mark.parametrize("name", ["ed-mf", "qr-mf", "random-mf"])
def test_k_measurements_recover_an_exactly_rank_k_row(tiny, name: str) -> None:
    ev = evaluate(
        baselines.make(name, rank=4), tiny, settings=("I", "II"), budgets=(4,), workers=1, progress=False, seeds=(0,)
    )
    r = ev.results
    assert (r.status == "ok").all() and (r.n_measured == 4).all()
    assert np.allclose(r.convergence, 0, atol=1e-9) and np.allclose(r.regret, 0, atol=1e-9)
    uncapped = r[r.setting == "I"]
    assert np.allclose(uncapped.hyperdiff, 0, atol=1e-9)


def test_the_priors_use_the_meta_training_rows_alone_until_they_measure(tiny) -> None:
    """`prior` measures nothing and predicts the meta-training means; `prior-best-plugin` measures the n best
    of them and plugs the measured errors in."""
    from peppp_bench.protocol.runner import fold_tasks
    from peppp_bench.protocol.sampling import observation_mask

    ev = evaluate(
        [baselines.make(n) for n in baselines.PRIORS],
        tiny,
        settings=("I", "III"),
        budgets=(3,),
        workers=1,
        progress=False,
        seeds=(0,),
    )
    r = ev.results.set_index("method")
    assert (r.status == "ok").all() and (r.loc["prior"].n_measured == 0).all()
    assert (r.loc["prior-best-plugin"].n_measured == 3).all()
    task = fold_tasks(tiny, 0, 0, "full", observation_mask("full", tiny.M, 0), [SETTINGS["I"]], 3)[0]
    means = np.delete(tiny.E, 0, axis=0).mean(axis=0)
    assert np.allclose(baselines.make("prior").predict(task, []), means[task.valid])
    oracle = Oracle(tiny.E[0], tiny.M[0], task.valid, 3)
    best = baselines.make("prior-best-plugin")
    best.select(task, oracle)
    assert [m.config for m in oracle.measured] == list(np.argsort(means, kind="stable")[:3])
    predicted = best.predict(task, oracle.measured)
    assert np.allclose(predicted[[m.config for m in oracle.measured]], tiny.E[0][[m.config for m in oracle.measured]])


def test_oracle_bound(tiny) -> None:
    ev = evaluate(baselines.make("oracle"), tiny, budgets=(4,), workers=1, progress=False, seeds=(0,))
    r = ev.results
    # predictions are scored rounded to 32 significant bits (the same on every CPU): the true row is off by < 1e-9
    assert np.allclose(r.convergence, 0, atol=1e-9) and (r.regret == 0).all() and (r.relative_memory == 0).all()
    assert np.allclose(r[r.setting.isin(["I", "III", "V"])].hyperdiff, 0, atol=1e-9)
    assert (r[r.setting.isin(["II", "IV", "VI"])].hyperdiff > 1e-6).any()  # the floor a cap imposes on everyone


def test_max_memory_trains_the_largest_affordable_configuration(tiny) -> None:
    ev = evaluate(
        baselines.make("max-memory"), tiny, settings=("I", "II"), budgets=(4,), workers=1, progress=False, seeds=(0,)
    )
    r = ev.results.set_index(["setting", "dataset_id"])
    assert (r.n_measured == 1).all()
    row_mem = tiny.M[tiny.dataset_ids.index("toy-01")]
    valid = np.flatnonzero(row_mem <= tiny.memory_cap)
    expected_used = row_mem[valid].max() / row_mem[valid].sum()
    assert r.loc[("II", "toy-01"), "relative_memory"] == pytest.approx(expected_used)
    assert r.loc[("I", "toy-01"), "relative_memory"] == pytest.approx(row_mem.max() / row_mem.sum())


def test_pivots_order_as_lapack_and_take_the_first_of_columns_equal_up_to_rounding() -> None:
    """The column order of LAPACK's pivoted QR (geqp3), all of it; but among columns whose norms differ only by
    rounding (equal columns, one moved as another CPU's arithmetic might), the first in place."""
    import scipy.linalg

    rng = np.random.default_rng(1)
    for _ in range(200):
        Y = rng.normal(size=(int(rng.integers(1, 6)), int(rng.integers(1, 30))))
        assert np.array_equal(pivots(Y), scipy.linalg.qr(Y, mode="r", pivoting=True)[1])
    Y = np.linalg.qr(rng.normal(size=(8, 3)))[0].T
    Y = Y[:, [0, 1, 2, 2, 3, 4, 5, 6]]  # columns 2 and 3 are equal, and 2 is the first pivot
    first = pivots(Y)
    moved = Y.copy()
    moved[:, 3] *= 1 + 1e-13  # as another CPU's rounding might leave it: geqp3 pivots it before its twin
    assert first[0] == 2 and scipy.linalg.qr(moved, mode="r", pivoting=True)[1][0] == 3
    assert np.array_equal(pivots(moved), first)


def test_d_optimal_greedy_matches_brute_force_gain() -> None:
    rng = np.random.default_rng(0)
    Y = np.linalg.qr(rng.normal(size=(12, 3)))[0].T
    order = d_optimal_order(Y, 5)
    assert order[:3] == [int(j) for j in pivots(Y)[:3]] and len(set(order)) == 5
    chosen = order[:4]
    best = max(
        (j for j in range(12) if j not in chosen),
        key=lambda j: np.linalg.slogdet(Y[:, chosen + [j]] @ Y[:, chosen + [j]].T)[1],
    )
    assert order[4] == best


def test_memory_aware_design_respects_its_budget(tiny) -> None:
    ev = evaluate(
        baselines.make("ed-mf-memory", rank=4, memory_fraction=0.2),
        tiny,
        settings=("I", "II"),
        budgets=(15,),
        workers=1,
        progress=False,
        seeds=(0,),
    )
    assert (ev.results.status == "ok").all() and (ev.results.relative_memory <= 0.2 + 1e-9).all()
    with pytest.raises(ValueError, match="memory_fraction"):
        baselines.make("ed-mf-memory", memory_fraction=0)


def test_bo_is_seeded_and_picks_highest_expected_improvement() -> None:
    from baselines.bayesian_optimization import expected_improvement

    ei = expected_improvement(np.array([0.5, 0.3, 0.3]), np.array([0.1, 0.1, 0.3]), best=0.4)
    assert np.argmax(ei) == 2 and ei[1] > ei[0]


def test_unknown_baseline() -> None:
    with pytest.raises(KeyError, match="unknown baseline 'ed-mf2'"):
        baselines.make("ed-mf2")


def _fold(bench, setting: str = "I", budget: int = 8):
    from peppp_bench import SETTINGS
    from peppp_bench.protocol.runner import fold_tasks
    from peppp_bench.protocol.sampling import observation_mask

    s = SETTINGS[setting]
    return fold_tasks(bench, 0, 0, s.observation, observation_mask(s.observation, bench.M, 0), [s], budget)[0]


@pytest.mark.parametrize("name", ["ed-mf", "qr-mf", "random-mf", "bo-mf", "bo-full"])
def test_plugin_variants_predict_measured_configurations_at_their_true_error(tiny, name: str) -> None:
    from peppp_bench import Oracle, plug_in

    task = _fold(tiny, "III")
    plain, plugged = baselines.make(name, rank=3), baselines.make(name + "-plugin", rank=3)
    noisy = tiny.E[0] + 0.01 * np.random.default_rng(0).normal(size=99)  # not exactly low rank, so the model misses
    oracle = Oracle(noisy, tiny.M[0], task.valid, task.budget)
    plugged.select(task, oracle)
    measured = oracle.measured
    ours = plugged.predict(task, measured)
    assert np.array_equal(ours, plug_in(plain.predict(task, measured), measured, task.valid))
    cols = [int(np.flatnonzero(task.valid == m.config)[0]) for m in measured]
    assert np.array_equal(ours[cols], [m.error for m in measured])


def test_bayes_ed_mf_starts_like_ed_mf_then_is_close_on_a_low_rank_row(tiny) -> None:
    from peppp_bench import Oracle

    task = _fold(tiny, "I", budget=8)
    picks = {}
    for name in ("ed-mf", "bayes-ed-mf"):
        oracle = Oracle(tiny.E[0], tiny.M[0], task.valid, task.budget)
        method = baselines.make(name, rank=4)
        method.select(task, oracle)
        picks[name] = [m.config for m in oracle.measured]
        if name == "bayes-ed-mf":
            predicted = method.predict(task, oracle.measured)
    assert picks["bayes-ed-mf"][:4] == picks["ed-mf"][:4] and len(set(picks["bayes-ed-mf"])) == 8
    assert np.abs(predicted - tiny.E[0][task.valid]).max() < 0.01  # exact rank 4 plus a noise floor of 0.005
