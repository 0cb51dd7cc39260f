"""``pb2``: Population Based Bandits (Parker-Holder et al., 2020).

PBT whose explore step fits a Gaussian-process bandit to the population's recent progress and
picks the next hyperparameters inside the ``mutations`` bounds, instead of random perturbations;
it works with much smaller populations. Only ranges can be mutated (``uniform``, ``loguniform``,
``quniform``, ``randint``...; PB2 models them on a linear scale). Everything else (clock,
synchronous default, checkpoint alignment, lineage) is as for ``pbt``. Ray 2.60's PB2 uses
scikit-learn's Gaussian process (older Ray versions needed GPy).
"""

from __future__ import annotations

from typing import Any

from tunefleet.errors import ConfigError
from tunefleet.schedulers import SchedulerContext, SchedulerPlugin
from tunefleet.schedulers.pbt import (
    PopulationOptions,
    interval_checkpoints,
    population_kwargs,
    population_problems,
)
from tunefleet.search.spaces import Choice, Normal


class Pb2Options(PopulationOptions):
    """Options of ``scheduler: {type: pb2, ...}``."""


def _bounds(space: Any) -> dict[str, list[Any]]:
    return {key: [param.low, param.high] for key, param in space.items()}


def build(options: Pb2Options, context: SchedulerContext) -> Any:
    from tunefleet.schedulers.population import TunefleetPB2

    space = options.mutation_space()
    return TunefleetPB2(**population_kwargs(options, space), hyperparam_bounds=_bounds(space))


def check(options: Pb2Options, context: SchedulerContext) -> list[tuple[str, str]]:
    problems = population_problems(options, context)
    try:
        space = options.mutation_space()
    except ConfigError:
        return problems  # reported above
    for key, param in space.items():
        if type(param) is Choice or isinstance(param, Normal):
            problems.append((f"mutations.{key}", f"pb2 needs a range [low, high] to model, got {param.kind}"))
    return problems


PLUGIN = SchedulerPlugin(
    name="pb2",
    options=Pb2Options,
    build=build,
    check=check,
    checkpoint_frequency=interval_checkpoints,
    requires=(("sklearn", "pb2"),),
)
