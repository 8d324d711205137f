"""Benchmarks reuse the test fixtures (upstream arrays, built suites)."""
from tests.conftest import paper, suites_dir, upstream  # noqa: F401
