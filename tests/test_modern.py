"""Modern configurations: the table, names refused with the known ones, memory priced per role, and
training side by side equal to training alone."""

from __future__ import annotations

import pytest

from peppp_bench.configs import get_config
from peppp_bench.memory import NetworkCounts
from peppp_bench.modern import (
    MODERN,
    MODERN_IDS,
    ROLES,
    ModernConfiguration,
    TensorFormat,
    configuration_table,
    get_modern,
    modern_table,
)


def test_the_table_spans_todays_formats() -> None:
    assert len(MODERN) >= 30 and len(set(MODERN_IDS)) == len(MODERN_IDS)
    table = modern_table()
    assert list(table.config_id) == list(MODERN_IDS)
    used = {(f.format, f.scaling) for c in MODERN for _, f in c.roles}
    for needed in [
        ("fp32", "none"),
        ("bf16", "none"),
        ("fp8_e4m3", "current"),
        ("fp8_e5m2", "delayed"),
        ("fp8_e4m3", "mx"),
        ("fp6_e3m2", "mx"),
        ("fp6_e2m3", "mx"),
        ("fp4_e2m1", "mx"),
        ("fp4_e2m1", "nvfp4"),
        ("int8", "mx"),
    ]:
        assert needed in used, needed
    assert {c["optimizer"].format for c in MODERN} == {"fp32", "bf16"}
    assert {f.block for c in MODERN for _, f in c.roles if f.scaling == "mx"} == {16, 32, 128}
    assert any(f.rounding == "stochastic" for c in MODERN for _, f in c.roles)


def test_element_bits_agree_with_the_formats() -> None:
    pytest.importorskip("torch")  # formats.py needs torch
    from peppp_bench.generate.formats import ELEMENT_FORMATS
    from peppp_bench.modern import FORMAT_BITS

    assert {k: f.bits for k, f in ELEMENT_FORMATS.items()} == FORMAT_BITS


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown number format 'fp8_e3m4'; known: fp32, bf16"):
        TensorFormat("fp8_e3m4")
    with pytest.raises(KeyError, match="unknown scaling 'row'; known: none, current"):
        TensorFormat("fp8_e4m3", "row")
    with pytest.raises(
        KeyError, match=r"unknown role\(s\) \['activation'\], missing \['activations'\]; roles: weights"
    ):
        ModernConfiguration.of(
            "x", {**{r: TensorFormat("bf16") for r in ROLES if r != "activations"}, "activation": TensorFormat("bf16")}
        )
    with pytest.raises(KeyError, match="or a modern configuration: fp32, bf16"):
        configuration_table(["fp9"])
    with pytest.raises(ValueError, match="paper configurations or modern ones"):
        configuration_table(["fp32", "e5m3-e7m11"])
    with pytest.raises(ValueError, match="MX block holds 16 or 32 or 128"):
        TensorFormat("fp8_e4m3", "mx", block=64)


def test_memory_charges_element_and_block_scale_bits() -> None:
    counts = NetworkCounts(params=1000, activations=50_000, inputs=3000, logits=20)
    fp32 = get_modern("fp32")
    # everything in fp32 is the paper's formula with a = b = 32
    assert counts.memory_row([fp32])[0] == pytest.approx(counts.memory_mb(32, 32))
    mx = get_modern("mxfp8-b32-opt-fp32")
    assert mx["weights"].bits == 8.25 and get_modern("mxfp8-b16-opt-fp32")["weights"].bits == 8.5
    expected = ((8.25 + 32 + 32) * 1000 + 16.5 * 50_000 + 8.25 * (3000 + 20) + 8.25 * 20) / (8 * 1024**2)
    assert counts.memory_row([mx])[0] == pytest.approx(expected)
    assert get_modern("nvfp4-sr-opt-fp32")["activations"].bits == 4.5
    assert counts.memory_row([get_config("e5m3-e7m11")])[0] == counts.memory_mb(9, 19)


def test_modern_units_train_side_by_side_like_alone() -> None:
    pytest.importorskip("torch")
    from peppp_bench.generate.architectures import Architecture
    from peppp_bench.generate.data import DataSpec, load_data
    from peppp_bench.generate.recipes import get_recipe
    from peppp_bench.generate.train import train_cell, train_cells

    data = load_data(DataSpec("digits", {"classes": [3, 8]}))
    recipe = get_recipe("clean", epochs=4, lr=0.05, augment=False)
    arch = Architecture.builtin(
        "mlp", hidden=[16]
    )  # batched matmuls: bit for bit (a grouped conv may sum in another order)
    ids = [
        "mxfp4-sr-b32-opt-fp32",
        "fp8-delayed-e4m3-e5m2-opt-fp32",
        "nvfp4-sr-opt-fp32",
        "bf16",
        "fp8-current-e4m3-opt-fp32",
    ]
    together = [r.error for r in train_cells(data, ids, arch, recipe, seed=0)]
    alone = [train_cell(data, c, arch, recipe, seed=0).error for c in ids]
    assert together == alone and len(set(together)) > 1
