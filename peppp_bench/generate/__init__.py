"""The generator: quantized training that recomputes a suite's error matrix (needs the `train` extra)."""
