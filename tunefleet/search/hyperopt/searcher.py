"""Ray's HyperOptSearch, handing trials the same flat config as every other searcher.

A module of its own: Ray's Hyperopt integration imports Hyperopt, which takes seconds, and the
plugin (:mod:`tunefleet.search.hyperopt`) is imported whenever an experiment is validated.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.search.hyperopt import HyperOptSearch

from tunefleet.divergence import is_diverged
from tunefleet.scalars import python_scalars
from tunefleet.search.hyperopt.space import flatten_conditionals
from tunefleet.search.spaces import Space


class FlatHyperOptSearch(HyperOptSearch):
    """``HyperOptSearch`` whose suggestions have conditional branches flattened.

    Hyperopt expresses a conditional as a choice between sub-dicts, so its raw suggestion is
    nested (``{optimizer: {optimizer: adam, beta1: 0.9}}``). Trials get the flat form
    (``{optimizer: adam, beta1: 0.9, momentum: None}``) that grid and random search produce.
    Results are matched to Hyperopt's trials by trial id, so the flattening is invisible to TPE.

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

    def _to_hyperopt_result(self, result: dict[str, Any]) -> dict[str, Any]:
        # Ray passes a NaN metric through as a NaN loss, which TPE's sorting cannot rank; a
        # diverged trial is the worst there is.
        if is_diverged(result, self.metric):
            return {"loss": math.inf, "status": "ok"}
        # TPE keeps every loss in its saved state: a float, not the numpy or torch scalar reported.
        return super()._to_hyperopt_result(python_scalars(result))
