"""Write round7.toml and round7-configurations.txt (PILOT.md, round 7): round 5's rows, network and recipe; of
round 5's 32 configurations the 18 that stand for their tie groups, and 14 new ones that quantize the backward
pass (errors, weight gradients) or combine it with the forward pass, trained here on seeds 0-7.
Run: python datasets/modern-mini/pilot/make_round7.py"""

from __future__ import annotations

from pathlib import Path

from make_round5 import MXFP8_E5M2, fmt, recipe_lines

HERE = Path(__file__).resolve().parent
ROUND5 = (HERE / "round5.toml").read_text()
BF16 = '{ format = "bf16" }'

# Round 5-6's configurations by tie group (mean error over fp32 across the 8 rows, seeds 0-7; PILOT.md, round 6):
# the ones kept stand for their group; the rest of each group is dropped.
KEPT = [
    "fp32", "bf16-mxfp8-bwd", "a-e4m3mx32",  # within 0.011 of fp32 (7 configurations)
    "a-e5m2cur", "a-e5m2mx32", "a-e3m2mx32", "wa-e3m2cur",  # 0.013-0.023 (11)
    "a-e3m2cur", "a-e2m1nvfp4", "wa-e2m1nvfp4", "a-e5m2mx32sr", "a-e3m2mx32sr",  # 0.027-0.036 (5, all kept)
    "a-e2m1nvfp4sr",  # 0.047 (alone)
    "a-e2m1mx32", "a-e2m1mx16", "a-e2m1mx32sr",  # 0.061-0.078 (6)
    "a-e2m1cur", "wa-e2m1cur",  # 0.119-0.126 (2, both kept)
]  # fmt: skip

# New: (id, activations, errors, gradients, weights), each an (element, scaling[, "stochastic"]) or None for the
# round 5 default (activations and weights bf16, errors and gradients MXFP8 E5M2).
NEW = [
    ("e-e3m2mx32", None, ("e3m2", "mx32"), None, None),
    ("e-e2m3mx32", None, ("e2m3", "mx32"), None, None),
    ("e-e2m1mx32", None, ("e2m1", "mx32"), None, None),
    ("e-e2m1nvfp4", None, ("e2m1", "nvfp4"), None, None),
    ("e-e2m1mx32sr", None, ("e2m1", "mx32", "stochastic"), None, None),
    ("g-e3m2mx32", None, None, ("e3m2", "mx32"), None),
    ("g-e2m1mx32", None, None, ("e2m1", "mx32"), None),
    ("g-e2m1mx32sr", None, None, ("e2m1", "mx32", "stochastic"), None),
    ("eg-e2m1mx32sr", None, ("e2m1", "mx32", "stochastic"), ("e2m1", "mx32", "stochastic"), None),
    ("a-e2m1cursr", ("e2m1", "cur", "stochastic"), None, None, None),
    ("ae-e3m2mx32", ("e3m2", "mx32"), ("e3m2", "mx32"), None, None),
    ("a-e2m1mx32-e-e3m2mx32", ("e2m1", "mx32"), ("e3m2", "mx32"), None, None),
    ("ae-e2m1nvfp4", ("e2m1", "nvfp4"), ("e2m1", "nvfp4"), None, None),
    ("all-e2m1nvfp4", ("e2m1", "nvfp4"), ("e2m1", "nvfp4", "stochastic"), ("e2m1", "nvfp4", "stochastic"), "same"),
]


def role(spec: tuple[str, ...] | None, default: str) -> tuple[str, str]:
    """A role's TOML table and words, or the default's."""
    if spec is None:
        return default, ""
    element, scaling, *rounding = spec
    return fmt(element, scaling, rounding[0] if rounding else "nearest")


def configuration(cid: str, acts: tuple | None, errors: tuple | None, grads: tuple | None, weights: str | None) -> str:
    a, a_words = role(acts, BF16)
    e, e_words = role(errors, MXFP8_E5M2)
    g, g_words = role(grads, MXFP8_E5M2)
    w = a if weights == "same" else BF16
    words = [
        (f"weights and activations in {a_words}" if weights == "same" else f"activations in {a_words}")
        if a_words
        else "",
        f"errors in {e_words}" if e_words else "",
        f"weight gradients in {g_words}" if g_words else "",
    ]
    said = "; ".join(x for x in words if x)
    rest = [
        "weights bf16" if weights != "same" else "",
        "activations bf16" if not a_words else "",
        "errors MXFP8 E5M2 (blocks of 32)" if not e_words else "",
        "weight gradients MXFP8 E5M2 (blocks of 32)" if not g_words else "",
    ]
    parts = [said[0].upper() + said[1:], ", ".join(x for x in rest if x), "fp32 optimizer and master weights"]
    note = "; ".join(x for x in parts if x)
    return (
        f'[configurations.{cid}]\nnote = "{note}"\nweights = {w}\nactivations = {a}\nerrors = {e}\n'
        f'gradients = {g}\noptimizer = "fp32"\nmaster = "fp32"\n'
    )


def main() -> None:
    assert len(KEPT) == 18 and len(NEW) == 14
    blocks = [configuration(*new) for new in NEW]
    ids = [new[0] for new in NEW]
    tasks = ROUND5[ROUND5.index("[[tasks]]") :]
    settings = recipe_lines(ROUND5)
    head = f'''# modern-mini 2 pilot, round 7 (PILOT.md): round 5's 8 photo-patch tasks, network and recipe, seeds 0-7,
# in 14 new configurations that quantize the backward pass (errors, weight gradients: MXFP6, MXFP4, NVFP4, with
# and without stochastic rounding) or the forward and backward passes together. Judged with the 18
# configurations of rounds 5-6 listed in round7-configurations.txt. Written by make_round7.py.
# Run (in datasets/modern-mini/pilot):
#   peppp-bench generate round7.toml --store STORE7 --workers 2
#   python analyse.py --configurations round7-configurations.txt round5-cells.parquet round6-cells.parquet STORE7

[suite]
name = "modern-mini-pilot7"
version = "0.7.0"
description = "{DESCRIPTION}"
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
configurations = [{", ".join(f'"{c}"' for c in ids)}]
configs_per_unit = 14
'''
    (HERE / "round7.toml").write_text(head + "\n".join(settings) + "\n\n" + "\n".join(blocks) + "\n" + tasks)
    (HERE / "round7-configurations.txt").write_text("\n".join(KEPT + ids) + "\n")


DESCRIPTION = (
    "modern-mini 2 pilot round 7: 8 mini photo-patch tasks at pixel gain 1, 14 configurations that quantize the "
    "backward pass (errors or weight gradients in MXFP6, MXFP4 or NVFP4, some with stochastic rounding) or the "
    "forward and backward passes together, VGG-style CNN with channels 16, 32, 64 and two convolutions per stage, "
    "clean recipe, 20 epochs, lr 0.05, cosine schedule, seeds 0-7."
)

if __name__ == "__main__":
    main()
