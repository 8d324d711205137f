"""Write round9.toml (PILOT.md, round 9): the screen of round 8 on more candidates, every pair of the generator's
grey photographs that round 8 did not screen (the Shepp-Logan phantom, a drawing, left out), as 8-px patches on
the same seeds 100-102, configurations, network and recipe. Run: python datasets/modern-mini/pilot/make_round9.py"""

from __future__ import annotations

import itertools
from pathlib import Path

from make_round8 import CANDIDATES as ROUND8
from make_round8 import write_screen

from peppp_bench.generate.data import GREY_PHOTOS

HERE = Path(__file__).resolve().parent
PHOTOS = [p for p in GREY_PHOTOS if p != "shepp_logan_phantom"]
SCREENED = {frozenset(c[1]) for c in ROUND8 if len(c[1]) == 2 and c[2] == 8 and not c[3] and c[4] == 1.0}
CANDIDATES = [
    (f"photo-{a}-{b}-g8", [a, b], 8, False, 1.0)
    for a, b in itertools.combinations(PHOTOS, 2)
    if frozenset((a, b)) not in SCREENED
]


def main() -> None:
    assert len(CANDIDATES) == 35 and not {c[0] for c in CANDIDATES} & {c[0] for c in ROUND8}
    comment = """# modern-mini 2 pilot, round 9 (PILOT.md): round 8's screen on 35 more candidates, every
# pair of grey photographs round 8 did not screen, as 8-px patches, on seeds 100-102 in round 7's 32 configurations,
# round 5's network and recipe. Written by make_round9.py. Run (in datasets/modern-mini/pilot):
#   peppp-bench generate round9.toml --store STORE9 --workers 2
#   python screen.py --kept round9-kept.txt STORE8 STORE9
"""
    write_screen(HERE / "round9.toml", comment, "modern-mini-pilot9", "0.9.0", DESCRIPTION, CANDIDATES)


DESCRIPTION = (
    "modern-mini 2 pilot round 9: a screen of candidate photo-patch tasks (pairs of grey photographs, 8 px) on "
    "seeds 100-102, in the 32 configurations of round 7 (today's formats on activations, weights, errors and weight "
    "gradients), VGG-style CNN with channels 16, 32, 64 and two convolutions per stage, clean recipe, 20 epochs, "
    "lr 0.05, cosine schedule."
)

if __name__ == "__main__":
    main()
