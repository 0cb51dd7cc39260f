"""An Optuna study behind Ray Tune's ``Searcher`` API, and the samplers it can use.

A searcher of tunefleet's own rather than Ray's ``OptunaSearch``: trials get the flat config every
other algorithm hands out (a conditional's branch names its hyperparameters ``key|name=option`` in
the study, which Ray's searcher would copy into the config), a diverged result is the worst there
is rather than a failure the samplers ignore, and the state saved with the sweep is the study itself,
so a resumed sweep continues it with every result it had seen. Only Ray's public ``Searcher`` API
is used. Imported only when a sweep is built (Optuna takes a second to import).
"""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from ray.tune.search import Searcher

from tunefleet.divergence import is_diverged
from tunefleet.objectives import Objective
from tunefleet.scalars import real_value
from tunefleet.search.optuna.space import SuggestConfig, fixed_params
from tunefleet.search.spaces import Space

__all__ = ["OptunaSearcher", "make_sampler"]

#: NSGA-II's crossover operators by YAML name (each draws on this many parents).
CROSSOVERS: dict[str, tuple[str, int]] = {
    "uniform": ("UniformCrossover", 2),
    "blxalpha": ("BLXAlphaCrossover", 2),
    "sbx": ("SBXCrossover", 2),
    "vsbx": ("VSBXCrossover", 2),
    "undx": ("UNDXCrossover", 3),
    "spx": ("SPXCrossover", 3),
}


def make_sampler(sampler: str, options: Mapping[str, Any], seed: int | None) -> Any:
    """The Optuna sampler ``sampler`` with its validated ``options`` (unset ones left out) and ``seed``."""
    with warnings.catch_warnings():
        # Optuna flags some samplers (QMC) as experimental on every construction; the user chose it.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(sampler, {k: v for k, v in options.items() if v is not None}, seed)


def _sampler(sampler: str, kwargs: dict[str, Any], seed: int | None) -> Any:
    samplers = optuna.samplers
    match sampler:
        case "tpe":
            return samplers.TPESampler(seed=seed, **kwargs)
        case "gp":
            return samplers.GPSampler(seed=seed, **kwargs)
        case "cmaes":
            return samplers.CmaEsSampler(seed=seed, **kwargs)
        case "nsga2":
            if "crossover" in kwargs:
                kwargs["crossover"] = getattr(samplers.nsgaii, CROSSOVERS[kwargs["crossover"]][0])()
            return samplers.NSGAIISampler(seed=seed, **kwargs)
        case "qmc":
            return samplers.QMCSampler(seed=seed, **kwargs)
        case "random":
            return samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown Optuna sampler {sampler!r}")  # guarded by validation


class OptunaSearcher(Searcher):
    """One Optuna study per sweep: ``suggest`` asks it for a trial, ``on_trial_complete`` tells it the result.

    A trial asked but not yet told is RUNNING in the study, which is what TPE's ``constant_liar``
    reads to keep concurrent proposals apart.

    Args:
        space: The parsed space (constants included: they go to every trial, not into the study).
        objectives: What the study optimizes, one direction per metric.
        sampler: An Optuna sampler (:func:`make_sampler`).
        points_to_evaluate: Flat configurations to run first, in order.
    """

    def __init__(
        self,
        space: Space,
        objectives: Sequence[Objective],
        sampler: Any,
        points_to_evaluate: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        objectives = tuple(objectives)
        if len(objectives) == 1:
            super().__init__(metric=objectives[0].metric, mode=objectives[0].mode)
        else:
            # Ray's Searcher takes lists (its annotation says str): it asserts them and checks
            # that every metric is reported.
            metrics: Any = [o.metric for o in objectives]
            super().__init__(metric=metrics, mode=[o.mode for o in objectives])  # type: ignore[arg-type]
        self.objectives = objectives
        self.suggest_config = SuggestConfig(space)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            sampler=sampler,
            directions=["minimize" if o.mode == "min" else "maximize" for o in objectives],
        )
        for point in points_to_evaluate:
            self.study.enqueue_trial(fixed_params(point, space))
        #: Ray's trial id -> the study's trial number, for trials asked and not yet told.
        self.pending: dict[str, int] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        trial = self.study.ask()
        self.pending[trial_id] = trial.number
        return self.suggest_config(trial)

    def _values(self, result: Mapping[str, Any]) -> list[float] | None:
        """The objectives' values of a final result; None when one is missing."""
        values = []
        for objective in self.objectives:
            if is_diverged(result, objective.metric):
                # The worst there is, so the sampler learns to avoid the region (Optuna would mark
                # a NaN trial failed, and samplers ignore failed trials).
                values.append(math.inf * objective.sign)
                continue
            value = real_value(result.get(objective.metric))
            if value is None:
                return None
            values.append(value)
        return values

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        number = self.pending.pop(trial_id, None)
        if number is None:
            return  # told already (Ray may report a trial's end twice)
        values = None if error or not result else self._values(result)
        if values is None:
            self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(number, values)

    def add_evaluated_point(
        self,
        parameters: dict[str, Any],
        value: float,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list[float] | None = None,
    ) -> None:
        """An earlier sweep's trial (``tunefleet extend``) as a finished trial of the study.

        ``parameters`` is a flat config of the space; ``value`` the first objective's value as
        reported (a study of one objective only: an earlier result holds one value). A diverged
        value becomes the worst there is, as in :meth:`on_trial_complete`.
        """
        if len(self.objectives) != 1:
            raise ValueError("an earlier result holds one value; this study has several objectives")
        fixed = optuna.trial.FixedTrial(fixed_params(parameters, self.suggest_config.space))
        self.suggest_config(fixed)  # records each parameter's distribution, branches included
        objective = self.objectives[0]
        number = real_value(value)
        if error or number is None or not math.isfinite(number):
            number = math.inf * objective.sign
        self.study.add_trial(
            optuna.trial.create_trial(params=fixed.params, distributions=fixed.distributions, value=number)
        )

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump({"study": self.study, "pending": self.pending}, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            state = pickle.load(file)
        self.study, self.pending = state["study"], state["pending"]
