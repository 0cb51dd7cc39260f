"""Diverged trials: a NaN or infinite loss (or tuned metric) ends a trial, and counts as the worst.

A diverged model never recovers, so training it further wastes the budget, and raising would make
``failure.max_failures`` retry it from a checkpoint that diverges again. Built-in trainables mark
such a result ``diverged: true`` and stop themselves; :class:`StopDiverged` stops any other
trainable whose tuned metric stops being a finite number; and the Hyperopt searcher records the
trial with the worst possible loss, so TPE learns to avoid that region.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ray.tune import Stopper

from tunefleet.scalars import python_scalar, real_value

__all__ = ["DIVERGED", "StopDiverged", "is_diverged"]

#: Key of the boolean every built-in trainable reports.
DIVERGED = "diverged"


def is_diverged(result: Mapping[str, Any], metric: str) -> bool:
    """True when ``result`` says it diverged, or its ``metric`` is a NaN or infinite number
    (a Python, numpy or 0-d torch one)."""
    if python_scalar(result.get(DIVERGED)) is True:
        return True
    value = real_value(result.get(metric))
    return value is not None and not math.isfinite(value)


class StopDiverged(Stopper):
    """Stops a trial (cleanly, as TERMINATED) once a result of it diverged.

    Args:
        metric: The tuned metric.
        max_iterations: Also stop at this ``training_iteration`` (the sweep's budget per trial).
    """

    def __init__(self, metric: str, max_iterations: int) -> None:
        self.metric = metric
        self.max_iterations = max_iterations

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if result.get("training_iteration", 0) >= self.max_iterations:
            return True
        return is_diverged(result, self.metric)

    def stop_all(self) -> bool:
        return False
