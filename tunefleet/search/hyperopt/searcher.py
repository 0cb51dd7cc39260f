"""Ray's HyperOptSearch, handing trials the same flat config as every other searcher.

A module of its own: Ray's Hyperopt integration imports Hyperopt, which takes seconds, and the
plugin (:mod:`tunefleet.search.hyperopt`) is imported whenever an experiment is validated.
"""

from __future__ import annotations

import math
from typing import Any

from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR
from hyperopt.fmin import generate_trial
from ray.tune.search.hyperopt import HyperOptSearch

from tunefleet.divergence import is_diverged
from tunefleet.scalars import python_scalars
from tunefleet.search.hyperopt.space import flatten_conditionals, hyperopt_vals
from tunefleet.search.spaces import Space


class FlatHyperOptSearch(HyperOptSearch):
    """``HyperOptSearch`` whose suggestions have conditional branches flattened.

    Hyperopt expresses a conditional as a choice between sub-dicts, so its raw suggestion is
    nested (``{optimizer: {optimizer: adam, beta1: 0.9}}``). Trials get the flat form
    (``{optimizer: adam, beta1: 0.9, momentum: None}``) that grid and random search produce.
    Results are matched to Hyperopt's trials by trial id, so the flattening is invisible to TPE.

    :meth:`add_evaluated_point` (which Ray 2.60's ``HyperOptSearch`` lacks; it has no
    ``evaluated_rewards`` either) records an earlier sweep's trial as a finished Hyperopt trial:
    ``tunefleet extend`` warm-starts TPE with it.

    Args:
        tunefleet_space: The parsed space (to know which keys are conditional).
        **kwargs: Passed to ``HyperOptSearch``.
    """

    def __init__(self, tunefleet_space: Space, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tunefleet_space = tunefleet_space

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        return None if config is None else flatten_conditionals(config, self._tunefleet_space)

    def add_evaluated_point(
        self,
        parameters: dict[str, Any],
        value: float,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list[float] | None = None,
    ) -> None:
        """Record a configuration evaluated elsewhere (flat, values of the space) with its metric value.

        TPE then counts it as one of its finished trials (towards ``n_initial_points`` too);
        nothing is run. A non-finite value (a diverged trial) is the worst loss, as in
        :meth:`on_trial_complete`; ``error`` records a failed trial, which TPE ignores.
        """
        trials = self._hpopt_trials
        (tid,) = trials.new_trial_ids(1)
        doc = generate_trial(tid, {})
        vals = hyperopt_vals(parameters, self._tunefleet_space)
        doc["misc"]["vals"] = vals
        doc["misc"]["idxs"] = {label: [tid] if drawn else [] for label, drawn in vals.items()}
        if error:
            doc["state"] = JOB_STATE_ERROR
        else:
            loss = self.metric_op * float(value) if math.isfinite(value) else math.inf
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"loss": loss, "status": "ok"}
        trials.insert_trial_docs([doc])
        trials.refresh()

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result and not error:
            # TPE keeps every loss in its saved state: a float, not the numpy or torch scalar
            # reported. Ray passes a NaN metric through as a NaN loss, which TPE's sorting cannot
            # rank; a diverged trial is the worst there is (Ray's loss is metric_op * metric).
            result = python_scalars(result)
            if is_diverged(result, self.metric):
                result = {**result, self.metric: math.inf * self.metric_op}
        super().on_trial_complete(trial_id, result, error)
