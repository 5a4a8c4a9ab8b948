"""Pareto ranking, crowding and hypervolume against brute force on generated points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic.pareto import (
    constrained_ranks,
    crowding_distance,
    dominates,
    front_order,
    hypervolume,
    losses,
    nondominated_ranks,
    pareto_mask,
    pareto_trials,
)
from hpmagic.trial import Trial, TrialState

PROPERTY = settings(max_examples=120, deadline=None)


def point_sets(dims: int, low: int = 0, high: int = 9, max_size: int = 14) -> st.SearchStrategy[list[list[int]]]:
    # Small integers make ties and duplicate points common, the cases sorting code gets wrong.
    return st.integers(1, max_size).flatmap(
        lambda n: st.lists(st.lists(st.integers(low, high), min_size=dims, max_size=dims), min_size=n, max_size=n)
    )


def brute_force_ranks(points: np.ndarray) -> list[int]:
    ranks = [-1] * len(points)
    left = set(range(len(points)))
    front = 0
    while left:
        current = {i for i in left if not any(dominates(points[j], points[i]) for j in left)}
        for i in current:
            ranks[i] = front
        left -= current
        front += 1
    return ranks


@PROPERTY
@given(st.integers(1, 4).flatmap(point_sets))
def test_ranks_agree_with_a_brute_force_domination_check(rows: list[list[int]]) -> None:
    points = np.array(rows, dtype=float)
    ranks = nondominated_ranks(points)
    assert ranks.tolist() == brute_force_ranks(points)
    assert pareto_mask(points).tolist() == [r == 0 for r in ranks]
    # No member of a front dominates another of the same front; every later row is dominated by an earlier front.
    for i, j in itertools.permutations(range(len(points)), 2):
        if dominates(points[i], points[j]):
            assert ranks[i] < ranks[j]


@settings(max_examples=60, deadline=None)
@given(point_sets(2, 0, 30, 60), st.sampled_from([0.5, 1.0, 1e-9]))
def test_two_objective_ranks_agree_on_larger_sets_with_ties(rows: list[list[int]], scale: float) -> None:
    # Two objectives take a sweep of their own: check it where fronts are many and ties common.
    points = np.array(rows, dtype=float) * scale
    assert nondominated_ranks(points).tolist() == brute_force_ranks(points)


def grid_volume(points: np.ndarray, reference: int) -> int:
    """Unit cells of [0, reference)^d dominated by some point: exact for integer points."""
    dims = points.shape[1]
    count = 0
    for cell in itertools.product(range(reference), repeat=dims):
        if np.any(np.all(points <= np.array(cell), axis=1)):
            count += 1
    return count


@PROPERTY
@given(st.integers(2, 3).flatmap(lambda d: point_sets(d, 0, 7, 10)))
def test_hypervolume_agrees_with_counting_grid_cells(rows: list[list[int]]) -> None:
    points = np.array(rows, dtype=float)
    assert hypervolume(points, [7] * points.shape[1]) == pytest.approx(grid_volume(points, 7))


@PROPERTY
@given(point_sets(4, 0, 4, 6))
def test_hypervolume_in_four_objectives_agrees_with_counting_grid_cells(rows: list[list[int]]) -> None:
    points = np.array(rows, dtype=float)
    assert hypervolume(points, [4] * 4) == pytest.approx(grid_volume(points, 4))


def test_hypervolume_of_real_points_against_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, size=(25, 3))
    reference = np.array([1.1, 1.2, 1.0])
    samples = rng.uniform(0, 1, size=(100_000, 3)) * reference
    dominated = np.zeros(len(samples), dtype=bool)
    for p in points:
        dominated |= np.all(samples >= p, axis=1)
    estimate = dominated.mean() * np.prod(reference)
    assert hypervolume(points, reference) == pytest.approx(estimate, rel=0.02)


def test_hypervolume_ignores_points_beyond_the_reference() -> None:
    assert hypervolume([[1, 1], [3, 0.5]], [2, 2]) == pytest.approx(1.0)
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0
    with pytest.raises(ValueError, match="reference has 3 coordinates"):
        hypervolume([[0, 0]], [1, 1, 1])


@PROPERTY
@given(st.integers(1, 3).flatmap(lambda d: point_sets(d, 0, 50, 12)))
def test_crowding_is_infinite_at_each_objectives_extremes(rows: list[list[int]]) -> None:
    points = np.array(rows, dtype=float)
    distance = crowding_distance(points)
    assert np.all(distance >= 0)
    for k in range(points.shape[1]):
        # Of rows tied at an extreme one carries the infinity (duplicates need not all be kept).
        for extreme in (points[:, k].min(), points[:, k].max()):
            assert np.any(np.isinf(distance[points[:, k] == extreme]))
    finite = np.isfinite(distance)
    # A row strictly inside every objective's range is finite when it is not an extreme of any objective.
    inner = np.all((points > points.min(axis=0)) & (points < points.max(axis=0)), axis=1)
    assert np.all(finite[inner])


def test_crowding_prefers_the_lonely_point() -> None:
    front = np.array([[0, 10], [1, 9], [1.2, 8.8], [6, 4], [10, 0]], dtype=float)
    distance = crowding_distance(front)
    assert distance[3] > distance[1] and distance[3] > distance[2]


@PROPERTY
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.integers(0, 5), min_size=2, max_size=2), min_size=n, max_size=n),
            st.lists(st.lists(st.sampled_from([0.0, 0.0, 0.5, 2.0]), min_size=1, max_size=1), min_size=n, max_size=n),
        )
    )
)
def test_constrained_ranks_put_feasible_first_then_by_violation(
    pair: tuple[list[list[int]], list[list[float]]],
) -> None:
    rows, violations = pair
    points = np.array(rows, dtype=float)
    ranks = constrained_ranks(points, violations)
    total = np.array([v[0] for v in violations])
    for i, j in itertools.permutations(range(len(points)), 2):
        if total[i] == 0 < total[j]:
            assert ranks[i] < ranks[j]
        if 0 < total[i] < total[j]:
            assert ranks[i] < ranks[j]
        if total[i] == total[j] == 0 and dominates(points[i], points[j]):
            assert ranks[i] < ranks[j]
    feasible = total == 0
    if feasible.any():
        assert ranks[feasible].tolist() == nondominated_ranks(points[feasible]).tolist()


def test_front_order_ranks_by_front_then_crowding() -> None:
    points = np.array([[5, 5], [0, 10], [10, 0], [2, 8], [6, 6], [3, 6.9]], dtype=float)
    order, ranks, crowding = front_order(points)
    assert ranks.tolist() == [0, 0, 0, 0, 1, 0]
    assert order[-1] == 4 and set(order[:2].tolist()) == {1, 2}
    assert np.isinf(crowding[4])  # alone in its front


def trial(number: int, values: list[float] | None, violations: list[float] | None = None, **kw: object) -> Trial:
    return Trial(
        number=number,
        state=kw.get("state", TrialState.COMPLETE),  # type: ignore[arg-type]
        value=None if values is None else values[0],
        values=values,
        violations=violations,
    )


def test_losses_flip_maximised_objectives_and_skip_unusable_trials() -> None:
    trials = [
        trial(0, [0.9, 3.0]),
        trial(1, None, state=TrialState.FAILED),
        trial(2, [0.8, float("nan")]),
        trial(3, [0.7, 1.0]),
        trial(4, [0.5, 2.0], state=TrialState.PRUNED),
    ]
    used, matrix = losses(trials, ["maximize", "minimize"])
    assert [t.number for t in used] == [0, 3]
    assert matrix.tolist() == [[-0.9, 3.0], [-0.7, 1.0]]


def test_pareto_trials_are_the_feasible_front_or_the_least_violating() -> None:
    trials = [trial(0, [1, 1], [0.0]), trial(1, [0, 0], [3.0]), trial(2, [2, 0], [0.0]), trial(3, [2, 2], [0.0])]
    assert [t.number for t in pareto_trials(trials, ["minimize", "minimize"])] == [0, 2]
    none_feasible = [trial(0, [1, 1], [2.0]), trial(1, [0, 0], [1.0]), trial(2, [5, 5], [1.0])]
    assert [t.number for t in pareto_trials(none_feasible, ["minimize", "minimize"])] == [1, 2]
    assert pareto_trials([], ["minimize"]) == []
