"""Do two suites rank methods alike? Issue 22's test of a bundled suite against `paper`, from board.json.

Per board cell (setting, n): Kendall's τ between the two suites' mean frontier regrets of the methods both
rank, leaving out what needs no method (max-memory and the negative controls; reference bounds are not
ranked); and whether the family of the reference suite's best method is in the suite's top group.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy.stats import kendalltau

from .render import NEGATIVE_CONTROLS

TRIVIAL = ("max-memory", *NEGATIVE_CONTROLS)  # no selection at all, or no configuration structure
FAMILIES = (("bayes-ed-", "ed"), ("ed-", "ed"), ("qr-", "qr"), ("bo-", "bo"), ("random-", "random"))


def family(method: str) -> str:
    """A baseline's family by its name (ed-mf, ed-mf-plugin and bayes-ed-mf are `ed`); else its own name."""
    return next((name for prefix, name in FAMILIES if method.startswith(prefix)), method)


def ranking_agreement(
    cells: pd.DataFrame, suite: str, reference: str = "paper", settings: Sequence[str] = ("I", "II", "III", "IV")
) -> pd.DataFrame:
    """One row per (setting, n) the two suites share: methods compared, τ, the reference's best method and
    its family, the families in the suite's top group, and whether that family is among them.

    `cells` is board.json's `cells` table (primary metric rows with `mean` and `group`)."""
    ranked = cells[(cells.metric == "frontier_regret") & (cells.group != "not ranked") & ~cells.method.isin(TRIVIAL)]
    rows = []
    ranked = ranked[ranked.setting.isin(settings)]
    for (setting, n), ref in ranked[ranked.suite == reference].groupby(["setting", "n"], sort=False):
        mine = ranked[(ranked.suite == suite) & (ranked.setting == setting) & (ranked.n == n)]
        if mine.empty:
            continue
        methods = sorted(set(ref.method) & set(mine.method))
        a, b = ref.set_index("method")["mean"], mine.set_index("method")["mean"]
        best = str(a[methods].idxmin())
        top = sorted({family(m) for m in mine[mine.group == "top"].method})
        rows.append(
            {
                "setting": setting,
                "n": int(n),
                "methods": len(methods),
                "kendall_tau": float(kendalltau(a[methods], b[methods]).statistic),
                "reference_best": best,
                "reference_best_family": family(best),
                "top_group_families": ", ".join(top),
                "family_in_top_group": family(best) in top,
            }
        )
    if not rows:
        raise ValueError(f"the board has no cell that suites {suite!r} and {reference!r} share in {list(settings)}")
    return pd.DataFrame(rows)


def agreement_markdown(table: pd.DataFrame, suite: str, reference: str) -> str:
    """`ranking_agreement`'s table as Markdown, with its mean τ and how often the best family is in the top group."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |")
    held = int(table.family_in_top_group.sum())
    lines += [
        "",
        f"mean Kendall τ {table.kendall_tau.mean():.2f} over {len(table)} cells; the family of {reference}'s best "
        f"method is in {suite}'s top group in {held} of {len(table)}",
    ]
    return "\n".join(lines)
