"""The bundled `modern-mini` suite: today's formats on photo-patch tasks, the structure criteria from its own
seeds, and regeneration of committed cells."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import peppp_bench
from tests.conftest import assert_criteria_recomputed, assert_reproduced, retrain_unit, seed_noise

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "datasets" / "modern-mini" / "spec.toml"


@pytest.fixture(scope="module")
def modern():
    return peppp_bench.load("modern-mini")


def test_modern_mini_is_its_spec_s_tasks_in_every_configuration(modern) -> None:
    from peppp_bench.generate.spec import read_spec

    spec = read_spec(SPEC)
    assert sorted(modern.dataset_ids) == sorted(t.id for t in spec.tasks)
    assert sorted(modern.error.columns) == sorted(spec.config_ids)  # in the modern table's canonical order
    assert modern.E.shape == (36, 32) and np.isfinite(modern.E).all() and modern.cap_rule == "row-median"
    assert modern.scoring_seeds == (16, 17, 18, 19, 20, 21)
    prov = modern.metadata["provenance"]
    assert prov["seeds"] == list(range(10, 22)) and prov["scoring_seeds"] == list(range(16, 22))
    assert prov["git_sha"] != "unknown"
    # memory follows the roles' bits: fp32 everywhere is the most expensive, NVFP4 in every role the cheapest
    assert (modern.memory["fp32"] == modern.memory.max(axis=1)).all()
    assert (modern.memory["all-e2m1nvfp4"] == modern.memory.min(axis=1)).all()


def test_modern_mini_meets_the_criteria_of_a_suite_whose_configurations_differ(modern) -> None:
    """The structure criteria, from the suite's own twelve seeds per cell: its structure report (what
    `peppp-bench structure modern-mini` prints) and the same analyses recomputed here from its replicates."""
    from peppp_bench.suites.structure import missed_criteria

    assert missed_criteria(modern.metadata["structure"]) == [] and "negative_control" not in modern.metadata
    assert modern.replicates.seed.nunique() == 12
    assert_criteria_recomputed(modern)
    s = modern.metadata["structure"]
    assert s["datasets_whose_configurations_all_tie"] == 0
    lo, hi = s["seed_noise_frontier_regret_ci95"]
    assert 0 < lo <= s["seed_noise_frontier_regret"] <= hi


@pytest.mark.slow
def test_regenerated_cells_equal_the_committed_ones(modern) -> None:
    """7 random configurations of one randomly chosen unit of a cheap task and seed, retrained exactly as
    generated, give the committed errors of that seed (bit for bit on the generating CPU, else within seed
    noise)."""
    cheap = ["photo-clock-moon-g8", "photo-brick-moon-g8", "photo-camera-text-g8", "photo-moon-text-g8"]
    rng = np.random.default_rng(int(os.environ.get("PEPPP_BENCH_REGEN_SEED", "2026")))
    task, seed = cheap[int(rng.integers(len(cheap)))], int(rng.integers(10, 22))
    cells = retrain_unit(SPEC, task, seed, configs=7)
    reps = modern.replicates
    committed = reps[(reps.dataset_id == task) & (reps.seed == seed)].set_index("config_id").error.to_dict()
    trained_on = modern.metadata["provenance"].get("cells_by_cpu")
    assert_reproduced(cells, committed, trained_on, seed_noise(modern, task))
