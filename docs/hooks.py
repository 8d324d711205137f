"""mkdocs hook: pages made at build time from files that live elsewhere in the repository (the suites'
dataset cards, the leaderboard, its figures, the changelog), so that nothing is written twice."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_SUITES = ("mini", "mini-arch", "modern-mini")


def on_files(files: Files, config: Any) -> Files:
    for name in BUNDLED_SUITES:
        card = (ROOT / "peppp_bench" / "data" / name / "README.md").read_text()
        body = card.split("---\n", 2)[2]  # the card without the Hub's YAML front matter
        files.append(File.generated(config, f"suites/{name}.md", content=body))
    files.append(File.generated(config, "board.md", content=(ROOT / "leaderboard" / "README.md").read_text()))
    files.append(File.generated(config, "changelog.md", content=(ROOT / "CHANGELOG.md").read_text()))
    for figure in sorted((ROOT / "leaderboard" / "figures").glob("*.png")):
        files.append(File.generated(config, f"figures/{figure.name}", abs_src_path=str(figure)))
    return files
