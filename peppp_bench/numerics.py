"""Rounding that makes a choice the same on every CPU.

numpy's BLAS picks its kernels by processor (and thread count), so two machines compute the same sum in
another order and differ in the last bits. Where a method or the harness then chooses (an argmax, a
frontier), such bits can flip the choice. Rounding each value to 32 significant bits (about ten decimal
digits), and values that are noise beside the largest to 0, first makes values that differ only by rounding
noise equal, and equals are broken by position.
"""

from __future__ import annotations

import numpy as np

DROPPED_BITS = 20  # of float64's 52 mantissa bits: 32 are kept

# Singular values below this share of the largest are taken as zero. A matrix singular in exact arithmetic
# (configurations whose embeddings coincide in a regression's design; a completion whose shrunk components
# reached 0) keeps singular values of rounding noise (~1e-16), whose directions and sizes another CPU draws
# differently: numpy's default cut-off keeps one on one CPU and drops it on another, and kept, it scales a fit
# by 1e16 or adds an embedding dimension that is noise. This cut-off gives the same answer on every CPU.
NUMERICAL_RANK_CUTOFF = 1e-8


def snap(values: object) -> np.ndarray:
    """`values` as float64, each rounded to 32 significant bits (half away from zero), and those under 2⁻³² of
    the largest magnitude set to 0: a value that should be 0 comes out as rounding noise of the operands' size
    (±1e-17 beside 0.2), with either sign on another CPU. inf and NaN stay."""
    a = np.array(values, dtype=np.float64)
    bits = a.view(np.int64)  # sign and magnitude: adding to the pattern rounds the magnitude
    rounded = ((bits + (1 << (DROPPED_BITS - 1))) & ~((1 << DROPPED_BITS) - 1)).view(np.float64)
    finite = np.isfinite(a)
    scale = float(np.abs(a[finite]).max()) if finite.any() else 0.0
    rounded = np.where(np.abs(a) < scale * 2.0 ** (DROPPED_BITS - 52), 0.0, rounded)
    return np.where(finite, rounded, a)


def first_max(values: object) -> int:
    """The position of the largest value after `snap`; of equals, the first."""
    return int(np.argmax(snap(values)))
