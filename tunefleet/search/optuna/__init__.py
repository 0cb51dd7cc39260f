"""``optuna``: Optuna's samplers (Akiba et al., 2019) on one study per sweep.

``search.sampler`` picks the sampler; its own options sit in a section named after it::

    search:
      algorithm: optuna
      sampler: tpe              # tpe | gp | cmaes | nsga2 | qmc | random
      seed: 0
      tpe: {constant_liar: true, multivariate: true}

A section of its own per sampler (rather than ``sampler: {type: tpe, ...}``) keeps the sampler a
plain name, and each sampler's keys are checked strictly, with key paths (``search.tpe.n_startup_trials``);
a section for a sampler other than the one chosen is an error, not silently ignored.

=========  ================================  ===================  =================  ===========
sampler    for                                several metrics      conditional space  choice
=========  ================================  ===================  =================  ===========
tpe        anything; ``constant_liar`` for    yes                  yes (``group``:    yes
           many trials at once                                     one model a branch)
gp         few, expensive, numeric trials     yes                  no                 yes
cmaes      numeric spaces, many trials        no                   no                 no
nsga2      several metrics                    yes                  no                 yes
qmc        even coverage (Sobol, Halton)      no                   no                 yes
random     the baseline                       yes                  yes                yes
=========  ================================  ===================  =================  ===========

"no" is refused at validation (CMA-ES models numbers only: Optuna would draw a choice at random,
independently of the model; samplers other than TPE and random fall back to independent random
draws for a conditional's hyperparameters). ``normal`` and ``grid`` values are refused for every
sampler. The searcher is :class:`~tunefleet.search.optuna.searcher.OptunaSearcher`; the space is
translated by :mod:`tunefleet.search.optuna.space`. Needs the ``optuna`` extra
(``pip install 'tunefleet[optuna]'``; CMA-ES also the ``cmaes`` package it brings).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, model_validator

from tunefleet.objectives import objectives_of
from tunefleet.search import EvaluatedPoint, SearcherOptions, SearcherPlugin, SearchSettings
from tunefleet.search.spaces import Choice, Conditional, Grid, Normal, Space, walk

logger = logging.getLogger(__name__)

Sampler = Literal["tpe", "gp", "cmaes", "nsga2", "qmc", "random"]
#: Samplers that optimize several metrics at once (the others take one).
MULTI_OBJECTIVE_SAMPLERS = ("tpe", "gp", "nsga2", "random")


class TpeOptions(SearcherOptions):
    """``search.tpe``: Optuna's ``TPESampler`` (unset keys keep Optuna 5's defaults, in brackets).

    Optuna 5 deprecated TPE's other arguments (``gamma``, ``prior_weight``, ``consider_endpoints``...).
    """

    n_startup_trials: StrictInt | None = Field(None, ge=0, description="Random trials before TPE (10).")
    n_ei_candidates: StrictInt | None = Field(None, ge=1, description="Candidates scored per proposal (24).")
    multivariate: StrictBool | None = Field(
        None, description="Model the hyperparameters jointly (true for one metric, false for several)."
    )
    group: StrictBool | None = Field(
        None,
        description="Multivariate TPE per conditional branch rather than over the branches' union (false).",
    )
    constant_liar: StrictBool | None = Field(
        None, description="Count running trials as bad ones, so concurrent proposals spread out (true)."
    )

    @model_validator(mode="after")
    def _group_needs_multivariate(self) -> TpeOptions:
        if self.group and self.multivariate is False:
            raise ValueError("group: true needs the multivariate TPE (multivariate: true or unset)")
        return self


class GpOptions(SearcherOptions):
    """``search.gp``: Optuna's ``GPSampler`` (a Gaussian process; slow per proposal)."""

    n_startup_trials: StrictInt | None = Field(None, ge=0, description="Random trials before the GP (10).")
    deterministic_objective: StrictBool | None = Field(
        None, description="The metric has no noise: fit the GP without a noise term (false)."
    )


class CmaesOptions(SearcherOptions):
    """``search.cmaes``: Optuna's ``CmaEsSampler`` (needs the ``cmaes`` package)."""

    sigma0: StrictFloat | None = Field(None, gt=0, description="Initial step size (a sixth of the range).")
    n_startup_trials: StrictInt | None = Field(None, ge=0, description="Random trials before CMA-ES (1).")
    popsize: StrictInt | None = Field(None, ge=2, description="Trials per generation (4 + 3 ln(dimensions)).")
    use_separable_cma: StrictBool | None = Field(
        None, description="Diagonal covariance: faster in many dimensions (false)."
    )
    with_margin: StrictBool | None = Field(
        None, description="Keep integer hyperparameters from collapsing to one value (false)."
    )
    lr_adapt: StrictBool | None = Field(
        None, description="Adapt the learning rate, for noisy metrics (false)."
    )
    consider_pruned_trials: StrictBool | None = Field(
        None, description="Learn from trials a scheduler stopped early (false)."
    )

    @model_validator(mode="after")
    def _one_variant(self) -> CmaesOptions:
        chosen = [k for k in ("use_separable_cma", "with_margin", "lr_adapt") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(f"{' and '.join(chosen)} cannot be combined (Optuna has no such CMA-ES variant)")
        return self


class Nsga2Options(SearcherOptions):
    """``search.nsga2``: Optuna's ``NSGAIISampler`` (a genetic algorithm for several metrics)."""

    population_size: StrictInt | None = Field(None, ge=2, description="Trials per generation (50).")
    mutation_prob: StrictFloat | None = Field(
        None, ge=0, le=1, description="Chance a hyperparameter is drawn anew (1 / number of them)."
    )
    crossover: Literal["uniform", "blxalpha", "sbx", "vsbx", "undx", "spx"] | None = Field(
        None, description="How two (undx, spx: three) parents are mixed (uniform)."
    )
    crossover_prob: StrictFloat | None = Field(None, ge=0, le=1, description="Chance of a crossover (0.9).")
    swapping_prob: StrictFloat | None = Field(
        None,
        ge=0,
        le=1,
        description="uniform crossover: chance each value comes from the other parent (0.5).",
    )

    @model_validator(mode="after")
    def _enough_parents(self) -> Nsga2Options:
        if (
            self.crossover in ("undx", "spx")
            and self.population_size is not None
            and self.population_size < 3
        ):
            raise ValueError(f"crossover {self.crossover} mixes three parents: population_size must be >= 3")
        return self


class QmcOptions(SearcherOptions):
    """``search.qmc``: Optuna's ``QMCSampler`` (a low-discrepancy sequence; no model)."""

    qmc_type: Literal["sobol", "halton"] | None = Field(None, description="The sequence (sobol).")
    scramble: StrictBool | None = Field(None, description="Randomize the sequence with the seed (false).")


class RandomSamplerOptions(SearcherOptions):
    """``search.random``: Optuna's ``RandomSampler`` takes no options."""


SAMPLER_OPTIONS: dict[str, type[SearcherOptions]] = {
    "tpe": TpeOptions,
    "gp": GpOptions,
    "cmaes": CmaesOptions,
    "nsga2": Nsga2Options,
    "qmc": QmcOptions,
    "random": RandomSamplerOptions,
}


class OptunaOptions(SearcherOptions):
    """The keys of ``search:`` that only ``optuna`` takes: the sampler, and one section per sampler."""

    sampler: Sampler = Field("tpe", description="tpe, gp, cmaes, nsga2, qmc or random.")
    tpe: TpeOptions = Field(default_factory=TpeOptions)  # type: ignore[arg-type]
    gp: GpOptions = Field(default_factory=GpOptions)  # type: ignore[arg-type]
    cmaes: CmaesOptions = Field(default_factory=CmaesOptions)  # type: ignore[arg-type]
    nsga2: Nsga2Options = Field(default_factory=Nsga2Options)  # type: ignore[arg-type]
    qmc: QmcOptions = Field(default_factory=QmcOptions)  # type: ignore[arg-type]
    random: RandomSamplerOptions = Field(default_factory=RandomSamplerOptions)

    @property
    def sampler_options(self) -> SearcherOptions:
        """The chosen sampler's section."""
        options: SearcherOptions = getattr(self, self.sampler)
        return options


def build(
    options: OptunaOptions,
    settings: SearchSettings,
    space: Space,
    metric: str | list[str],
    mode: str | list[str],
) -> tuple[Any, dict[str, Any]]:
    from tunefleet.search.optuna.searcher import OptunaSearcher, make_sampler

    sampler = make_sampler(options.sampler, options.sampler_options.model_dump(), settings.seed)
    searcher = OptunaSearcher(
        space, objectives_of(metric, mode), sampler, points_to_evaluate=settings.points_to_evaluate
    )
    return searcher, {}


def check(options: OptunaOptions, space: Space, settings: SearchSettings) -> list[tuple[str, str]]:
    sampler = options.sampler
    problems: list[tuple[str, str]] = [
        (f"search.{other}", f"options of sampler {other}, but search.sampler is {sampler}")
        for other in SAMPLER_OPTIONS
        if other != sampler and other in options.model_fields_set
    ]
    if sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        problems.append(("search.sampler", "sampler cmaes needs cmaes (pip install 'tunefleet[optuna]')"))
    if not any(p.sampled for p in space.values()):
        problems.append(("space", "optuna needs at least one sampled hyperparameter"))
    for path, _, param in walk(space):
        if isinstance(param, Grid | Normal):
            instead = "choice" if isinstance(param, Grid) else "uniform over a range"
            problems.append(
                (
                    f"space.{path}.{param.kind}",
                    f"{param.kind} values cannot be used with search.algorithm optuna (its samplers draw "
                    f"within bounds and do not enumerate); use {instead}",
                )
            )
        elif sampler == "cmaes" and isinstance(param, Choice | Conditional):
            problems.append(
                (
                    f"space.{path}.{param.kind}",
                    f"sampler cmaes models numbers only (Optuna would draw {param.kind} values at random, "
                    "apart from the model); use sampler tpe or gp, or a numeric hyperparameter",
                )
            )
    conditionals = [k for k, p in space.items() if isinstance(p, Conditional)]
    if conditionals and sampler not in ("tpe", "random", "cmaes"):
        problems.append(
            (
                "search.sampler",
                f"sampler {sampler} cannot model a conditional space ({', '.join(conditionals)}): it would "
                "draw the branches' hyperparameters at random; use sampler tpe (or random)",
            )
        )
    return problems


def single_objective_reason(options: OptunaOptions) -> tuple[str, str] | None:
    if options.sampler in MULTI_OBJECTIVE_SAMPLERS:
        return None
    return (
        "search.sampler",
        f"sampler {options.sampler} optimizes one metric; for a metric list use sampler "
        f"{', '.join(MULTI_OBJECTIVE_SAMPLERS[:-1])} or {MULTI_OBJECTIVE_SAMPLERS[-1]}",
    )


def warm_start(search_alg: Any, points: Sequence[EvaluatedPoint]) -> None:
    """``tunefleet extend``: the old trials become finished trials of the new study.

    A multi-objective study is not warmed (an old trial's history holds its first objective only):
    it starts from its own trials, and says so in the log.
    """
    if len(search_alg.objectives) != 1:
        logger.warning("optuna: a multi-objective study is not warm-started; the old trials stay history")
        return
    for point in points:
        search_alg.add_evaluated_point(point.config, point.value)


PLUGIN = SearcherPlugin(
    name="optuna",
    warm_start=warm_start,
    options=OptunaOptions,
    build=build,
    check=check,
    single_objective_reason=single_objective_reason,
    requires=(("optuna", "optuna"),),
)

__all__ = ["MULTI_OBJECTIVE_SAMPLERS", "PLUGIN", "SAMPLER_OPTIONS", "OptunaOptions"]
