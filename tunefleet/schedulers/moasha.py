"""``moasha``: multi-objective asynchronous successive halving (Schmucker et al., 2021).

ASHA's rungs (``grace_period * reduction_factor**k`` training iterations), but a trial continues
past a rung only if it is in the top ``1/reduction_factor`` of the trials recorded there as
ranked by non-dominated sorting of the sweep's objectives (``metric: [a, b]``, ``mode: [max,
min]``), ties inside a Pareto front broken by NSGA-II's crowding distance. With one objective it
decides exactly as ``asha``. The scheduler itself: :mod:`tunefleet.schedulers.multi_objective_asha`.
"""

from __future__ import annotations

from typing import Any

from tunefleet.objectives import Objective
from tunefleet.schedulers import SchedulerContext, SchedulerPlugin
from tunefleet.schedulers.asha import AshaOptions, check, rungs


class MoashaOptions(AshaOptions):
    """Options of ``scheduler: {type: moasha, ...}``: those of ``asha``."""


def objectives(context: SchedulerContext) -> tuple[Objective, ...]:
    """The sweep's objectives: all of a multi-objective sweep's, else its one metric."""
    return context.objectives or (Objective(context.metric, context.mode),)  # type: ignore[arg-type]


def build(options: MoashaOptions, context: SchedulerContext) -> Any:
    from tunefleet.schedulers.multi_objective_asha import MultiObjectiveAsha

    return MultiObjectiveAsha(
        objectives(context),
        time_attr="training_iteration",
        max_t=context.max_iterations,
        grace_period=options.grace_period,
        reduction_factor=options.reduction_factor,
        brackets=options.brackets,
    )


# The milestones and their formula are ASHA's (same brackets), so analysis draws the same rungs.
PLUGIN = SchedulerPlugin(
    name="moasha",
    options=MoashaOptions,
    build=build,
    check=check,
    rungs=rungs,
    multi_objective=True,
)
