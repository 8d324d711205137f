"""The bundled `modern-mini` suite: today's formats on the mini tasks, its structure, regeneration of
committed cells and replicates."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

import peppp_bench
from peppp_bench.modern import MODERN_IDS
from tests.conftest import assert_reproduced, retrain_unit, seed_noise

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "datasets" / "modern-mini"


@pytest.fixture(scope="module")
def modern():
    return peppp_bench.load("modern-mini")


def test_a_suite_that_misses_the_structure_criteria_is_labelled_a_negative_control() -> None:
    """modern-mini carries its spec's negative-control label in its metadata and card; mini and mini-arch,
    which meet the criteria (pooled and on each network), do not."""
    from peppp_bench.generate.spec import read_spec
    from peppp_bench.suites.structure import missed_criteria

    why = read_spec(ROOT / "datasets" / "modern-mini" / "spec.toml").negative_control
    assert why and peppp_bench.load("modern-mini").metadata["negative_control"] == why
    assert f"> **Negative control.** {why}" in (ROOT / "peppp_bench" / "data" / "modern-mini" / "README.md").read_text()
    for name in ("mini", "mini-arch"):
        meta = peppp_bench.load(name).metadata
        assert "negative_control" not in meta and missed_criteria(meta["structure"]) == []
    assert set(peppp_bench.load("mini-arch").metadata["structure"]["by_architecture"]) == {
        "vgg",
        "vgg-wide",
        "vgg-deep",
    }


def test_modern_mini_is_the_mini_tasks_in_every_modern_configuration(modern) -> None:
    v1 = re.findall(r'^id = "([^"]+)"', (ROOT / "datasets" / "mini" / "v1" / "spec.toml").read_text(), re.M)
    assert modern.dataset_ids == v1 and list(modern.error.columns) == list(MODERN_IDS)  # mini 1.x's 42 tasks
    assert np.isfinite(modern.E).all() and modern.cap_rule == "row-median"
    s = modern.metadata["structure"]
    assert s["datasets_whose_configurations_all_tie"] == 0
    shares = s["weights_format_share_on_frontiers"]
    assert set(shares) >= {"fp32 none", "fp8_e4m3 mx", "fp4_e2m1 nvfp4"} and abs(sum(shares.values()) - 1) < 0.01
    prov = modern.metadata["provenance"]
    assert prov["git_sha"] != "unknown" and prov["seeds"] == [0]
    # memory follows the roles' bits: fp32 everywhere is the most expensive, MXFP4 the cheapest
    assert (modern.memory["fp32"] == modern.memory.max(axis=1)).all()
    assert (modern.memory["mxfp4-b32-opt-fp32"] < modern.memory["mxfp8-b32-opt-fp32"]).all()


@pytest.mark.slow
def test_regenerated_cells_equal_the_committed_ones(modern) -> None:
    """7 random configurations of one randomly chosen unit of a cheap task, retrained exactly as generated. These
    tasks were trained by the first commit that trained cells of this suite (2dc25f2, see the provenance's
    `cells_by_git_sha`): the committed errors (bit for bit on the generating CPU, else within seed noise)
    show the training code has not changed what it computes since."""
    cheap = ["digits-0v1", "digits-5v6"]
    task = cheap[np.random.default_rng(int(os.environ.get("PEPPP_BENCH_REGEN_SEED", "2026"))).integers(len(cheap))]
    cells = retrain_unit(SPECS / "spec.toml", task, 0, configs=7)
    trained_on = modern.metadata["provenance"].get("cells_by_cpu")
    assert_reproduced(cells, modern.error.loc[task].to_dict(), trained_on, seed_noise(modern, task))


@pytest.mark.slow
def test_modern_mini_has_seed_replicates_and_their_seed_noise(modern) -> None:
    reps = modern.replicates
    assert reps is not None and set(reps.seed) == {1, 2}
    s = modern.metadata["structure"]
    assert (
        s["noise_fully_replicated_datasets"] == 3 and s["seed_noise_hyperdiff"] > 0 and s["noise_seed_std_of_error"] > 0
    )
    committed = reps[(reps.dataset_id == "lfw-8") & (reps.seed == 2)].set_index("config_id").error.to_dict()
    cells = retrain_unit(SPECS / "replicates-tasks.toml", "lfw-8", 2, configs=7)
    trained_on = modern.metadata["provenance"]["replicates"].get("cells_by_cpu")
    assert_reproduced(cells, committed, trained_on, seed_noise(modern, "lfw-8"))
