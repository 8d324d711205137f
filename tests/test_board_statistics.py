"""The board's statistics and protocol 3.0's scoring rules: failures count, intervals, groups, controls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import baselines
from baselines.experiment_design import EDMF
from peppp_bench import Oracle, Task
from peppp_bench.board.leaderboard import make_submission, validate
from peppp_bench.board.render import board_tables, results_block, with_results
from peppp_bench.board.statistics import cube, holm, p_best, paired_p
from peppp_bench.board.verify import Key, plan
from peppp_bench.pareto import frontier_regret, worst_frontier_regret
from peppp_bench.protocol.runner import evaluate


class FailsOnAThird(EDMF):
    """ED-MF that raises on about a third of the held-out datasets (those whose fold seed is 0 mod 3)."""

    name = "fails-on-a-third"

    def select(self, task: Task, oracle: Oracle) -> None:
        if task.seed % 3 == 0:
            raise RuntimeError("not this dataset")
        super().select(task, oracle)


class FailsEverywhere(EDMF):
    """ED-MF that raises on every held-out dataset."""

    name = "fails-everywhere"

    def select(self, task: Task, oracle: Oracle) -> None:
        raise RuntimeError("never")


def test_a_method_that_fails_on_a_third_of_the_datasets_scores_worse_than_without(tiny) -> None:
    methods = [EDMF(rank=4), FailsOnAThird(rank=4)]
    ev = evaluate(methods, tiny, settings=("I", "III"), budgets=(4, 6), seeds=(0, 1), workers=1, progress=False)
    subs = [make_submission(ev, m.name, authors="t", description="", code="baselines:EDMF") for m in methods]
    failed = ev.results[ev.results.status == "failed"]
    assert set(failed.method) == {"fails-on-a-third"} and 0.15 < len(failed) / (len(ev.results) / 2) < 0.6
    cells, _, _ = board_tables([{**s, "method": {**s["method"], "reference": False}} for s in subs])
    primary = cells[cells.metric == "frontier_regret"].set_index(["setting", "n", "method"])
    for (setting, n), _ in primary.groupby(level=[0, 1]):
        honest, failing = primary.loc[(setting, n, "ed-mf")], primary.loc[(setting, n, "fails-on-a-third")]
        assert failing["mean"] > honest["mean"] and failing.folds_failed > 0 == honest.folds_failed
        assert honest.p_best > failing.p_best
    # the failed folds sit at their worst case, which validation recomputes from the suite
    assert not validate(subs[1], {"tiny": tiny})
    tampered = {**subs[1], "folds": {**subs[1]["folds"], "rows": [list(r) for r in subs[1]["folds"]["rows"]]}}
    row = next(r for r in tampered["folds"]["rows"] if r[-2] == "failed")
    row[4] = 0.0
    assert any("worst case" in p for p in validate(tampered, {"tiny": tiny}))


def test_a_method_that_fails_every_fold_changes_no_other_methods_numbers(tiny) -> None:
    """Every reported metric of a method is the same with or without methods beside it that fail all their folds
    or a third of them: their worst cases enter only their own rows (and the tests against them)."""
    methods = [EDMF(rank=4), FailsEverywhere(rank=4), FailsOnAThird(rank=4)]
    ev = evaluate(methods, tiny, settings=("I", "III"), budgets=(4,), seeds=(0, 1), workers=1, progress=False)
    subs = {
        m: make_submission(ev, m, authors="t", description="", code="baselines:EDMF")
        for m in ev.results.method.unique()
    }
    assert (ev.results[ev.results.method == "fails-everywhere"].status == "failed").all()
    alone, beside = (board_tables(list(group))[0] for group in ([subs["ed-mf"]], subs.values()))
    columns = ["suite", "setting", "n", "metric", "mean", "ci_low", "ci_high", "folds_ok", "datasets"]
    mine = beside[beside.method == "ed-mf"][columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, alone[alone.method == "ed-mf"][columns].reset_index(drop=True))


def test_frontier_regret_cannot_be_met_without_measuring() -> None:
    memory = np.array([1.0, 2.0, 2.0, 4.0, 8.0])
    error = np.array([0.9, 0.5, 0.6, 0.3, 0.1])
    assert frontier_regret(memory, error, error) == 0.0
    constant = frontier_regret(memory, error, np.full(5, 0.4))  # one number: buys only the cheapest point
    assert constant == np.mean([0.0, 0.4, 0.6, 0.8]) == worst_frontier_regret(memory, error)
    assert frontier_regret(memory, error, error + 5) == 0.0 and frontier_regret(memory, error, -error) > 0


def test_holm_and_p_best() -> None:
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    draws = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0], [0.5, 3.0]])
    assert np.allclose(p_best(draws), [0.625, 0.375])


def test_paired_tests_do_not_depend_on_the_order_a_mean_summed_in() -> None:
    """Per-dataset differences equal but for rounding (a mean of the same folds summed in another order) tie in
    rank, as equal differences should; plain Wilcoxon on the unrounded scores ranks them apart."""
    from scipy.stats import wilcoxon

    b = np.array([0.25, 0.5, 0.125, 0.375, 0.0625, 0.75, 0.3125, 0.4375])
    d = np.array([0.1, -0.1, 0.1, 0.2, -0.3, 0.1, 0.2, 0.1]) / 3
    a, again = b + d, b + d
    again[::2] = np.nextafter(again[::2], 1.0)  # the same scores, the last bit moved on every other dataset
    assert paired_p(a, b) == paired_p(again, b) == paired_p(b + d, b)
    assert wilcoxon(a, b, zero_method="zsplit").pvalue != wilcoxon(again, b, zero_method="zsplit").pvalue
    assert paired_p(b, b) == 1.0 and paired_p(np.nextafter(b, 1.0), b) == 1.0


def test_a_cell_cube_drops_a_skipped_fold_for_every_method_and_a_dataset_left_without_a_seed() -> None:
    keys = [(ds, seed, m) for ds in ("b", "a", "c") for seed in (1, 0) for m in ("y", "x", "z")]
    rows = [(*key, 0.1 * i) for i, key in enumerate(keys)]
    folds = pd.DataFrame(rows, columns=["dataset_id", "seed", "method", "regret"])
    folds.loc[(folds.dataset_id == "c") & (folds.seed == 1) & (folds.method == "x"), "regret"] = np.nan
    folds.loc[folds.method == "z", "regret"] = np.nan  # never scored in this cell: not in its cube
    c = cube(folds.sample(frac=1, random_state=0), "regret")
    assert c.methods == ["x", "y"] and c.datasets == ["a", "b"] and c.values.shape == (2, 2, 2)
    assert c.values[0, 0, 0] == folds.query("dataset_id == 'a' and seed == 0 and method == 'x'").regret.item()
    with pytest.raises(ValueError, match="two folds of one method"):
        cube(pd.concat([folds, folds.head(1)]), "regret")


def test_negative_controls_measure_nothing_or_no_structure(tiny) -> None:
    ev = evaluate(
        [baselines.make(n) for n in baselines.NEGATIVE_CONTROLS],
        tiny,
        settings=("I", "V"),
        budgets=(4,),
        seeds=(0,),
        workers=1,
        progress=False,
        isolate=False,
    )
    r = ev.results.set_index("method")
    assert (r.loc["constant"].n_measured == 0).all() and (r.loc["task-mean-memory"].n_measured == 4).all()
    assert (r.status == "ok").all()


def _key(sub: str, harness: str = "h") -> Key:
    return Key(sub, "code", harness, "data", "3.0")


def test_every_mark_changed_since_the_trusted_commit_re_runs_in_full_however_many_changed() -> None:
    """A harness change renews every mark at once; a forged submission hidden among them is re-run all the same."""
    keys = {f"s{i}.json": _key(f"new{i}", "h2") for i in range(6)}
    keys["edited.json"] = _key("edited", "h2")
    keys["same.json"] = _key("same", "h2")
    marks = {name: {**key.as_dict(), "verified": True} for name, key in keys.items()}
    before = {f"s{i}.json": {**_key(f"old{i}", "h1").as_dict(), "verified": True} for i in range(6)}
    before["edited.json"] = {**_key("before-edit", "h2").as_dict(), "verified": True}
    chosen = plan(keys, marks, changed=before, sample=1, seed="abc")
    assert {n for n, why in chosen.rerun.items() if why == "changed since the compared commit"} == set(before)
    assert chosen.rerun["same.json"] == "sampled" and not chosen.fresh  # and the one unchanged: spot-checked


def test_ci_takes_its_base_from_the_ci_system_and_draws_its_spot_checks_when_it_runs() -> None:
    from peppp_bench.board.verify import ci_policy

    with_base = ci_policy("abc123")
    assert with_base.since == "abc123" and with_base.sample == 1
    assert with_base.spot_seeds == with_base.spot_settings == 1
    without = ci_policy(None)  # nothing in the commits under test says what is new: spot-check everything
    assert without.since is None and without.sample >= 10**9 and without.spot_seeds == without.spot_settings == 1
    assert len({ci_policy(None).seed for _ in range(5)}) == 5  # drawn afresh: no committer can know it


def test_spot_checks_of_one_suite_draw_the_same_mask_seeds_and_settings_so_they_re_run_together() -> None:
    """Every submission on a suite is spot-checked on the same drawn seed and setting (one evaluation shares
    each fold's completion); another suite and another draw choose their own, and a submission without the
    drawn setting gets the next of its own in the suite's order."""
    from peppp_bench.board.verify import Plan, spot_checks

    settings = ["I", "II", "III", "IV", "V", "VI"]
    subs = {
        f"{suite}--m{i}.json": {"suite": {"name": suite}, "seeds": list(range(10)), "settings": settings}
        for suite in "ab"
        for i in range(5)
    }
    subs["a--only-i-ii.json"] = {"suite": {"name": "a"}, "seeds": list(range(10)), "settings": ["I", "II"]}
    chosen = Plan({name: "sampled" for name in subs}, [])
    draws = [spot_checks(chosen, subs, 1, 1, f"draw{d}") for d in range(40)]
    for spot in draws:
        assert len({spot[f"a--m{i}.json"] for i in range(5)}) == 1
        assert spot["a--only-i-ii.json"].seeds == spot["a--m0.json"].seeds
        assert spot["a--m0.json"].settings[0] not in ("I", "II") or spot["a--only-i-ii.json"] == spot["a--m0.json"]
    assert len({spot["a--m0.json"].seeds for spot in draws}) > 3  # the draw, not the suite, chooses
    assert len({spot["a--m0.json"].settings for spot in draws}) > 3
    assert any(spot["a--m0.json"] != spot["b--m0.json"] for spot in draws)
    three = spot_checks(chosen, subs, 3, None, "x")
    assert all(len(s.seeds) == 3 and s.settings == tuple(subs[n]["settings"]) for n, s in three.items())
    assert spot_checks(chosen, subs, None, None, "x") == {}


def test_the_readme_results_and_the_board_json_agree() -> None:
    root = Path(__file__).resolve().parents[1]
    data = json.loads((root / "leaderboard" / "board.json").read_text())
    readme = (root / "README.md").read_text()
    assert results_block(data) in readme and with_results(readme, results_block(data)) == readme
    fields = {"suite", "setting", "n", "method", "metric", "mean", "ci_low", "ci_high", "p_best", "group"}
    assert data["primary_metric"] == "frontier_regret" and fields | {"folds_ok", "folds_failed"} <= set(
        data["cells"][0]
    )
    primary = [c for c in data["cells"] if c["metric"] == "frontier_regret"]
    assert all(c["ci_low"] <= c["mean"] <= c["ci_high"] for c in primary)
    assert {c["suite"] for c in primary} >= {"paper", "mini"}
    measured = [c for c in primary if c["group"] != "not ranked" and c["method"] != "prior"]
    assert all(c["vs_prior"] is not None and c["vs_prior_p_holm"] is not None for c in measured)


def test_ranking_agreement_compares_two_suites_cell_by_cell(tmp_path, capsys) -> None:
    """τ is 1 when a suite orders the compared methods like the reference and −1 when reversed; trivial
    methods and reference bounds are left out; the reference's best family is looked for in the top group."""
    import json

    from peppp_bench.board.agreement import family, ranking_agreement
    from peppp_bench.cli import main

    methods = ["ed-mf", "bayes-ed-mf", "qr-mf", "bo-full", "random-mf"]
    rows = []
    for suite, means in (("paper", [1, 2, 3, 4, 5]), ("same", [10, 20, 30, 40, 50]), ("reversed", [5, 4, 3, 2, 1])):
        for setting in ("I", "III", "V"):
            for m, v in zip(methods, means):
                group = "top" if v == min(means) else ""
                rows.append(
                    dict(suite=suite, setting=setting, n=5, method=m, metric="frontier_regret", mean=v, group=group)
                )
            rows.append(
                dict(suite=suite, setting=setting, n=5, method="constant", metric="frontier_regret", mean=0.0, group="")
            )
            rows.append(
                dict(
                    suite=suite,
                    setting=setting,
                    n=5,
                    method="oracle",
                    metric="frontier_regret",
                    mean=0.0,
                    group="not ranked",
                )
            )
    cells = pd.DataFrame(rows)
    same = ranking_agreement(cells, "same")
    assert list(same.setting) == ["I", "III"] and np.allclose(same.kendall_tau, 1) and (same.methods == 5).all()
    assert (same.reference_best == "ed-mf").all() and same.family_in_top_group.all()
    rev = ranking_agreement(cells, "reversed")
    assert np.allclose(rev.kendall_tau, -1) and not rev.family_in_top_group.any()
    assert family("bayes-ed-mf") == family("ed-mf-plugin") == "ed" and family("mine") == "mine"
    with pytest.raises(ValueError, match="no cell"):
        ranking_agreement(cells, "absent")
    (tmp_path / "board.json").write_text(json.dumps({"cells": rows}))
    assert main(["leaderboard", "agreement", "reversed", "--board", str(tmp_path)]) == 0
    assert "mean Kendall τ -1.00 over 2 cells" in capsys.readouterr().out


def test_a_re_run_reproduces_within_the_rule_for_another_cpu() -> None:
    """A near-tie flipped by another CPU's rounding on a fold or two reproduces; more flips, a cell mean moved
    by more than CELL_TOLERANCE, or any change of status or measurement count does not."""
    from peppp_bench.board.leaderboard import CELL_TOLERANCE, same_folds

    columns = ["setting", "seed", "dataset_id", "n", "frontier_regret", "convergence", "hyperdiff", "regret",
               "relative_memory", "n_measured", "status", "reason"]  # fmt: skip
    rows = [["I", s, f"d{d}", 5, 0.02, 0.01, 0.01, 0.0, 0.1, 5, "ok", ""] for s in range(10) for d in range(30)]
    committed = {"columns": columns, "rows": rows}

    def again(change: int, by: float, column: str = "frontier_regret") -> dict:
        out = [list(r) for r in rows]
        for r in out[:change]:
            r[columns.index(column)] = r[columns.index(column)] + by if isinstance(by, float) else by
        return {"columns": columns, "rows": out}

    assert same_folds(again(0, 0.0), committed)
    assert same_folds(again(3, 0.001), committed)  # 3 of 300 folds flipped, the cell's mean moved by 1e-5
    assert not same_folds(again(4, 0.001), committed)  # more than 1 % of the folds
    assert not same_folds(again(1, 300 * 2 * CELL_TOLERANCE), committed)  # one fold, but the mean moved too far
    assert not same_folds(again(1, 6, "n_measured"), committed)
    assert not same_folds(again(1, "failed", "status"), committed)
    # A spot check re-runs 3 of the 10 seeds: a flip moves the board's cell (300 folds) by as much as in a
    # full re-run, so it is judged against the whole cell, not the 90 folds re-run.
    spot = {"columns": columns, "rows": rows[:90]}
    flip = {"columns": columns, "rows": again(1, 0.02)["rows"][:90]}  # 0.02 / 300 < CELL_TOLERANCE < 0.02 / 90
    assert same_folds(again(1, 0.02), committed) and not same_folds(flip, spot)
    assert same_folds(flip, spot, committed)
    assert not same_folds({"columns": columns, "rows": again(1, 0.04)["rows"][:90]}, spot, committed)


def test_cross_architecture_cells_show_what_transfer_costs_beside_their_within_architecture_setting() -> None:
    """X and XII carry each method's paired difference from I and II (the same held-out rows, seeds and number of
    meta-training rows, from the held-out row's own network): in board.json, its Markdown and its page, equal to
    the difference computed directly from the folds, Holm-corrected over the cell's methods."""
    import peppp_bench
    from peppp_bench.board.render import render

    bench = peppp_bench.load("mini-arch")
    methods = [baselines.make("prior"), baselines.make("ed-mf")]
    ev = evaluate(
        methods, bench, settings=("I", "II", "X", "XII"), budgets=(5,), seeds=(0, 1), workers=1, progress=False
    )
    subs = [make_submission(ev, m.name, authors="t", description="", code="baselines:EDMF") for m in methods]
    markdown, page, as_json = render(subs, {f"{m.name}@mini-arch": None for m in methods})
    transfer = pd.DataFrame(json.loads(as_json)["transfer"])
    assert sorted(zip(transfer.setting, transfer.versus)) == [("X", "I")] * 2 + [("XII", "II")] * 2
    folds = ev.results.pivot_table(index=["method", "dataset_id", "seed"], columns="setting", values="frontier_regret")
    for r in transfer.itertuples():
        direct = (folds.loc[r.method][r.setting] - folds.loc[r.method][r.versus]).mean()
        assert r.difference == pytest.approx(direct, abs=1e-6) and r.ci_low <= r.difference <= r.ci_high
        assert r.p_holm >= r.p
    shown = json.loads(page[page.index('"application/json">') + 19 : page.index("</script>")])["suites"]["mini-arch"]
    beside = {m["name"]: m["cells"]["5"]["vs_within"][0] for m in shown["settings"]["X"]}
    assert beside == pytest.approx(transfer[transfer.setting == "X"].set_index("method").difference.to_dict(), abs=1e-6)
    assert not any("vs_within" in m["cells"]["5"] for m in shown["settings"]["I"])
    section = markdown[markdown.index("### Setting X\n") : markdown.index("### Setting XII\n")]
    assert "| vs I n=5 |" in section and "what transfer across networks costs" in section
    assert "vs I n=5" not in markdown[: markdown.index("### Setting X\n")]
    assert '"within":{"X":"I","XII":"II"}' in page
