"""``fifo``: run every trial to its full budget (no early stopping)."""

from __future__ import annotations

from typing import Any

from tunefleet.schedulers import SchedulerContext, SchedulerOptions, SchedulerPlugin


class FifoOptions(SchedulerOptions):
    """FIFO takes no options."""


def build(options: FifoOptions, context: SchedulerContext) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


# FIFO stops nothing, so it judges no metric: a metric list is fine (the baseline that MOASHA's
# early stopping is measured against).
PLUGIN = SchedulerPlugin(name="fifo", options=FifoOptions, build=build, multi_objective=True)
