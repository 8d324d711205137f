"""What a suite folder's files hold, in words: the column tables and the dataset card (README.md).

Nothing here changes a score: the card is written from a suite's metadata, and the column tables name the
columns a suite reader requires (their keys) and document them (their values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

DATASET_COLUMNS = {
    "dataset_id": "stable id of the dataset (row)",
    "name": "human-readable name",
    "name_confidence": "how sure the name is: `confirmed`, `matched`, `likely` or `unknown` "
    "(guesses are never presented as facts)",
    "family": "group of datasets, e.g. cifar100-partition, deca, imagenet64-partition",
    "resolution": "input height = width in pixels",
    "classes": "number of classes",
    "source": "where the images come from (free text; WordNet id empty when unknown)",
}
ROW_KEY_COLUMNS = {  # suites with several architectures: a row is a task trained on one architecture
    "task": "the task (dataset) of the row; rows of one task share it across architectures",
    "architecture": "the architecture (network) the row was trained with",
}
CELL_COLUMNS = {
    "dataset_id": "key into datasets.parquet",
    "config_id": "key into configurations.parquet, e.g. e5m3-e7m11",
    "error": "test error (1 - accuracy) after training in this configuration",
    "memory_mb": "training memory in MB (2^20 bytes), from the package's memory model (`peppp_bench.memory`)",
}
REPLICATE_COLUMNS = {
    "dataset_id": "key into datasets.parquet",
    "config_id": "key into configurations.parquet",
    "seed": "training seed of this replicate: not 0 (the matrix in cells.parquet is seed 0), or, in a suite whose "
    "metadata names its seeds, every measured and every scoring seed of every cell",
    "error": "test error of the cell trained with that seed",
}
CONFIG_COLUMNS = {
    "config_id": "Format A name - Format B name "
    "(qtorch's float semantics: ties away from zero, saturation, no inf/NaN)",
    "index": "column of the matrices (A-major: A option index // 9, B option index % 9)",
    "a_exp": "Format A exponent bits",
    "a_man": "Format A mantissa bits",
    "a_bits": "Format A total bits",
    "b_exp": "Format B exponent bits",
    "b_man": "Format B mantissa bits",
    "b_bits": "Format B total bits",
}
MODERN_CONFIG_COLUMNS = {
    "config_id": "the modern configuration's id (peppp_bench.MODERN_IDS)",
    "family": "modern",
    "note": "what the configuration is",
    "ROLE_format": "per role (weights, activations, errors, gradients, optimizer, master): the number format",
    "ROLE_scaling": "none, current, delayed (per tensor), mx (E8M0 block scales) or nvfp4",
    "ROLE_block": "MX block size (0 when not MX)",
    "ROLE_scale_rounding": "MX scale exponent: floor (OCP) or up",
    "ROLE_rounding": "nearest (even) or stochastic",
    "ROLE_bits": "storage bits per element, block scales included",
}


def negative_control_banner(metadata: dict[str, Any]) -> str:
    """The card's first paragraph for a suite labelled a negative control (metadata `negative_control`: why),
    else nothing: such a suite does not meet the structure criteria of a suite that ranks methods."""
    why = metadata.get("negative_control")
    if not why:
        return ""
    return (
        f"> **Negative control.** {why} Its rankings of methods and formats are not evidence about "
        "either; use it to check that a method does not find structure where there is little.\n\n"
    )


def _cap_sentence(nz: dict[str, Any]) -> str:
    if nz.get("cap_rule", "global-median") == "row-median":
        return "`row-median`: the median of the held-out dataset's own memory row"
    return f"`global-median`: the median of the memory matrix, {nz['memory_cap_mb']:.3f} MB"


CITATION_BIBTEX = """@inproceedings{yang2022peppp,
  title     = {How Low Can We Go: Trading Memory for Error in Low-Precision Training},
  author    = {Yang, Chengrun and Wu, Ziyang and Chee, Jerry and De Sa, Christopher and Udell, Madeleine},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2022}
}

@software{peppp_bench,
  title  = {peppp-bench: a benchmark for picking the numeric precision to train a network in},
  author = {{The peppp-bench developers}},
  year   = {2026},
  note   = {Python package peppp-bench}
}"""
_LOCAL_PATH = re.compile(r"(?<![\w.:</])/(?:[^\s\"',:/]+/)*([^\s\"',:/]+)")


def portable(value: Any) -> Any:
    """`value` with every absolute path inside its strings replaced by `<local>/` and its last part."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if isinstance(value, str):
        return _LOCAL_PATH.sub(lambda m: f"<local>/{m.group(1)}", value)
    return value


MEMORY_CONVENTION = """
## Memory: what `memory_mb` counts

Training memory at batch 32, in MB (2^20 bytes), from element counts of the network as trained:
P trainable parameters; A the outputs of every leaf-module call in one forward pass, quantizer sites
included, so an activation and its quantized copy both count (the PEPPP paper's convention: it
reproduces the released matrix within 0.12 MB; a framework that frees the unquantized output keeps
about half); I the input batch; L the logits. The weights' gradient is not counted (the step consumes it).

- Paper configurations, Format A of a bits and Format B of b bits:
  (a·(P + 2A) + b·(2P + I + 2L)) / (8·2^20). A holds the weights, activations and their errors; B the
  momentum and master copy, the input, the logits and their gradient.
- Modern configurations, each role's element bits plus its block scales' bits per element:
  ((weights + optimizer + master)·P + (activations + errors)·A + activations·(I + L) + errors·L) / (8·2^20).
- Worked example: the paper's ResNet-18 on a 32×32 RGB task of 10 classes has P = 11,173,962,
  A = 114,410,432, I = 98,304, L = 320; in `e5m3-e7m11` (a = 9, b = 19 bits) that is
  (9·239,994,826 + 19·22,446,868) / 8,388,608 = 308.33 MB; in fp32 everywhere, 1001.14 MB.
"""


def dataset_card(
    metadata: dict[str, Any],
    datasets: pd.DataFrame,
    files: Sequence[str],
    configurations: pd.DataFrame | None = None,
) -> str:
    """A Hugging Face dataset card: YAML `configs:` so the Hub viewer and `datasets.load_dataset` read it.
    `files` are the suite folder's files; a suite whose metadata names a `negative_control` says so first."""
    nz = metadata["normalizers"]

    def table(columns: dict[str, str]) -> str:
        return "\n".join(f"| `{k}` | {v.replace('|', '/')} |" for k, v in columns.items())

    ids = list(datasets["dataset_id"])
    dataset_columns = {**DATASET_COLUMNS, **{k: v for k, v in ROW_KEY_COLUMNS.items() if k in datasets.columns}}
    dataset_columns["dataset_id"] += f", e.g. {', '.join(f'`{i}`' for i in ids[:3])}"
    replicates_config = (
        "- config_name: replicates\n  data_files: replicates.parquet\n" if "replicates.parquet" in files else ""
    )

    replicates_md = (
        ""
        if "replicates.parquet" not in files
        else ("### `replicates.parquet`\n| column | meaning |\n| --- | --- |\n" + table(REPLICATE_COLUMNS) + "\n\n")
    )

    def items(d: dict[str, Any], indent: str = "") -> list[str]:
        return [
            line
            for k, v in d.items()
            for line in (
                [f"{indent}- {k.replace('_', ' ')}:"] + items(v, indent + "  ")
                if isinstance(v, dict) and v and isinstance(next(iter(v.values())), dict)
                else [f"{indent}- {k.replace('_', ' ')}: {v}"]
            )
        ]

    structure_md = "\n## Structure (what PEPPP relies on)\n\n" + "\n".join(items(metadata["structure"])) + "\n"
    return f"""---
license: mit
pretty_name: PEPPP-Bench {metadata["name"]}
tags: [low-precision-training, meta-learning, benchmark]
configs:
- config_name: cells
  data_files: cells.parquet
  default: true
- config_name: datasets
  data_files: datasets.parquet
- config_name: configurations
  data_files: configurations.parquet
{replicates_config}---
# PEPPP-Bench suite `{metadata["name"]}` v{metadata["version"]}

{negative_control_banner(metadata)}{metadata["description"]}

{metadata["n_datasets"]} datasets × {metadata["n_configurations"]} precision configurations.
Load it with `peppp_bench.load("{metadata["name"]}")`.

- Maximum memory (memory normalizer): {nz["max_memory_mb"]:.3f} MB
- Memory cap of settings II/IV/VI: {_cap_sentence(nz)}
- Hypervolume reference point: memory 1 (normalized), error {nz["reference_point"]["error"]}
- Data fingerprint (`data_sha256`): `{metadata["data_sha256"]}`
{MEMORY_CONVENTION}{structure_md}
## Files

### `cells.parquet`
| column | meaning |
| --- | --- |
{table(CELL_COLUMNS)}

### `datasets.parquet`
| column | meaning |
| --- | --- |
{table(dataset_columns)}

### `configurations.parquet`
| column | meaning |
| --- | --- |
{table(MODERN_CONFIG_COLUMNS if configurations is not None and "weights_format" in configurations else CONFIG_COLUMNS)}

{replicates_md}`metadata.json` holds the normalizers and provenance; `manifest.json` the sha256 of every file.

## Provenance

Machine-local paths are shown as `<local>/…` (the folder's last part kept).

```json
{json.dumps(portable(metadata["provenance"]), indent=2, sort_keys=True)}
```

## Citation

```bibtex
{CITATION_BIBTEX}
```
"""
