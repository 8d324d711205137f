"""The 99 configurations in the spec's order (spec §2)."""

import pytest

from peppp_bench.configs import CONFIG_IDS, CONFIGS, FORMATS_A, FORMATS_B, configurations_table, get_config


def test_format_orders() -> None:
    assert [(f.exp, f.man) for f in FORMATS_A] == [
        (3, 1),
        (3, 2),
        (3, 3),
        (3, 4),
        (4, 1),
        (4, 2),
        (4, 3),
        (4, 4),
        (5, 1),
        (5, 2),
        (5, 3),
    ]
    assert [(f.exp, f.man) for f in FORMATS_B] == [(e, m) for e in (6, 7, 8) for m in (7, 9, 11)]


def test_column_order_is_a_major() -> None:
    assert len(CONFIGS) == 99 and len(set(CONFIG_IDS)) == 99
    for j, c in enumerate(CONFIGS):
        assert c.index == j and c.a == FORMATS_A[j // 9] and c.b == FORMATS_B[j % 9]
    assert CONFIG_IDS[0] == "e3m1-e6m7" and CONFIG_IDS[-1] == "e5m3-e8m11"
    assert get_config("e5m3-e7m11").index == 10 * 9 + 5


def test_table_columns() -> None:
    t = configurations_table()
    assert list(t.columns) == ["config_id", "index", "a_exp", "a_man", "a_bits", "b_exp", "b_man", "b_bits"]
    assert (
        (t.a_bits == 1 + t.a_exp + t.a_man).all() and t.a_bits.max() == 9 and (t.b_bits == 1 + t.b_exp + t.b_man).all()
    )


def test_unknown_configuration() -> None:
    with pytest.raises(KeyError, match="unknown configuration 'e5m4-e7m11'.*at most 9 bits"):
        get_config("e5m4-e7m11")
