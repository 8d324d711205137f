"""Training recipes, named and versioned, recorded with every generated cell (spec §4)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

SCHEDULES = ("constant", "cosine")


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
    schedule: str = "constant"  # the learning rate: "constant", or "cosine" (decays to 0 over the steps)
    # The authors' quirk: test batches of these sources went through the training augmentation.
    train_augmentation_at_test_for: tuple[str, ...] = ()

    def with_overrides(self, **changes: Any) -> Recipe:
        """The same recipe with some fields changed (recorded in full with each result)."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown recipe fields {sorted(unknown)}: fields are {sorted(asdict(self))}")
        if changes.get("schedule", "constant") not in SCHEDULES:
            raise ValueError(f"unknown schedule {changes['schedule']!r}: {' or '.join(SCHEDULES)}")
        return replace(self, **changes)

    def record(self) -> dict[str, Any]:
        """Every field; `augment` only when off, `curves` only when on and `schedule` only when not
        constant, so records made before they existed stay equal."""
        out = asdict(self)
        for name, default in (("augment", True), ("curves", False), ("schedule", "constant")):
            if out[name] == default:
                del out[name]
        return out

    def lr_at(self, step: int, steps: int) -> float:
        """The learning rate of optimizer step `step` of `steps` (0-based)."""
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        return self.lr


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
