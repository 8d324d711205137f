"""Write round8.toml (PILOT.md, round 8): a screen of candidate photo-patch tasks on seeds 100-102, in round 7's
32 configurations (round7-configurations.txt, their blocks taken from round5.toml and round7.toml) on round 5's
network and recipe. The seeds are not the suite's (0-7), so the tasks it keeps are judged on replicates that did
not choose them. Run: python datasets/modern-mini/pilot/make_round8.py"""

from __future__ import annotations

import re
from pathlib import Path

from make_round5 import recipe_lines

from peppp_bench.generate.data import COLOUR_PHOTOS

HERE = Path(__file__).resolve().parent
ROUND5 = (HERE / "round5.toml").read_text()
ROUND7 = (HERE / "round7.toml").read_text()
SEEDS = [100, 101, 102]
CONFIGURATIONS = (HERE / "round7-configurations.txt").read_text().split()  # the screens' and the suite's 32
assert len(CONFIGURATIONS) == 32

# (id, photographs, patch, colour, scale): modern-mini 1.x's 8-px photo-patch tasks, three 16-px rows of rounds
# 5-7 (two that held their order there, one that did not), and new 8-px tasks: other pairs and groups of
# photographs, colour photographs in grey, and photographs at half scale (more of a photograph in a patch).
SIX = ["rocket", "hubble_deep_field", "coffee", "astronaut", "immunohistochemistry", "retina"]
EIGHT = list(COLOUR_PHOTOS)  # every colour photograph
CANDIDATES = [
    ("photo-portraits-c8", ["astronaut", "coffee", "rocket", "chelsea"], 8, True, 1.0),
    ("photo-science-c8", ["hubble_deep_field", "immunohistochemistry", "retina"], 8, True, 1.0),
    ("photo-wheel-astronaut-c8", ["colorwheel", "astronaut"], 8, True, 1.0),
    ("photo-coffee-cat-c8", ["coffee", "chelsea"], 8, True, 1.0),
    ("photo-six-c8", SIX, 8, True, 1.0),
    ("photo-textures-g8", ["brick", "grass", "gravel"], 8, False, 1.0),
    ("photo-objects-g8", ["camera", "moon", "coins", "clock"], 8, False, 1.0),
    ("photo-documents-g8", ["page", "text"], 8, False, 1.0),
    ("photo-micro-g8", ["cell", "coins", "moon"], 8, False, 1.0),
    ("photo-brick-gravel-g8", ["brick", "gravel"], 8, False, 1.0),
    ("photo-six-g8", ["camera", "clock", "page", "text", "moon", "grass"], 8, False, 1.0),
    ("photo-textures-g16", ["brick", "grass", "gravel"], 16, False, 1.0),
    ("photo-coffee-cat-c16", ["coffee", "chelsea"], 16, True, 1.0),
    ("photo-documents-g16", ["page", "text"], 16, False, 1.0),
    ("photo-portraits-g8", ["astronaut", "coffee", "rocket", "chelsea"], 8, False, 1.0),
    ("photo-coffee-cat-g8", ["coffee", "chelsea"], 8, False, 1.0),
    ("photo-science-g8", ["hubble_deep_field", "immunohistochemistry", "retina"], 8, False, 1.0),
    ("photo-rocket-hubble-g8", ["rocket", "hubble_deep_field"], 8, False, 1.0),
    ("photo-grass-gravel-g8", ["grass", "gravel"], 8, False, 1.0),
    ("photo-brick-grass-g8", ["brick", "grass"], 8, False, 1.0),
    ("photo-camera-clock-g8", ["camera", "clock"], 8, False, 1.0),
    ("photo-moon-coins-g8", ["moon", "coins"], 8, False, 1.0),
    ("photo-camera-coins-g8", ["camera", "coins"], 8, False, 1.0),
    ("photo-cell-moon-g8", ["cell", "moon"], 8, False, 1.0),
    ("photo-clock-page-g8", ["clock", "page"], 8, False, 1.0),
    ("photo-grass-text-g8", ["grass", "text"], 8, False, 1.0),
    ("photo-astronaut-rocket-c8", ["astronaut", "rocket"], 8, True, 1.0),
    ("photo-hubble-retina-c8", ["hubble_deep_field", "retina"], 8, True, 1.0),
    ("photo-cat-rocket-c8", ["chelsea", "rocket"], 8, True, 1.0),
    ("photo-immuno-retina-c8", ["immunohistochemistry", "retina"], 8, True, 1.0),
    ("photo-eight-c8", EIGHT, 8, True, 1.0),
    ("photo-six-c8-half", SIX, 8, True, 0.5),
    ("photo-portraits-c8-half", ["astronaut", "coffee", "rocket", "chelsea"], 8, True, 0.5),
    ("photo-science-c8-half", ["hubble_deep_field", "immunohistochemistry", "retina"], 8, True, 0.5),
    ("photo-textures-g8-half", ["brick", "grass", "gravel"], 8, False, 0.5),
    ("photo-objects-g8-half", ["camera", "moon", "coins", "clock"], 8, False, 0.5),
    ("photo-micro-g8-half", ["cell", "coins", "moon"], 8, False, 0.5),
]  # fmt: skip


def configuration_blocks(ids: list[str]) -> list[str]:
    """Each configuration's TOML block as rounds 5 and 7 wrote it (fp32 is built in and has none)."""
    blocks = []
    for cid in ids:
        if cid == "fp32":
            continue
        found = re.search(rf"^\[configurations\.{re.escape(cid)}\]\n.*?(?=\n\n|\n\[|\Z)", ROUND5 + ROUND7, re.S | re.M)
        assert found is not None, cid
        blocks.append(found[0] + "\n")
    return blocks


def task(tid: str, photos: list[str], patch: int, colour: bool, scale: float) -> str:
    words = f"Photo patches {tid.removeprefix('photo-').removesuffix('-half').rsplit('-', 1)[0]}"
    words += f", {'colour' if colour else 'grey'} {patch}px" + (", photographs at half scale" if scale != 1 else "")
    options = f"photos = [{', '.join(f'{p!r}'.replace(chr(39), chr(34)) for p in photos)}], patch = {patch}, "
    options += f"colour = {str(colour).lower()}" + (f", scale = {scale}" if scale != 1 else "")
    return f'[[tasks]]\nid = "{tid}"\nname = "{words}"\nsource = "photo-patches"\noptions = {{ {options} }}\n'


def main() -> None:
    n = len(CANDIDATES)
    comment = f"""# modern-mini 2 pilot, round 8 (PILOT.md): a screen of {n} candidate photo-patch tasks on seeds
# 100-102 in round 7's 32 configurations, round 5's network and recipe. A task is kept when the mean Kendall tau
# between its seeds' configuration orders (three pairs) is at least 0.344. Written by make_round8.py.
# Run (in datasets/modern-mini/pilot):
#   peppp-bench generate round8.toml --store STORE8 --workers 2
#   python screen.py STORE8
"""
    write_screen(HERE / "round8.toml", comment, "modern-mini-pilot8", "0.8.0", DESCRIPTION, CANDIDATES)


def write_screen(path: Path, comment: str, name: str, version: str, description: str, candidates: list) -> None:
    """A screen's spec: the candidates on the screen's seeds, in round 7's 32 configurations, with round 5's
    network and recipe."""
    assert len({c[0] for c in candidates}) == len(candidates)
    head = f'''{comment}
[suite]
name = "{name}"
version = "{version}"
description = "{description}"
seeds = {SEEDS}
configurations = [{", ".join(f'"{c}"' for c in CONFIGURATIONS)}]
configs_per_unit = 32
'''
    path.write_text(head + "\n".join(recipe_lines(ROUND5)) + "\n\n" + spec_body(candidates))


def spec_body(candidates: list) -> str:
    """A spec's configuration blocks (round 7's 32 configurations) and its tasks' blocks."""
    return "\n".join(configuration_blocks(CONFIGURATIONS)) + "\n" + "\n".join(task(*c) for c in candidates)


DESCRIPTION = (
    "modern-mini 2 pilot round 8: a screen of candidate photo-patch tasks (8 px, and three of 16 px) on seeds "
    "100-102, in the 32 configurations of round 7 (today's formats on activations, weights, errors and weight "
    "gradients), VGG-style CNN with channels 16, 32, 64 and two convolutions per stage, clean recipe, 20 epochs, "
    "lr 0.05, cosine schedule."
)

if __name__ == "__main__":
    main()
