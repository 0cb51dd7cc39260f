"""``asha``: Asynchronous Successive Halving (Li et al., 2020).

Trials are stopped at rungs ``grace_period * reduction_factor**k`` training iterations unless
they are in the top ``1/reduction_factor`` of the trials that reached that rung. ``max_t`` is the
experiment's ``max_iterations``, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

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


PLUGIN = SchedulerPlugin(name="asha", options=AshaOptions, build=build, check=check)
