"""Modern precision configurations: for each tensor role, a number format and how it is scaled.

A paper configuration (configs.py) is two qtorch-style floats, Format A and Format B. A modern one says,
for each of six roles, which format (generate/formats.py) holds it and how:

    weights      the weights the forward and backward passes use
    activations  every activation, the input and the logits
    errors       the gradient of every activation (and of the logits)
    gradients    the weights' gradients, as the optimizer receives them
    optimizer    the optimizer's state (SGD momentum)
    master       the master copy of the weights the optimizer updates

Scaling: `none` (a plain cast), `current` or `delayed` per-tensor scaling, `mx` (an E8M0 scale per block
of 16, 32 or 128 elements along the channel / input-channel axis) or `nvfp4` (E2M1 with E4M3 block
scales and an FP32 tensor scale). Casts saturate. Rounding is to nearest-even unless `stochastic`.

`MODERN` is the bundled table of these configurations; `modern_table()` its DataFrame for suites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .configs import Configuration, configurations_table, get_config

ROLES = ("weights", "activations", "errors", "gradients", "optimizer", "master")
SCALINGS = ("none", "current", "delayed", "mx", "nvfp4")
MX_BLOCKS = (16, 32, 128)
FORMAT_BITS = {
    "fp32": 32,
    "bf16": 16,
    "fp16": 16,
    "fp8_e4m3": 8,
    "fp8_e5m2": 8,
    "fp6_e3m2": 6,
    "fp6_e2m3": 6,
    "fp4_e2m1": 4,
    "int8": 8,
}  # element bits of generate.formats.ELEMENT_FORMATS (checked in tests)


@dataclass(frozen=True)
class TensorFormat:
    """How one role's tensors are stored: element format, scaling, MX block and scale rounding, rounding."""

    format: str
    scaling: str = "none"
    block: int = 32
    scale_rounding: str = "floor"  # MX: floor(log2 amax) − emax as the OCP spec suggests, or "up"
    rounding: str = "nearest"

    def __post_init__(self) -> None:
        if self.format not in FORMAT_BITS:
            raise KeyError(f"unknown number format {self.format!r}; known: {', '.join(FORMAT_BITS)}")
        if self.scaling not in SCALINGS:
            raise KeyError(f"unknown scaling {self.scaling!r}; known: {', '.join(SCALINGS)}")
        if self.scaling == "mx" and self.block not in MX_BLOCKS:
            raise ValueError(f"an MX block holds {' or '.join(map(str, MX_BLOCKS))} elements, not {self.block}")
        if self.scaling == "nvfp4" and self.format != "fp4_e2m1":
            raise ValueError("NVFP4 scaling holds fp4_e2m1 elements")
        if self.scale_rounding not in ("floor", "up") or self.rounding not in ("nearest", "stochastic"):
            raise ValueError("scale_rounding is floor or up; rounding is nearest or stochastic")

    @property
    def bits(self) -> float:
        """Storage bits per element: the element's bits plus its share of block scales (8-bit scales)."""
        scale = {"mx": 8 / self.block, "nvfp4": 8 / 16}.get(self.scaling, 0.0)
        return FORMAT_BITS[self.format] + scale

    @property
    def label(self) -> str:
        short = self.format.replace("fp8_", "").replace("fp6_", "").replace("fp4_", "")
        kind = {
            "none": short,
            "current": f"{short}cur",
            "delayed": f"{short}del",
            "mx": f"mx{short}b{self.block}{'u' if self.scale_rounding == 'up' else ''}",
            "nvfp4": "nvfp4",
        }[self.scaling]
        return kind + ("sr" if self.rounding == "stochastic" else "")


@dataclass(frozen=True)
class ModernConfiguration:
    id: str
    roles: tuple[tuple[str, TensorFormat], ...]
    note: str = ""

    def __getitem__(self, role: str) -> TensorFormat:
        return dict(self.roles)[role]

    @classmethod
    def of(cls, id: str, formats: Mapping[str, TensorFormat], note: str = "") -> ModernConfiguration:
        unknown = sorted(set(formats) - set(ROLES))
        missing = [r for r in ROLES if r not in formats]
        if unknown or missing:
            raise KeyError(
                f"configuration {id!r}: unknown role(s) {unknown}, missing {missing}; roles: {', '.join(ROLES)}"
            )
        return cls(id, tuple((r, formats[r]) for r in ROLES), note)


def _config(
    id: str,
    forward: TensorFormat,
    backward: TensorFormat | None = None,
    optimizer: str = "fp32",
    weights: TensorFormat | None = None,
    note: str = "",
) -> ModernConfiguration:
    """Weights and activations in `forward` (weights: `weights` if given), errors and gradients in
    `backward` (default: `forward`), momentum in `optimizer`, master weights in fp32 (bf16 with a bf16 optimizer)."""
    backward = backward or forward
    opt = TensorFormat(optimizer)
    return ModernConfiguration.of(
        id,
        {
            "weights": weights or forward,
            "activations": forward,
            "errors": backward,
            "gradients": backward,
            "optimizer": opt,
            "master": TensorFormat("bf16" if optimizer == "bf16" else "fp32"),
        },
        note,
    )


def _table() -> tuple[ModernConfiguration, ...]:
    T = TensorFormat
    out = [
        _config("fp32", T("fp32"), note="reference: everything in fp32"),
        _config("bf16", T("bf16"), note="bf16 compute, fp32 optimizer and master weights"),
        _config("bf16-opt-bf16", T("bf16"), optimizer="bf16", note="bf16 everywhere"),
        _config("fp16", T("fp16"), note="fp16 compute (loss scaling), fp32 optimizer and master"),
    ]
    for scaling in ("none", "current", "delayed"):  # FP8: E4M3 forward, E5M2 backward
        for opt in ("fp32", "bf16"):
            out.append(
                _config(
                    f"fp8-{scaling}-e4m3-e5m2-opt-{opt}",
                    T("fp8_e4m3", scaling),
                    T("fp8_e5m2", scaling),
                    opt,
                    note=f"FP8 (E4M3 forward, E5M2 backward), {scaling} scaling",
                )
            )
    for scaling in ("none", "current", "delayed"):  # FP8: E4M3 both ways
        out.append(
            _config(
                f"fp8-{scaling}-e4m3-opt-fp32", T("fp8_e4m3", scaling), note=f"FP8 E4M3 both ways, {scaling} scaling"
            )
        )
    out.append(_config("fp8-current-e4m3-opt-bf16", T("fp8_e4m3", "current"), optimizer="bf16"))
    for block, rounding in ((32, "floor"), (32, "up"), (16, "floor"), (128, "floor")):
        out.append(
            _config(
                f"mxfp8-b{block}{'-up' if rounding == 'up' else ''}-opt-fp32",
                T("fp8_e4m3", "mx", block, rounding),
                T("fp8_e5m2", "mx", block, rounding),
                note=f"MXFP8 (E4M3 forward, E5M2 backward), blocks of {block}, scale rounded {rounding}",
            )
        )
    out.append(_config("mxfp8-b32-opt-bf16", T("fp8_e4m3", "mx"), T("fp8_e5m2", "mx"), "bf16"))
    out.append(_config("mxfp8-e4m3-b32-opt-fp32", T("fp8_e4m3", "mx"), note="MXFP8 E4M3 both ways"))
    for element in ("fp6_e3m2", "fp6_e2m3"):
        for opt in ("fp32", "bf16"):
            out.append(
                _config(
                    f"mx{element.replace('_', '-')}-b32-opt-{opt}",
                    T(element, "mx"),
                    optimizer=opt,
                    note=f"MXFP6 {element[4:].upper()} everywhere",
                )
            )
    for opt in ("fp32", "bf16"):
        out.append(
            _config(
                f"mxfp4-w-mxfp6-a-opt-{opt}",
                T("fp6_e2m3", "mx"),
                T("fp6_e3m2", "mx"),
                opt,
                weights=T("fp4_e2m1", "mx"),
                note="MXFP4 weights, MXFP6 E2M3 activations, MXFP6 E3M2 backward",
            )
        )
    out.append(_config("mxfp4-b32-opt-fp32", T("fp4_e2m1", "mx"), note="MXFP4 everywhere, nearest rounding"))
    out.append(
        _config(
            "mxfp4-sr-b32-opt-fp32",
            T("fp4_e2m1", "mx"),
            T("fp4_e2m1", "mx", rounding="stochastic"),
            note="MXFP4 everywhere, stochastic rounding on errors and gradients",
        )
    )
    out.append(
        _config(
            "nvfp4-sr-opt-fp32",
            T("fp4_e2m1", "nvfp4"),
            T("fp4_e2m1", "nvfp4", rounding="stochastic"),
            note="NVFP4 everywhere, stochastic rounding on errors and gradients",
        )
    )
    out.append(
        _config(
            "nvfp4-mxfp8-bwd-opt-fp32",
            T("fp4_e2m1", "nvfp4"),
            T("fp8_e5m2", "mx"),
            note="NVFP4 forward, MXFP8 E5M2 backward",
        )
    )
    out.append(
        _config("nvfp4-sr-opt-bf16", T("fp4_e2m1", "nvfp4"), T("fp4_e2m1", "nvfp4", rounding="stochastic"), "bf16")
    )
    for opt in ("fp32", "bf16"):
        out.append(_config(f"mxint8-b32-opt-{opt}", T("int8", "mx"), optimizer=opt, note="MXINT8 everywhere"))
    return tuple(out)


MODERN: tuple[ModernConfiguration, ...] = _table()
MODERN_IDS: tuple[str, ...] = tuple(c.id for c in MODERN)


def get_modern(config_id: str) -> ModernConfiguration:
    for c in MODERN:
        if c.id == config_id:
            return c
    raise KeyError(
        f"unknown modern configuration {config_id!r}; see peppp_bench.MODERN_IDS ({len(MODERN_IDS)} of them)"
    )


def modern_table(config_ids: list[str] | None = None) -> pd.DataFrame:
    """The bundled configurations (all, or these ids) as a suite's configurations.parquet."""
    return modern_rows(MODERN if config_ids is None else [get_modern(c) for c in config_ids])


def modern_rows(configs: Sequence[ModernConfiguration]) -> pd.DataFrame:
    """Modern configurations as a suite's configurations.parquet: per role its format, scaling and bits."""
    rows = []
    for c in configs:
        row: dict[str, object] = {"config_id": c.id, "family": "modern", "note": c.note}
        for role, f in c.roles:
            row.update(
                {
                    f"{role}_format": f.format,
                    f"{role}_scaling": f.scaling,
                    f"{role}_block": f.block if f.scaling == "mx" else 0,
                    f"{role}_scale_rounding": f.scale_rounding if f.scaling == "mx" else "",
                    f"{role}_rounding": f.rounding,
                    f"{role}_bits": f.bits,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def resolve_configuration(config_id: str) -> Configuration | ModernConfiguration:
    """A paper configuration (e5m3-e7m11) or a modern one (MODERN_IDS) by id."""
    try:
        return get_config(config_id)
    except KeyError as paper:
        try:
            return get_modern(config_id)
        except KeyError:
            raise KeyError(f"{paper.args[0]}; or a modern configuration: {', '.join(MODERN_IDS)}") from None


def configuration_table(config_ids: list[str]) -> pd.DataFrame:
    """The suite table of configurations of one family, in canonical order (the 99's index, or MODERN's)."""
    configs = [resolve_configuration(c) for c in config_ids]
    if all(isinstance(c, ModernConfiguration) for c in configs):
        return modern_table([c.id for c in sorted(configs, key=lambda c: MODERN_IDS.index(c.id))])
    if any(isinstance(c, ModernConfiguration) for c in configs):
        raise ValueError("a suite holds paper configurations or modern ones, not both")
    return configurations_table([c.id for c in sorted(configs, key=lambda c: c.index)])
