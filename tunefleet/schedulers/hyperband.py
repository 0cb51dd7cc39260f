"""``hyperband``: synchronous HyperBand (Li et al., 2018).

Brackets of successive halving with different starting budgets; within a bracket, trials are
paused at each rung until the whole bracket got there, then the top ``1/reduction_factor``
continue. ``max_t`` is the experiment's ``max_iterations``.
"""

from __future__ import annotations

from typing import Any

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


PLUGIN = SchedulerPlugin(name="hyperband", options=HyperBandOptions, build=build)
