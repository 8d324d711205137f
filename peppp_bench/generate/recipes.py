"""Training recipes, named and versioned, recorded with every generated cell (spec §4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """Everything about training that is not the network, the data or the precision configuration."""

    name: str
    version: str
    epochs: int = 10
    batch_size: int = 32  # with drop_last
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss_scale: float = 1000.0  # loss × 1000 before backward, gradient × 1/1000 before Q_A
    shuffle: bool = True
    rounding: str = "stochastic"
    augment: bool = True  # training-time random crops and flips (spec §4); off: train images as test images
    curves: bool = False  # also the test error after every epoch (learning curves); training is the same
    # The authors' quirk: test batches of these sources went through the training augmentation.
    train_augmentation_at_test_for: tuple[str, ...] = ()

    def with_overrides(self, **changes: Any) -> Recipe:
        """The same recipe with some fields changed (recorded in full with each result)."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown recipe fields {sorted(unknown)}: fields are {sorted(asdict(self))}")
        return replace(self, **changes)

    def record(self) -> dict[str, Any]:
        """Every field; `augment` only when off and `curves` only when on, so records made before they
        existed stay equal."""
        out = asdict(self)
        if out["augment"]:
            del out["augment"]
        if not out["curves"]:
            del out["curves"]
        return out


RECIPES: dict[str, Recipe] = {
    # Spec §4 as the released runs did it: no shuffling (class-sorted CIFAR-100 partitions), and the
    # partitions' test loader used the training augmentation.
    "peppp2022": Recipe("peppp2022", "1", shuffle=False, train_augmentation_at_test_for=("cifar100-partition",)),
    # The same with the quirks fixed: shuffled batches, un-augmented test data.
    "clean": Recipe("clean", "1"),
}


def get_recipe(name: str, **overrides: Any) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}: choose from {', '.join(RECIPES)}")
    return RECIPES[name].with_overrides(**overrides) if overrides else RECIPES[name]
