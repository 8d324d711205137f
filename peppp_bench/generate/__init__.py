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
