"""Write round5.toml (PILOT.md, round 5): round 3's 8 tasks on a deeper network, 32 configurations that grade the
activations' format between FP6 E2M3 and MXFP4. Run: python datasets/modern-mini/pilot/make_round5.py"""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
MXFP8_E5M2 = '{ format = "fp8_e5m2", scaling = "mx", block = 32 }'
BACKWARD = f"errors = {MXFP8_E5M2}\ngradients = {MXFP8_E5M2}"
ELEMENT = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2", "e2m3": "fp6_e2m3", "e3m2": "fp6_e3m2", "e2m1": "fp4_e2m1"}
NAMES = {"e4m3": "FP8 E4M3", "e5m2": "FP8 E5M2", "e2m3": "FP6 E2M3", "e3m2": "FP6 E3M2", "e2m1": "FP4 E2M1"}


def fmt(element: str, scaling: str, rounding: str = "nearest") -> tuple[str, str]:
    """A role's TOML table and its words, from an element, a scaling (cur, mx16/32/128, nvfp4) and a rounding."""
    table = f'format = "{ELEMENT[element]}"'
    words = NAMES[element]
    if scaling == "cur":
        table += ', scaling = "current"'
        words += ", per-tensor (current) scaling"
    elif scaling == "nvfp4":
        table += ', scaling = "nvfp4"'
        words = "NVFP4"
    else:
        block = int(scaling[2:])
        table += f', scaling = "mx", block = {block}'
        words = f"MX{words.replace(' ', '')}, blocks of {block}"
    if rounding == "stochastic":
        table += ', rounding = "stochastic"'
        words += ", stochastic rounding"
    return "{ " + table + " }", words


def recipe_lines(spec: str) -> list[str]:
    """A round spec's [suite] lines that a later round keeps as they are: all but what names the round and its
    seeds and configurations."""
    suite = re.search(r"\[suite\]\n(.*?)\n\n", spec, re.S)
    assert suite is not None
    own = ("name", "version", "description", "seeds", "configurations", "configs_per_unit")
    return [line for line in suite[1].splitlines() if line.split(" = ")[0] not in own]


# (id, activations (element, scaling, rounding), weights the same?) — the weights are bf16 unless they are the same.
ACTIVATIONS = [
    ("e4m3", "cur"), ("e4m3", "mx32"),
    ("e5m2", "cur"), ("e5m2", "mx32"), ("e5m2", "mx128"),
    ("e2m3", "cur"), ("e2m3", "mx32"),
    ("e3m2", "cur"), ("e3m2", "mx16"), ("e3m2", "mx32"), ("e3m2", "mx128"),
    ("e2m1", "cur"), ("e2m1", "mx16"), ("e2m1", "mx32"), ("e2m1", "mx128"), ("e2m1", "nvfp4"),
]  # fmt: skip
STOCHASTIC = [("e5m2", "mx32"), ("e3m2", "mx32"), ("e2m1", "mx32"), ("e2m1", "nvfp4")]
BOTH = [
    ("e4m3", "mx32"), ("e5m2", "cur"), ("e5m2", "mx32"), ("e2m3", "mx32"), ("e3m2", "cur"), ("e3m2", "mx32"),
    ("e2m1", "cur"), ("e2m1", "mx32"), ("e2m1", "mx128"), ("e2m1", "nvfp4"),
]  # fmt: skip


def configuration(cid: str, acts: tuple[str, str, str], weights_too: bool) -> str:
    table, words = fmt(*acts)
    weights = table if weights_too else '{ format = "bf16" }'
    note = (f"Weights and activations in {words}" if weights_too else f"Activations in {words}; weights in bf16") + (
        "; errors and gradients MXFP8 E5M2 (blocks of 32); fp32 optimizer and master weights"
    )
    return (
        f'[configurations.{cid}]\nnote = "{note}"\nweights = {weights}\nactivations = {table}\n{BACKWARD}\n'
        'optimizer = "fp32"\nmaster = "fp32"\n'
    )


def main() -> None:
    blocks = {"bf16-mxfp8-bwd": re.search(r"\[configurations\.bf16-mxfp8-bwd\].*?master = \"fp32\"\n", ROUND3, re.S)[0]}
    for e, s in ACTIVATIONS:
        blocks[f"a-{e}{s}"] = configuration(f"a-{e}{s}", (e, s, "nearest"), False)
    for e, s in STOCHASTIC:
        blocks[f"a-{e}{s}sr"] = configuration(f"a-{e}{s}sr", (e, s, "stochastic"), False)
    for e, s in BOTH:
        blocks[f"wa-{e}{s}"] = configuration(f"wa-{e}{s}", (e, s, "nearest"), True)
    ids = ["fp32", *blocks]
    assert len(ids) == 32, len(ids)
    tasks = ROUND3[ROUND3.index("[[tasks]]") :]
    head = f'''# modern-mini 2 pilot, round 5 (PILOT.md): round 3's 8 photo-patch tasks at pixel gain 1 on a deeper
# VGG-style CNN (channels 16, 32, 64, two convolutions per stage), seeds 0-5 (0-2 against 3-5, as a suite is
# judged), in 32 configurations that grade the activations between FP6 E2M3 and MXFP4: FP8 E4M3 and E5M2, FP6
# E2M3 and E3M2 and FP4 E2M1 with per-tensor, MX (blocks of 16, 32, 128) and NVFP4 scaling on the activations
# (weights bf16); four of them with stochastic rounding; ten on weights and activations both; errors and
# gradients MXFP8 E5M2, optimizer and master weights fp32; references fp32 and bf16 with the same backward pass.
# Written by make_round5.py. Run: peppp-bench generate datasets/modern-mini/pilot/round5.toml --store STORE --workers 2

[suite]
name = "modern-mini-pilot5"
version = "0.5.0"
description = "{DESCRIPTION}"
seeds = [0, 1, 2, 3, 4, 5]
configurations = [{", ".join(f'"{c}"' for c in ids)}]
recipe = {{ name = "clean", epochs = 20, lr = 0.05, augment = false, schedule = "cosine", curves = true }}
architecture = {{ name = "vgg", channels = [16, 32, 64], layers = 2 }}
backend = "native"
configs_per_unit = 32
cap_rule = "row-median"

'''
    (HERE / "round5.toml").write_text(head + "\n".join(blocks.values()) + "\n" + tasks)


ROUND3 = (HERE / "round3.toml").read_text()
DESCRIPTION = (
    "modern-mini 2 pilot round 5: 8 mini photo-patch tasks at pixel gain 1, 32 configurations of today's formats "
    "grading the activations between FP6 E2M3 and MXFP4 (element format, scaling, rounding; ten also on the "
    "weights; errors and gradients MXFP8 E5M2), VGG-style CNN with channels 16, 32, 64 and two convolutions per "
    "stage, clean recipe, 20 epochs, lr 0.05, cosine schedule, seeds 0-5."
)

if __name__ == "__main__":
    main()
