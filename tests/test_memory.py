"""The memory model (spec §3) against every entry of the released memory matrix."""

import numpy as np
import pytest

from peppp_bench.memory import count_network, resnet18_counts
from peppp_bench.suites.build import model_memory

torch = pytest.importorskip("torch")


def test_closed_form_reproduces_every_released_entry(paper) -> None:
    model = model_memory(paper.datasets)
    assert model.shape == (87, 99)
    assert np.abs(model - paper.M).max() <= 0.12


def test_hook_counter_reproduces_every_released_entry(paper) -> None:
    """The generator's own count (the network as trained, its sites included) gives the released matrix."""
    from peppp_bench.generate.architectures import Architecture

    rows = []
    cache = {}
    for r in paper.datasets.itertuples():
        key = (r.resolution, r.classes)
        if key not in cache:
            cache[key] = Architecture.paper().counts(r.classes, (3, r.resolution, r.resolution)).memory_row()
        rows.append(cache[key])
    assert np.abs(np.stack(rows) - paper.M).max() <= 0.12


def test_hook_counter_equals_closed_form_counts() -> None:
    from peppp_bench.generate.architectures import Architecture
    from peppp_bench.generate.networks import resnet18

    for h, c in [(32, 10), (64, 1623), (64, 2)]:
        assert count_network(resnet18(c), (3, h, h)) == resnet18_counts(h, c)
        assert Architecture.paper().counts(c, (3, h, h)) == resnet18_counts(h, c)
    assert resnet18_counts(32, 10).activations == 114_410_432


# Counts written out by hand for small instances of each built-in (batch b; every module call's output,
# quantizer sites included, as spec §3 counts the ResNet).
B = 2


def test_vgg_count_by_hand() -> None:
    from peppp_bench.generate.architectures import Architecture

    k, c1, c2, C = 1, 4, 6, 3  # 8×8 input → 4×4 → 2×2
    per_image = (
        64 * k  # input (B)
        + 5 * 64 * c1
        + 16 * c1  # conv, A, BN, ReLU, A at 8×8; max pool to 4×4
        + 5 * 16 * c2
        + 4 * c2  # the same at 4×4; pool to 2×2
        + 2 * c2
        + 3 * C
    )  # global pool, A; head, A, logits (B)
    params = 9 * k * c1 + 2 * c1 + 9 * c1 * c2 + 2 * c2 + c2 * C + C
    counts = Architecture.builtin("vgg", channels=[c1, c2], layers=1).counts(C, (k, 8, 8), batch=B)
    assert counts.activations == B * per_image and counts.params == params
    assert counts.inputs == B * 64 * k and counts.logits == B * C


def test_mlp_count_by_hand() -> None:
    from peppp_bench.generate.architectures import Architecture

    F, h, C = 3 * 4 * 4, 5, 2
    counts = Architecture.builtin("mlp", hidden=[h]).counts(C, (3, 4, 4), batch=B)
    assert counts.activations == B * (F + 4 * h + 3 * C)  # input; linear, A, ReLU, A; head, A, logits
    assert counts.params == F * h + h + h * C + C


def test_vit_count_by_hand() -> None:
    from peppp_bench.generate.architectures import Architecture

    k, d, heads, r, C, T = 1, 8, 2, 2, 3, 4  # 8×8 images in 4×4 patches: 4 tokens
    per_image = (
        64 * k  # input (B)
        + T
        * d
        * (
            3  # patch embedding, A; + position, A
            + 2
            + 6
            + 3
            + 1  # LN, A; qkv, A (3d wide); weighted values A, projection, A; + x, A
            + 2
            + 4 * r
            + 2
            + 1  # LN, A; fc1, A, GELU, A (rd wide); fc2, A; + x, A
            + 2
        )  # final LN, A
        + 3 * heads * T * T  # scores A, softmax, A
        + d
        + 3 * C
    )  # mean over tokens A; head, A, logits (B)
    params = (
        16 * k * d
        + d
        + T * d  # patch embedding, position
        + 2 * d
        + 3 * d * d
        + 3 * d
        + d * d
        + d  # LN, qkv, projection
        + 2 * d
        + d * r * d
        + r * d
        + r * d * d
        + d  # LN, fc1, fc2
        + 2 * d
        + d * C
        + C
    )  # final LN, head
    counts = Architecture.builtin("vit", patch=4, dim=d, depth=1, heads=heads, mlp_ratio=r).counts(
        C, (k, 8, 8), batch=B
    )
    assert counts.activations == B * per_image and counts.params == params


def test_a_user_network_is_counted_with_its_hook_sites() -> None:
    """A factory's network: every module output, plus a Format A copy after each declared module type
    and each declared functional operation (here the residual add), plus input and logits (B)."""
    from torch import nn

    from peppp_bench.generate.architectures import Architecture

    class Residual(nn.Module):
        def __init__(self, classes: int, channels: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, 4, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(4)
            self.relu = nn.ReLU()
            self.head = nn.Linear(4 * 16, classes)

        def forward(self, x):
            y = self.relu(self.bn(self.conv(x)))
            return self.head(torch.flatten(y + y, 1))

    arch = Architecture.from_factory(Residual, functions=["add"])
    counts = arch.counts(3, (2, 4, 4), batch=B)
    per_image = (
        32  # input (B)
        + 2 * 64 * 3  # conv, BN, ReLU: each output and its Format A copy
        + 64  # the add's Format A copy (the add itself is not a module call)
        + 2 * 3
        + 3
    )  # head and its copy; logits (B)
    assert counts.activations == B * per_image
    assert arch.unquantized(3, (2, 4, 4)) == {}
    assert Architecture.from_factory(Residual).unquantized(3, (2, 4, 4)) == {"add": 1}


def test_hook_counter_on_a_plain_user_model() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    counts = count_network(model, (3, 2, 2), batch=4)
    assert counts.params == 12 * 7 + 7 + 7 * 3 + 3
    assert counts.activations == 4 * (12 + 7 + 7 + 3)
    assert counts.inputs == 48 and counts.logits == 12


def test_hook_counter_rejects_a_non_classifier() -> None:
    with pytest.raises(ValueError, match="logits of shape"):
        count_network(torch.nn.Conv2d(3, 4, 3), (3, 8, 8))


def test_closed_form_needs_resolution_multiple_of_8() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        resnet18_counts(30, 10)


def test_the_cards_memory_convention_and_its_worked_example_are_the_model() -> None:
    """Every suite card states what memory counts, with a worked example; its numbers are the model's."""
    from peppp_bench.configs import get_config
    from peppp_bench.modern import get_modern
    from peppp_bench.suites.card import MEMORY_CONVENTION

    c = resnet18_counts(32, 10)
    e5m3 = get_config("e5m3-e7m11")
    for number in (c.params, c.activations, c.inputs, c.logits, c.params + 2 * c.activations):
        assert f"{number:,}" in MEMORY_CONVENTION
    assert f"a = {e5m3.a.bits}, b = {e5m3.b.bits} bits" in MEMORY_CONVENTION
    assert f"{c.memory_mb(e5m3.a.bits, e5m3.b.bits):.2f} MB" in MEMORY_CONVENTION
    assert f"{c.memory_row([get_modern('fp32')])[0]:.2f} MB" in MEMORY_CONVENTION
    from pathlib import Path

    import peppp_bench

    for card in (Path(peppp_bench.__file__).parent / "data").glob("*/README.md"):  # the bundled suites' cards
        assert MEMORY_CONVENTION in card.read_text(), card
