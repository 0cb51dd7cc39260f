"""``hyperband``: synchronous HyperBand (Li et al., 2018).

Brackets of successive halving with different starting budgets; within a bracket, trials are
paused at each rung until the whole bracket got there, then the top ``1/reduction_factor``
continue. ``max_t`` is the experiment's ``max_iterations``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, StrictFloat

from tunefleet.schedulers import SchedulerContext, SchedulerOptions, SchedulerPlugin


class HyperBandOptions(SchedulerOptions):
    """Options of ``scheduler: {type: hyperband, ...}``."""

    reduction_factor: StrictFloat = Field(
        3.0, gt=1, description="Keep the top 1/reduction_factor at each rung."
    )
    stop_last_trials: bool = Field(
        True, description="Stop the trials of a bracket's last rung at max_iterations (Ray's default)."
    )


def build(options: HyperBandOptions, context: SchedulerContext) -> Any:
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(
        time_attr="training_iteration",
        max_t=context.max_iterations,
        reduction_factor=options.reduction_factor,
        stop_last_trials=options.stop_last_trials,
    )


def rungs(options: HyperBandOptions, max_iterations: int) -> list[int]:
    """The budgets of every bracket of Ray's HyperBandScheduler (Ray 2.60's ``hyperband.py``;
    ``HyperBandForBOHB`` shares them): ``s_max + 1 = round(log(max_t) / log(eta)) + 1``
    brackets; bracket ``s`` starts at ``int(max_t * eta**-s)`` iterations (skipped when 0) and,
    ``s`` times, multiplies its budget by ``eta``, capped at ``max_t`` and rounded down (numpy's
    log and rounding, as Ray's)."""
    if max_iterations < 1:
        return []  # nothing ran
    eta = options.reduction_factor
    budgets: set[int] = set()
    for s in range(int(np.round(np.log(max_iterations) / np.log(eta))) + 1):
        budget = int(max_iterations * eta ** (-s))
        if budget == 0:
            continue
        budgets.add(budget)
        for _ in range(s):
            budget = int(min(budget * eta, max_iterations))
            budgets.add(budget)
    return sorted(budgets)


PLUGIN = SchedulerPlugin(name="hyperband", options=HyperBandOptions, build=build, rungs=rungs)
