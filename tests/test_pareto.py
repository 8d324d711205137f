"""Frontier and hypervolume properties (hypothesis), and the metrics on hand-made cases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peppp_bench.pareto import frontier_scores, hypervolume, pareto_mask, relative_error

points = st.lists(st.tuples(st.integers(1, 20), st.integers(0, 20)), min_size=1, max_size=25).map(
    lambda ps: (np.array([p[0] for p in ps], float) / 20, np.array([p[1] for p in ps], float) / 20)
)


@given(points)
def test_frontier_is_non_dominated_and_complete(p) -> None:
    m, e = p
    front = pareto_mask(m, e)
    for i in np.flatnonzero(front):  # nothing dominates a frontier point
        assert not ((m <= m[i]) & (e <= e[i]) & ((m < m[i]) | (e < e[i]))).any()
    for i in np.flatnonzero(~front):  # every other point is dominated by a frontier point
        assert ((m[front] <= m[i]) & (e[front] <= e[i]) & ((m[front] < m[i]) | (e[front] < e[i]))).any()


@given(points, st.tuples(st.integers(0, 20), st.integers(0, 20)))
def test_hypervolume_never_decreases_when_a_point_is_added(p, q) -> None:
    m, e = p
    ref = (1.05, 1.05)
    assert hypervolume(np.append(m, q[0] / 20), np.append(e, q[1] / 20), ref) >= hypervolume(m, e, ref) - 1e-12


@settings(max_examples=50)
@given(points, st.randoms())
def test_metrics_are_invariant_to_point_order(p, rnd) -> None:
    m, e = p
    order = list(range(len(m)))
    rnd.shuffle(order)
    assert hypervolume(m, e, (1.1, 1.1)) == hypervolume(m[order], e[order], (1.1, 1.1))
    a = frontier_scores(m, e, m[:3], e[:3], 1.0)
    b = frontier_scores(m[order], e[order], m[:3][::-1], e[:3][::-1], 1.0)
    assert np.isclose(a.convergence, b.convergence) and np.isclose(a.hyperdiff, b.hyperdiff)


@given(points)
def test_hyperdiff_of_the_true_frontier_with_itself_is_zero(p) -> None:
    m, e = p
    front = pareto_mask(m, e)
    s = frontier_scores(m, e, m[front], e[front], 1.0)
    assert s.convergence == 0 and s.hyperdiff == 0


def test_staircase_area_by_hand() -> None:
    # Points (0.2, 0.6) and (0.5, 0.2) up to (1, 1): 0.3*0.4 + 0.5*0.8 = 0.52.
    assert np.isclose(hypervolume(np.array([0.5, 0.2]), np.array([0.2, 0.6]), (1, 1)), 0.52)
    assert hypervolume(np.array([2.0]), np.array([0.5]), (1, 1)) == 0.0  # beyond the reference point


def test_ties_keep_duplicates() -> None:
    assert pareto_mask(np.array([1.0, 1.0, 2.0]), np.array([0.5, 0.5, 0.5])).tolist() == [True, True, False]


def test_error_normalizer_and_convergence_by_hand() -> None:
    m, e = np.array([1.0, 2.0]), np.array([0.5, 0.3])
    s = frontier_scores(m, e, np.array([1.0]), np.array([1.2]), max_memory=2.0)
    assert s.max_error == 1.2 and np.isclose(s.convergence, 0.7 / 1.2)
    assert np.isclose(relative_error(np.array([3.0, 4.0]), np.array([3.0, 0.0])), 0.8)
