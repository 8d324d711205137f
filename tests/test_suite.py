"""Suite folders: the cap rule, the replicates table and the seed noise measured from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import baselines
import peppp_bench
from peppp_bench.configs import CONFIG_IDS
from peppp_bench.suites.suite import Benchmark, SuiteError, read_suite
from peppp_bench.suites.synthetic import synthetic_suite


def test_row_median_cap_leaves_no_fold_without_configurations(tmp_path: Path) -> None:
    """The synthetic suite has 32- and 64-px rows: under the global median the 32-px rows fit everything and
    the 64-px rows little; under row-median every row keeps the half of its configurations that is cheapest."""
    glob = read_suite(synthetic_suite(tmp_path / "g", cap_rule="global-median"))
    row = read_suite(synthetic_suite(tmp_path / "r", cap_rule="row-median"))
    assert row.cap_rule == "row-median" and glob.cap_rule == "global-median"
    for i in range(row.E.shape[0]):
        assert row.cap_of(i) == pytest.approx(np.median(row.M[i]))
        assert glob.cap_of(i) == glob.memory_cap
    ev = peppp_bench.evaluate(
        baselines.make("max-memory"), row, settings=("II",), budgets=(4,), workers=1, progress=False, seeds=(0,)
    )
    assert (ev.results.status == "ok").all()
    used = ev.results.set_index("dataset_id").relative_memory
    for i, d in enumerate(row.dataset_ids):
        valid = row.M[i][row.M[i] <= np.median(row.M[i])]
        assert used[d] == pytest.approx(valid.max() / valid.sum())
    assert "row-median" in (tmp_path / "r" / "README.md").read_text()


def _replicates(bench_error: np.ndarray, ids: list[str], rows: list[int], noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    records = []
    for seed in (1, 2):
        for i in rows:
            for j, cid in enumerate(CONFIG_IDS):
                value = float(np.clip(bench_error[i, j] + noise * rng.normal(), 0, 1))
                records.append({"dataset_id": ids[i], "config_id": cid, "seed": seed, "error": value})
    return pd.DataFrame(records)


def test_replicates_give_the_seed_noise(tmp_path: Path) -> None:
    base = read_suite(synthetic_suite(tmp_path / "base"))
    assert base.replicates is None and base.metadata["structure"]["noise_replicated_cells"] == 0
    same = read_suite(synthetic_suite(tmp_path / "same", replicates=_replicates(base.E, base.dataset_ids, [0, 1], 0.0)))
    s = same.metadata["structure"]
    assert s["noise_replicated_cells"] == 2 * 99 and s["noise_fully_replicated_datasets"] == 2
    assert (
        s["noise_seed_std_of_error"] == 0
        and s["seed_noise_hyperdiff"] == 0
        and s["noise_share_of_row_variance_mean"] == 0
    )
    noisy = read_suite(
        synthetic_suite(tmp_path / "noisy", replicates=_replicates(base.E, base.dataset_ids, [0, 1], 0.02))
    )
    s = noisy.metadata["structure"]
    assert s["noise_seed_std_of_error"] == pytest.approx(0.02 * np.sqrt(2 / 3), rel=0.1)  # seed 0 is noise-free here
    assert s["seed_noise_hyperdiff"] > 0 and 0 < s["noise_share_of_row_variance_mean"] < 1
    assert (
        len(noisy.replicates) == 2 * 2 * 99 and "replicates.parquet" in (tmp_path / "noisy" / "README.md").read_text()
    )


def test_bad_replicates_are_refused(tmp_path: Path) -> None:
    base = read_suite(synthetic_suite(tmp_path / "base"))
    reps = _replicates(base.E, base.dataset_ids, [0], 0.0)
    with pytest.raises(ValueError, match="does not have"):
        synthetic_suite(tmp_path / "x", replicates=reps.assign(dataset_id="nope"))
    with pytest.raises(ValueError, match="seeds other than 0"):
        synthetic_suite(tmp_path / "x", replicates=reps.assign(seed=0))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        synthetic_suite(tmp_path / "x", replicates=reps.assign(error=2.0))
    # A replicates file slipped into a suite folder without being in its manifest is refused.
    folder = synthetic_suite(tmp_path / "plain")
    reps.to_parquet(folder / "replicates.parquet")
    with pytest.raises(SuiteError, match="replicates.parquet"):
        read_suite(folder)


def test_an_unknown_cap_rule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown cap rule"):
        synthetic_suite(tmp_path / "x", cap_rule="mean")
    folder = synthetic_suite(tmp_path / "y")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["normalizers"]["cap_rule"] = "mean"
    (folder / "metadata.json").write_text(json.dumps(meta))
    manifest = json.loads((folder / "manifest.json").read_text())
    from peppp_bench.suites.suite import sha256_file

    manifest["metadata.json"] = sha256_file(folder / "metadata.json")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SuiteError, match="cap rule"):
        read_suite(folder)


def test_structure_command_compares_suites_side_by_side(tmp_path: Path, monkeypatch, capsys) -> None:
    from peppp_bench.cli import main

    base = read_suite(synthetic_suite(tmp_path / "tiny"))
    synthetic_suite(tmp_path / "noisy", name="noisy", replicates=_replicates(base.E, base.dataset_ids, [0, 1], 0.02))
    monkeypatch.setenv("PEPPP_BENCH_DATA_DIR", str(tmp_path))
    assert main(["structure", "tiny", "noisy", "mini"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| property | `tiny` | `noisy` | `mini` |" and len(lines) == 17
    noise = next(line for line in lines if line.startswith("| what seed noise alone costs"))
    tiny_noise, noisy_noise, mini_noise = (c.strip() for c in noise.strip("|").split("|")[1:])
    assert tiny_noise == "unknown" and noisy_noise.startswith(
        f"HyperDiff {read_suite(tmp_path / 'noisy').metadata['structure']['seed_noise_hyperdiff']:.3f}"
    )
    s = peppp_bench.load("mini").metadata["structure"]  # the bundled mini's, against its scoring seeds
    lo, hi = s["seed_noise_frontier_regret_ci95"]
    assert mini_noise.startswith(f"frontier regret {s['seed_noise_frontier_regret']:.3f} [{lo:.3f}, {hi:.3f}]")
    every = next(line for line in lines if line.startswith("| measuring every configuration"))
    lo, hi = s["measure_all_frontier_regret_ci95"]
    assert f"frontier regret {s['measure_all_frontier_regret']:.3f} [{lo:.3f}, {hi:.3f}]" in every
    assert "Format A bits: 5 24%" in next(line for line in lines if line.startswith("| most frequent"))
    criteria = next(line for line in lines if line.startswith("| structure criteria"))
    assert [c.strip() for c in criteria.strip("|").split("|")[1:]] == [
        "not measurable: not every cell has several seeds",
        "not measurable: not every cell has several seeds",  # two seeds of some cells only
        "met",
    ]


def test_a_suite_that_misses_the_structure_criteria_is_labelled_a_negative_control(tmp_path: Path) -> None:
    """Measured from its own seeds of every cell, a suite that misses any criterion is labelled a negative
    control in its metadata and card, naming what it misses; one that meets them, or cannot be measured, is not."""
    from peppp_bench.suites.structure import missed_criteria

    quiet = read_suite(synthetic_suite(tmp_path / "quiet", seed_noise=0.01))
    assert missed_criteria(quiet.metadata["structure"]) == [] and "negative_control" not in quiet.metadata
    loud = read_suite(synthetic_suite(tmp_path / "loud", seed_noise=0.4))
    missed = missed_criteria(loud.metadata["structure"])
    assert missed is not None and "task × configuration interaction ≥ 3× seed noise" in missed
    assert loud.metadata["negative_control"] == (
        f"It misses the structure criteria of a suite that ranks methods: {'; '.join(missed)}."
    )
    assert "> **Negative control.** It misses the structure criteria" in (tmp_path / "loud" / "README.md").read_text()
    one_seed = read_suite(synthetic_suite(tmp_path / "tiny"))
    assert missed_criteria(one_seed.metadata["structure"]) is None and "negative_control" not in one_seed.metadata


def test_each_network_of_a_multi_architecture_suite_must_meet_the_structure_criteria(tmp_path: Path, capsys) -> None:
    """Pooled rows can carry signal that one network lacks: a suite of several architectures is measured on
    each network's own rows and seeds too, and a network that misses a criterion is named."""
    from peppp_bench.cli import main
    from peppp_bench.suites.structure import missed_criteria

    both = read_suite(synthetic_suite(tmp_path / "both", n=24, seed_noise=0.01, architectures=2))
    assert both.multi_architecture and missed_criteria(both.metadata["structure"]) == []
    assert set(both.metadata["structure"]["by_architecture"]) == {"net-0", "net-1"}
    one = read_suite(synthetic_suite(tmp_path / "one", name="one", n=24, seed_noise=[0.01, 0.4], architectures=2))
    missed = missed_criteria(one.metadata["structure"]) or []
    assert "net-1: task × configuration interaction ≥ 3× seed noise" in missed
    assert not [m for m in missed if m.startswith("net-0")] and "negative_control" in one.metadata
    assert main(["structure", "one", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| property | `one` | `one` net-0 | `one` net-1 |"
    criteria = [c.strip() for c in next(x for x in lines if x.startswith("| structure criteria")).strip("|").split("|")]
    assert criteria[2] == "met" and "task × configuration interaction" in criteria[3]


@pytest.mark.parametrize("name", ["mini", "mini-arch", "modern-mini"])
def test_each_bundled_card_is_valid_markdown_with_its_own_ids_and_a_citation(name: str) -> None:
    import re

    import yaml

    bench = peppp_bench.load(name)
    card = (bench.folder / "README.md").read_text()
    _, front, body = card.split("---\n", 2)
    configs = {c["config_name"]: c["data_files"] for c in yaml.safe_load(front)["configs"]}
    tables = {p.name for p in bench.folder.glob("*.parquet")}
    assert set(configs.values()) == tables  # every table is a `datasets` config, replicates included
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    assert rows and all(len(re.split(r"(?<!\\)\|", line)) == 4 for line in rows), [r for r in rows if r.count("|") != 3]
    ids = re.search(r"e\.g\. (.*) \|", next(r for r in rows if r.startswith("| `dataset_id` | stable id"))).group(1)
    assert {i.strip("`") for i in ids.split(", ")} <= set(bench.dataset_ids)
    assert "§" not in card and "spec " not in card.lower().replace("spec_base", "").replace("spec.toml", "")
    assert not re.search(r"(?<![\w.:</])/(tmp|root|work|home)/", card)  # no machine-local paths
    assert "@inproceedings{yang2022peppp" in card and "@software{peppp_bench" in card


def test_a_benchmark_hands_out_copies_so_writing_changes_nothing() -> None:
    bench = peppp_bench.load("mini")
    E, M, sha = bench.E.copy(), bench.M.copy(), bench.data_sha256
    bench.error.iloc[0, 0] = 0.5
    bench.memory.iloc[0, 0] = 1e9
    bench.datasets.iloc[0, 0] = "changed"
    bench.configurations.iloc[0, 0] = "changed"
    bench.replicates.iloc[0, 0] = "changed"
    bench.metadata["data_sha256"] = "0" * 64
    with pytest.raises(ValueError):
        bench.E[0, 0] = 0.5
    assert np.array_equal(bench.E, E) and np.array_equal(bench.M, M) and bench.data_sha256 == sha
    assert bench.error.iloc[0, 0] == E[0, 0] and bench.datasets.iloc[0, 0] != "changed"
    assert bench.configurations.iloc[0, 0] != "changed" and bench.replicates.iloc[0, 0] != "changed"


def test_two_way_analysis_separates_configurations_interaction_and_seed_noise() -> None:
    """issue 22's criteria on cubes errors[task, configuration, seed] with known structure: a configuration
    effect with task-specific orders is detected against seed noise; noise alone is not; a column the recipe
    cannot tell from another is named; seed groups of a noiseless cube order configurations alike."""
    from peppp_bench.suites.structure import duplicate_columns, seed_group_tau, two_way

    rng = np.random.default_rng(0)
    tasks, configs, seeds = 6, 20, 3
    effect = np.linspace(0, 0.3, configs)[None, :] * rng.uniform(0.5, 1.5, (tasks, 1))  # interaction too
    noise = rng.normal(0, 0.01, (tasks, configs, seeds))
    strong = two_way(0.2 + effect[:, :, None] + noise)
    assert strong["configuration_p"] < 1e-6 and strong["interaction_over_noise"] > 3
    assert strong["degrees_of_freedom"] == {"task": 5, "configuration": 19, "interaction": 95, "seed_noise": 240}
    null = two_way(0.2 + noise)
    assert null["configuration_p"] > 1e-3 and 0.5 < null["interaction_over_noise"] < 2
    shifted = two_way(0.2 + noise + rng.normal(0, 0.05, (tasks, 1, seeds)))  # each seed moves its whole row
    assert shifted["row_shift_share_of_seed_noise"] > 0.8
    cube = 0.2 + effect[:, :, None] + noise
    cube[:, 7] = cube[:, 3]
    assert duplicate_columns(cube, [f"c{j}" for j in range(configs)]) == [["c3", "c7"]]
    assert np.allclose(seed_group_tau(np.repeat(effect[:, :, None], 4, axis=2), ([0, 1], [2, 3])), 1)
    with pytest.raises(ValueError, match="overlap"):
        seed_group_tau(cube, ([0, 1], [1, 2]))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        two_way(cube[:, :, :1])
    exact = np.add.outer(np.arange(tasks), np.arange(configs)) % 5 / 8  # dyadic: every mean is exact
    at_chance = two_way(np.repeat(exact[:, :, None], 3, axis=2))  # seeds agree exactly: no noise to divide by
    assert at_chance["configuration_f"] == np.inf and at_chance["configuration_p"] == 0
    assert np.isnan(two_way(np.full((2, 3, 2), 0.9))["configuration_f"])


class Raises(peppp_bench.Method):
    """Fails every fold (scored at its worst case)."""

    name = "raises"

    def select(self, task, oracle) -> None:
        raise RuntimeError("no")

    def predict(self, task, measured):
        raise AssertionError("never reached")


def test_a_scoring_seed_makes_the_oracle_score_the_seed_noise(tmp_path: Path) -> None:
    """In a suite with a scoring seed, a method measures the measured seeds' mean and is scored against the
    scoring seed: the oracle, which knows every measured cell, scores what seed noise costs it, not 0; a
    failure scores its worst case against the scoring seed; the fingerprint covers the scoring seed."""
    from peppp_bench.pareto import frontier_regret, pareto_mask, worst_frontier_regret

    bench = read_suite(synthetic_suite(tmp_path / "scored", seed_noise=0.03))
    assert bench.scoring_seeds == (3,) and not np.array_equal(bench.truth, bench.E)
    with pytest.raises(ValueError, match="scoring truth is given exactly when"):  # the truth comes with its seeds
        Benchmark(bench.name, bench.error, bench.memory, bench.datasets, bench.configurations, bench.metadata)
    reps = bench.replicates
    measured = reps[reps.seed < 3].groupby(["dataset_id", "config_id"]).error.mean().unstack()
    assert np.allclose(measured.loc[bench.dataset_ids, list(bench.error.columns)].to_numpy(), bench.E, atol=1e-15)
    s = bench.metadata["structure"]
    floor = np.mean([frontier_regret(m, t, e) for m, t, e in zip(bench.M, bench.truth, bench.E)])
    lo, hi = s["measure_all_frontier_regret_ci95"]
    assert s["measure_all_frontier_regret"] == pytest.approx(floor, abs=1e-4) and 0 < lo <= floor <= hi
    assert s["two_way_configuration_p"] < 1e-6 and s["seeds_per_cell"] == 4 and s["duplicate_column_groups"] == 0
    from peppp_bench.board.render import noise_sentence

    assert f"regret {s['measure_all_frontier_regret']:.3f} (95 % interval {lo:.3f}–{hi:.3f})" in noise_sentence(s)

    for isolate in (False, True):
        ev = peppp_bench.evaluate(
            [baselines.make("oracle"), Raises()],
            bench,
            settings=("I",),
            budgets=(2,),
            seeds=(0,),
            workers=1,
            progress=False,
            isolate=isolate,
        )
        r = ev.results.set_index(["method", "dataset_id"])
        assert ev.meta["scoring_seeds"] == [3]
        assert r.loc["oracle"].frontier_regret.mean() == pytest.approx(floor)  # measuring exactly is not scoring 0
        best = [t[pareto_mask(m, e)].min() for m, t, e in zip(bench.M, bench.truth, bench.E)]  # of E's frontier
        assert np.allclose(r.loc["oracle"].loc[bench.dataset_ids].best_error, best)
        worst = [worst_frontier_regret(m, t) for m, t in zip(bench.M, bench.truth)]
        assert np.allclose(r.loc["raises"].loc[bench.dataset_ids].frontier_regret, worst)

    other = read_suite(synthetic_suite(tmp_path / "other", seed_noise=0.03, seed=0))
    assert other.data_sha256 == bench.data_sha256  # deterministic
    edited = bench.replicates
    edited.loc[edited.seed == 3, "error"] = 0.5
    with pytest.raises(ValueError, match="mean of the measured seeds"):
        write_suite_like(bench, tmp_path / "bad", edited.assign(error=edited.error + (edited.seed == 0) * 0.01))
    changed = read_suite(write_suite_like(bench, tmp_path / "changed", edited))
    assert changed.data_sha256 != bench.data_sha256 and np.array_equal(changed.E, bench.E)
    with pytest.raises(ValueError, match="must hold seeds"):
        write_suite_like(bench, tmp_path / "gap", edited.iloc[1:])


def write_suite_like(bench, out: Path, replicates: pd.DataFrame) -> Path:
    """`bench` written again with other replicates (its scoring seed kept)."""
    from peppp_bench.suites.suite import write_suite

    return write_suite(
        out,
        name=bench.name,
        version=bench.version,
        error=bench.E,
        memory=bench.M,
        datasets=bench.datasets,
        description="edited",
        provenance={},
        replicates=replicates,
        seeds=bench.metadata["seeds"],
    )
