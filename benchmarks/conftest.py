"""Benchmarks reuse the test fixtures (upstream arrays, built suites)."""

from tests.conftest import _isolated_env, paper, suites_dir, upstream  # noqa: F401
