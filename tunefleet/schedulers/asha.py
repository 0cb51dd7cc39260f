"""``asha``: Asynchronous Successive Halving (Li et al., 2020).

Trials are stopped at rungs ``grace_period * reduction_factor**k`` training iterations unless
they are in the top ``1/reduction_factor`` of the trials that reached that rung. ``max_t`` is the
experiment's ``max_iterations``, so the two can never disagree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field, StrictFloat, StrictInt

from tunefleet.schedulers import (
    SchedulerContext,
    SchedulerOptions,
    SchedulerPlugin,
    at_most_max_iterations,
)


class AshaOptions(SchedulerOptions):
    """Options of ``scheduler: {type: asha, ...}``."""

    grace_period: StrictInt = Field(
        1, ge=1, description="Iterations every trial gets before it can be stopped."
    )
    reduction_factor: StrictFloat = Field(
        3.0, gt=1, description="Keep the top 1/reduction_factor at each rung."
    )
    brackets: StrictInt = Field(1, ge=1, description="Number of brackets (different grace periods).")


def build(options: AshaOptions, context: SchedulerContext) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=context.max_iterations,
        grace_period=options.grace_period,
        reduction_factor=options.reduction_factor,
        brackets=options.brackets,
    )


def check(options: AshaOptions, context: SchedulerContext) -> list[tuple[str, str]]:
    return at_most_max_iterations("grace_period", options.grace_period, context)


def rungs(options: AshaOptions, max_iterations: int) -> list[int]:
    """The milestones of every bracket of Ray's ASHAScheduler (``_Bracket`` in Ray 2.60's
    ``async_hyperband.py``): bracket ``s`` has ``grace_period * reduction_factor**(k + s)`` for
    ``k < int(log(max_t / grace_period) / log(reduction_factor) - s + 1)``. A trial is judged at a
    milestone by its first result at or past it, hence the rounding up. numpy's log, as Ray's:
    at an exact power the count must round as Ray's does."""
    if max_iterations < 1:
        return []  # nothing ran
    grace, factor = options.grace_period, options.reduction_factor
    milestones: set[float] = set()
    for s in range(options.brackets):
        count = int(np.log(max_iterations / grace) / np.log(factor) - s + 1)
        milestones.update(grace * factor ** (k + s) for k in range(count))
    return sorted({math.ceil(milestone) for milestone in milestones})


PLUGIN = SchedulerPlugin(name="asha", options=AshaOptions, build=build, check=check, rungs=rungs)
