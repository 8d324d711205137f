"""The 99 precision configurations of PEPPP (spec §2): pairs of low-precision float formats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, order=True)
class FloatFormat:
    """A float format of 1 sign bit, `exp` exponent bits and `man` stored mantissa bits (no inf/NaN)."""

    exp: int
    man: int

    @property
    def bits(self) -> int:
        return 1 + self.exp + self.man

    @property
    def name(self) -> str:
        return f"e{self.exp}m{self.man}"


@dataclass(frozen=True)
class Configuration:
    """Format A (activations, errors, weights, gradients) and Format B (input, logits, optimizer buffers)."""

    index: int
    a: FloatFormat
    b: FloatFormat

    @property
    def id(self) -> str:
        return f"{self.a.name}-{self.b.name}"


# Format A: exp in {3,4,5}, man in {1..4}, at most 9 bits; Format B: exp in {6,7,8} outer, man in {7,9,11}.
FORMATS_A: tuple[FloatFormat, ...] = tuple(FloatFormat(e, m) for e in (3, 4, 5) for m in (1, 2, 3, 4) if 1 + e + m <= 9)
FORMATS_B: tuple[FloatFormat, ...] = tuple(FloatFormat(e, m) for e in (6, 7, 8) for m in (7, 9, 11))
# Column j of every matrix is (A option j // 9, B option j % 9): A-major.
CONFIGS: tuple[Configuration, ...] = tuple(
    Configuration(i * len(FORMATS_B) + j, a, b) for i, a in enumerate(FORMATS_A) for j, b in enumerate(FORMATS_B)
)
CONFIG_IDS: tuple[str, ...] = tuple(c.id for c in CONFIGS)
# The configuration-table columns that say how alike two configurations are (completion fills a
# never-observed configuration from its nearest neighbours in these).
FORMAT_FEATURES: tuple[str, ...] = ("a_exp", "a_man", "b_exp", "b_man")


def get_config(config_id: str) -> Configuration:
    """Look up a configuration by id such as ``e5m3-e7m11``."""
    for c in CONFIGS:
        if c.id == config_id:
            return c
    raise KeyError(
        f"unknown configuration {config_id!r}: ids look like 'e5m3-e7m11' "
        f"(Format A e3..e5 m1..m4 with at most 9 bits, Format B e6..e8 m7/m9/m11); "
        f"see peppp_bench.CONFIG_IDS for all 99"
    )


def format_features(table: pd.DataFrame) -> np.ndarray | None:
    """Each configuration's format bits (rows = columns of the matrices), if the table has them: the 99's
    FORMAT_FEATURES, or a modern table's storage bits per tensor role."""
    if set(FORMAT_FEATURES) <= set(table.columns):
        return table[list(FORMAT_FEATURES)].to_numpy(dtype=float)
    role_bits = [c for c in table.columns if c.endswith("_bits") and c not in ("a_bits", "b_bits")]
    return table[role_bits].to_numpy(dtype=float) if role_bits else None


def configurations_table(config_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The configurations named (default: all 99, in spec order) as a table, one row per column of the
    matrices, in the order given."""
    configs = CONFIGS if config_ids is None else [get_config(c) for c in config_ids]
    return pd.DataFrame(
        {
            "config_id": [c.id for c in configs],
            "index": [c.index for c in configs],
            "a_exp": [c.a.exp for c in configs],
            "a_man": [c.a.man for c in configs],
            "a_bits": [c.a.bits for c in configs],
            "b_exp": [c.b.exp for c in configs],
            "b_man": [c.b.man for c in configs],
            "b_bits": [c.b.bits for c in configs],
        }
    )
