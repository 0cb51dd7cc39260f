"""Objectives, Pareto dominance and hypervolume: the one definition search, schedulers and analysis share."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.objectives import (
    Objective,
    dominates,
    hypervolume,
    non_dominated_sort,
    objectives_of,
    pareto_front,
)

ACC_PARAMS = objectives_of(["val_accuracy", "params"], ["max", "min"])


def test_one_metric_is_one_objective() -> None:
    assert objectives_of("val_loss", "min") == (Objective("val_loss", "min"),)


@pytest.mark.parametrize(
    ("metric", "mode", "expected"),
    [
        (["a", "b"], "max", "both be one name or both be lists"),
        ("a", ["max"], "both be one name or both be lists"),
        (["a", "b"], ["max"], "got 2 metric(s) and 1 mode(s)"),
        ([], [], "same length"),
        (["a", "b"], ["max", "up"], "'min' or 'max'; got 'up'"),
        (["a", "a"], ["max", "min"], "named once"),
    ],
)
def test_mismatched_metric_and_mode_are_refused(metric: object, mode: object, expected: str) -> None:
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        objectives_of(metric, mode)  # type: ignore[arg-type]


def test_dominance_respects_each_objectives_direction() -> None:
    assert dominates([0.9, 100], [0.8, 200], ACC_PARAMS)
    assert dominates([0.9, 100], [0.9, 200], ACC_PARAMS)
    assert not dominates([0.9, 100], [0.9, 100], ACC_PARAMS)  # equal: neither dominates
    assert not dominates([0.95, 300], [0.9, 100], ACC_PARAMS)  # a trade-off


def test_fronts_peel_the_pareto_layers_and_nan_rows_come_last() -> None:
    values = [[0.9, 100], [0.95, 300], [0.8, 200], [0.85, 400], [math.nan, 50], [0.7, 50]]
    assert non_dominated_sort(values, ACC_PARAMS) == [[0, 1, 5], [2, 3], [4]]
    assert pareto_front(values, ACC_PARAMS) == [0, 1, 5]
    assert pareto_front([[math.nan, 1]], ACC_PARAMS) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 5)] * 3), min_size=1, max_size=30))
def test_each_front_is_undominated_by_the_rest_and_dominated_by_the_one_before(
    points: list[tuple[int, ...]],
) -> None:
    three = objectives_of(["a", "b", "c"], ["min", "max", "min"])

    fronts = non_dominated_sort(points, three)

    assert sorted(i for front in fronts for i in front) == list(range(len(points)))
    for k, front in enumerate(fronts):
        later = [j for f in fronts[k:] for j in f]
        assert not any(dominates(points[j], points[i], three) for i in front for j in later)
        if k:
            assert all(any(dominates(points[j], points[i], three) for j in fronts[k - 1]) for i in front)


def test_hypervolume_of_a_staircase() -> None:
    two = objectives_of(["a", "b"], ["min", "min"])
    assert hypervolume([[1, 2], [2, 1]], two, [3, 3]) == 3.0
    # A dominated point and a point beyond the reference add nothing.
    assert hypervolume([[1, 2], [2, 1], [2, 2], [4, 0]], two, [3, 3]) == 3.0
    # Directions: max accuracy from 0, min params up to 1000.
    assert hypervolume([[0.5, 500]], ACC_PARAMS, [0.0, 1000]) == pytest.approx(250.0)


def _counted_volume(points: list[tuple[int, ...]], ref: tuple[int, ...]) -> int:
    """Unit cells dominated by at least one point (minimization, integer coordinates)."""
    cells = itertools.product(*(range(r) for r in ref))
    return sum(any(all(p[d] <= c[d] for d in range(len(ref))) for p in points) for c in cells)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=3).flatmap(
        lambda k: st.lists(st.tuples(*[st.integers(0, 5)] * k), min_size=0, max_size=7)
    )
)
def test_hypervolume_equals_the_count_of_dominated_cells(points: list[tuple[int, ...]]) -> None:
    k = len(points[0]) if points else 2
    objectives = objectives_of([f"m{i}" for i in range(k)], ["min"] * k)
    ref = (6,) * k
    values = np.array(points, dtype=float).reshape(-1, k)
    assert hypervolume(values, objectives, ref) == pytest.approx(_counted_volume(points, ref))
