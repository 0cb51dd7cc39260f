"""``pbt``: Population Based Training (Jaderberg et al., 2017).

Every ``perturbation_interval`` training iterations, the trials in the bottom
``quantile_fraction`` of the population copy the exact state of one in the top (exploit: the
checkpoint holds weights, optimizer moments, schedule position, step count and random streams),
then perturb the ``mutations`` hyperparameters (explore): a range is multiplied by one of
``perturbation_factors`` and clipped to the range, a ``choice`` moves to a neighbouring value, and
with probability ``resample_probability`` a value is drawn afresh. The trial continues in the same
process (``reuse_actors``), its hyperparameters changed through ``reset_config``.

Defaults that differ from Ray's, and why:

- the clock is ``training_iteration`` (Ray: ``time_total_s``, so an interval of 4 meant 4 s);
- ``synch: true``. In asynchronous PBT a trial that reaches the interval compares its fresh score
  with the others' older ones; when members improve at similar rates the one reporting is always
  ahead, so nobody is ever exploited (0 exploits in 100 iterations on the PBT paper's toy, against
  49 for synchronous PBT, which compares all members at the same iteration).
- ``checkpoint.frequency`` is set to ``perturbation_interval``; see :data:`PLUGIN`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictFloat, StrictInt

from tunefleet.errors import ConfigError
from tunefleet.schedulers import SchedulerContext, SchedulerOptions, SchedulerPlugin
from tunefleet.search.spaces import Conditional, Constant, Grid, Space, parse_space

#: Search algorithms that can feed a PBT population (Ray rejects the model-based ones).
POPULATION_SEARCHERS = ("grid", "random")


class PopulationOptions(SchedulerOptions):
    """Options shared by ``pbt`` and ``pb2`` (times in training iterations)."""

    perturbation_interval: StrictInt = Field(4, ge=1, description="Iterations between exploit/explore steps.")
    quantile_fraction: StrictFloat = Field(
        0.25, ge=0, le=0.5, description="Bottom fraction copies the top fraction of the population."
    )
    synch: bool = Field(True, description="Synchronous PBT: compare all members at the same iteration.")
    seed: StrictInt | None = Field(None, description="Seeds explore, so a synchronous run repeats.")
    mutations: dict[str, Any] = Field(
        min_length=1, description="Hyperparameters PBT perturbs, in the syntax of space:."
    )

    def mutation_space(self) -> Space:
        """The parsed ``mutations``.

        Raises:
            ConfigError: with key paths under ``scheduler.mutations``.
        """
        return parse_space(self.mutations, "<scheduler>", key="scheduler.mutations")


class PbtOptions(PopulationOptions):
    """Options of ``scheduler: {type: pbt, ...}``."""

    burn_in_period: StrictInt = Field(0, ge=0, description="No perturbation before this many iterations.")
    resample_probability: StrictFloat = Field(
        0.25, ge=0, le=1, description="Chance to draw a mutated value afresh instead of perturbing it."
    )
    perturbation_factors: tuple[StrictFloat, StrictFloat] = Field(
        (1.2, 0.8), description="Factors a continuous value is multiplied by when perturbed."
    )


def population_problems(options: PopulationOptions, context: SchedulerContext) -> list[tuple[str, str]]:
    """Cross-checks shared by ``pbt`` and ``pb2``; keys relative to ``scheduler``."""
    problems: list[tuple[str, str]] = []
    try:
        for key, param in options.mutation_space().items():
            if isinstance(param, Constant | Grid | Conditional):
                problems.append(
                    (f"mutations.{key}", f"expected a distribution or a choice to perturb, got {param.kind}")
                )
    except ConfigError as exc:
        problems += [(p.key.removeprefix("scheduler."), p.message) for p in exc.problems]
    if options.perturbation_interval >= context.max_iterations:
        problems.append(
            (
                "perturbation_interval",
                f"expected less than max_iterations ({context.max_iterations}), got "
                f"{options.perturbation_interval}: no trial would ever be perturbed",
            )
        )
    if context.search_algorithm not in POPULATION_SEARCHERS:
        problems.append(
            (
                "type",
                f"a population needs search.algorithm {' or '.join(POPULATION_SEARCHERS)} to create its "
                f"members, not {context.search_algorithm} (Ray's PBT refuses model-based searchers)",
            )
        )
    frequency = context.checkpoint_frequency
    if frequency not in (0, options.perturbation_interval):
        problems.append(
            (
                "perturbation_interval",
                f"checkpoint.frequency is {frequency}: under PBT trials checkpoint every "
                f"perturbation_interval ({options.perturbation_interval}) iterations; remove "
                "checkpoint.frequency or set it to the same value",
            )
        )
    return problems


def interval_checkpoints(options: PopulationOptions) -> int:
    """The checkpoint frequency of a population: its perturbation interval."""
    return options.perturbation_interval


def population_kwargs(options: PopulationOptions, space: Space) -> dict[str, Any]:
    """Keyword arguments shared by the ``pbt`` and ``pb2`` schedulers."""
    return {
        "bounds": space,
        "seed": options.seed,
        "time_attr": "training_iteration",
        "perturbation_interval": options.perturbation_interval,
        "quantile_fraction": options.quantile_fraction,
        "log_config": True,  # Ray's pbt_policy_*.txt, for PopulationBasedTrainingReplay
        "synch": options.synch,
    }


def build(options: PbtOptions, context: SchedulerContext) -> Any:
    from tunefleet.schedulers.population import TunefleetPBT, ray_mutations

    space = options.mutation_space()
    return TunefleetPBT(
        **population_kwargs(options, space),
        burn_in_period=options.burn_in_period,
        hyperparam_mutations=ray_mutations(space),
        resample_probability=options.resample_probability,
        perturbation_factors=options.perturbation_factors,
    )


#: Checkpoints line up with the perturbation interval: between two perturbations a trial writes
#: one checkpoint (at the interval, where PBT needs it), so ``checkpoint.keep`` counts intervals.
PLUGIN = SchedulerPlugin(
    name="pbt",
    options=PbtOptions,
    build=build,
    check=population_problems,
    checkpoint_frequency=interval_checkpoints,
)
