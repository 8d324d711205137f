"""Write modern-mini 2.0.0's spec (../spec.toml) by round 9's rule (PILOT.md): the tasks the screen of rounds 8
and 9 kept (round9-kept.txt, best first; the 36 best if more), their 32 configurations, network and recipe, on
seeds 10-21, of which 16-21 are the scoring replicates. Seeds 10-21 chose neither the tasks (the screen's seeds
100-102) nor the configurations (rounds 5-7, seeds 0-7). Refuses with fewer than 30 kept tasks.
Run: python datasets/modern-mini/pilot/make_suite.py"""

from __future__ import annotations

import sys
from pathlib import Path

from make_round5 import recipe_lines
from make_round8 import CANDIDATES as ROUND8
from make_round8 import CONFIGURATIONS, ROUND5, spec_body
from make_round9 import CANDIDATES as ROUND9

HERE = Path(__file__).resolve().parent
MOST, LEAST = 36, 30
SEEDS, SCORING = list(range(10, 22)), list(range(16, 22))


def main() -> None:
    kept = (HERE / "round9-kept.txt").read_text().split()
    if len(kept) < LEAST:
        sys.exit(f"the screen kept {len(kept)} tasks, fewer than {LEAST}: round 10 is written instead (PILOT.md)")
    candidates = {c[0]: c for c in ROUND8 + ROUND9}
    chosen = [candidates[t] for t in kept[:MOST]]
    settings = "\n".join(recipe_lines(ROUND5))
    head = f'''# modern-mini 2.0.0, chosen by its pilot (pilot/PILOT.md, rounds 8-9, by pilot/make_suite.py): the
# {len(chosen)} photo-patch tasks whose configuration order held best across the screen's seeds 100-102, in 32
# of today's training formats (rounds 5-7), on a VGG-style CNN with two convolutions per stage. Seeds 10-15 are
# measured (the matrix is their mean); seeds 16-21 are the scoring replicates. None of them chose the tasks or
# the configurations.
# Run: peppp-bench generate datasets/modern-mini/spec.toml --store STORE --workers 2 --to-suite OUT

[suite]
name = "modern-mini"
version = "2.0.0"
description = "{description(chosen)}"
seeds = {SEEDS}
scoring_seeds = {SCORING}
configurations = [{", ".join(f'"{c}"' for c in CONFIGURATIONS)}]
configs_per_unit = 32
{settings}

'''
    out = HERE.parent / "spec.toml"
    out.write_text(head + spec_body(chosen))
    print(f"wrote {out}: {len(chosen)} tasks")


def description(chosen: list[tuple]) -> str:
    """The suite's description, its tasks' patch sizes and colours said from the tasks chosen."""
    sizes = " and ".join(str(s) for s in sorted({c[2] for c in chosen}))
    kinds = " and ".join(k for k, colour in (("grey", False), ("colour", True)) if any(c[3] == colour for c in chosen))
    return DESCRIPTION.format(n=len(chosen), sizes=sizes, kinds=kinds)


DESCRIPTION = (
    "A CPU-sized PEPPP suite over today's training formats, generated with peppp-bench: {n} photo-patch "
    "classification tasks from scikit-image's photographs ({sizes} px, {kinds}), each trained in 32 "
    "configurations (fp32; bf16 weights and activations with MXFP8 E5M2 errors and weight gradients; activations, "
    "and some weights, in FP8, FP6 and FP4 with per-tensor, MX (blocks of 16 and 32) and NVFP4 scaling; errors and "
    "weight gradients in MXFP6, MXFP4 and NVFP4; nearest and stochastic rounding) on a VGG-style CNN (channels "
    "16, 32, 64, two convolutions per stage, quantized before its normalisation) with seeds 10-15 (the matrix is "
    "their mean) and seeds 16-21 as scoring replicates (clean recipe, 20 epochs, lr 0.05, cosine schedule)."
)

if __name__ == "__main__":
    main()
