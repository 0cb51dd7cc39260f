"""``median_stopping``: the median stopping rule (Golovin et al., 2017, Google Vizier).

A trial is stopped when its best result so far is worse than the median of the other trials'
running averages at the same training iteration.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt

from tunefleet.schedulers import (
    SchedulerContext,
    SchedulerOptions,
    SchedulerPlugin,
    at_most_max_iterations,
)


class MedianStoppingOptions(SchedulerOptions):
    """Options of ``scheduler: {type: median_stopping, ...}`` (times in training iterations)."""

    grace_period: StrictInt = Field(
        1, ge=1, description="Iterations every trial gets before it can be stopped."
    )
    min_samples_required: StrictInt = Field(3, ge=1, description="Other trials needed to compute a median.")
    min_time_slice: StrictInt = Field(
        0, ge=0, description="Iterations a trial runs before yielding (0: never)."
    )
    hard_stop: bool = Field(True, description="Stop a trial below the median; false: only pause it.")


def build(options: MedianStoppingOptions, context: SchedulerContext) -> Any:
    from ray.tune.schedulers import MedianStoppingRule

    # Ray's default clock is time_total_s: grace_period 1 would mean one second.
    return MedianStoppingRule(
        time_attr="training_iteration",
        grace_period=options.grace_period,
        min_samples_required=options.min_samples_required,
        min_time_slice=options.min_time_slice,
        hard_stop=options.hard_stop,
    )


def check(options: MedianStoppingOptions, context: SchedulerContext) -> list[tuple[str, str]]:
    return at_most_max_iterations("grace_period", options.grace_period, context)


PLUGIN = SchedulerPlugin(name="median_stopping", options=MedianStoppingOptions, build=build, check=check)
