"""A scheduler that stops trials at rungs says where through its plugin, as Ray's scheduler does.

Analysis draws these rungs (``rung_counts``) without knowing scheduler names, so each plugin's
``rungs`` must be the iterations at which the Ray scheduler it builds judges trials. The Ray
side is read from the scheduler objects (private attributes of Ray 2.60's
``ray/tune/schedulers/async_hyperband.py`` and ``hyperband.py``): a Ray upgrade that changes
them fails here rather than drawing wrong rungs.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunefleet.schedulers import get_scheduler


def _rungs(name: str, options: dict[str, Any], max_iterations: int) -> list[int] | None:
    plugin = get_scheduler(name)
    return plugin.rungs(plugin.options.model_validate(options), max_iterations)


@pytest.mark.parametrize(
    ("grace_period", "reduction_factor", "brackets", "max_iterations"),
    [(1, 3.0, 1, 27), (1, 2.0, 1, 4), (1, 3.0, 1, 100), (2, 3.0, 3, 100), (1, 2.5, 2, 20), (4, 2.0, 1, 4)],
)
def test_asha_rungs_are_the_milestones_of_rays_asha_brackets(
    grace_period: int, reduction_factor: float, brackets: int, max_iterations: int
) -> None:
    from ray.tune.schedulers import ASHAScheduler

    ray_scheduler = ASHAScheduler(
        max_t=max_iterations, grace_period=grace_period, reduction_factor=reduction_factor, brackets=brackets
    )
    milestones = {milestone for bracket in ray_scheduler._brackets for milestone, _ in bracket._rungs}
    options = {"grace_period": grace_period, "reduction_factor": reduction_factor, "brackets": brackets}

    rungs = _rungs("asha", options, max_iterations)

    # A trial is judged at a milestone by its first result at or past it.
    assert rungs == sorted({math.ceil(milestone) for milestone in milestones})


def _ray_hyperband_rungs(scheduler: Any) -> list[int]:
    """Every budget a bracket of Ray's HyperBand pauses its trials at, halving its bracket by
    bracket with Ray's own code."""
    budgets = set()
    for s in range(scheduler._s_max_1):
        if scheduler._get_r0(s) == 0:
            continue  # Ray skips a bracket too small to start
        bracket = scheduler._create_bracket(s)
        budgets.add(bracket._r)
        while bracket._halves > 0:
            bracket.successive_halving("score", 1.0)
            budgets.add(bracket._r)
    return sorted(budgets)


@pytest.mark.parametrize("name", ["hyperband", "bohb"])
@pytest.mark.parametrize(
    ("reduction_factor", "max_iterations"), [(3.0, 81), (3.0, 20), (2.0, 16), (2.0, 4), (4.0, 10)]
)
def test_hyperband_rungs_are_the_budgets_of_rays_hyperband_brackets(
    name: str, reduction_factor: float, max_iterations: int
) -> None:
    from ray.tune.schedulers import HyperBandForBOHB, HyperBandScheduler

    scheduler_class = HyperBandScheduler if name == "hyperband" else HyperBandForBOHB
    ray_scheduler = scheduler_class(max_t=max_iterations, reduction_factor=reduction_factor)

    rungs = _rungs(name, {"reduction_factor": reduction_factor}, max_iterations)

    assert rungs == _ray_hyperband_rungs(ray_scheduler)


def test_hyperband_rungs_of_the_papers_example() -> None:
    # Li et al. (2018), max_t=81, eta=3: brackets start at 81, 27, 9, 3 and 1 iterations.
    assert _rungs("hyperband", {"reduction_factor": 3.0}, 81) == [1, 3, 9, 27, 81]
