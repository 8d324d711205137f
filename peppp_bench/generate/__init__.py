"""The generator: quantized training that recomputes a suite's error matrix (needs the `train` extra).

Importing it tells glibc's malloc to keep large freed blocks instead of returning them to the system:
quantized training allocates and frees many same-sized activation buffers, and re-faulting their pages
every time costs more than the arithmetic (measured: 5× on the quantizer, benchmarks/test_quantize.py).
"""

import ctypes
import sys


def _keep_freed_memory() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


_keep_freed_memory()

from .architectures import Architecture, ArchitectureError, parse_architecture  # noqa: E402
from .data import DataSpec, ImageData, load_data  # noqa: E402
from .recipes import RECIPES, Recipe, get_recipe  # noqa: E402
from .train import CellResult, train_cell, train_cells  # noqa: E402

__all__ = [
    "Architecture",
    "ArchitectureError",
    "CellResult",
    "DataSpec",
    "ImageData",
    "RECIPES",
    "Recipe",
    "parse_architecture",
    "get_recipe",
    "load_data",
    "train_cell",
    "train_cells",
]
