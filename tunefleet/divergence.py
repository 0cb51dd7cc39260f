"""Diverged trials: a NaN or infinite loss (or tuned metric) ends a trial, and counts as the worst.

A diverged model never recovers, so training it further wastes the budget, and raising would make
``failure.max_failures`` retry it from a checkpoint that diverges again. Built-in trainables mark
such a result ``diverged: true`` and stop themselves; the run's stopper
(:class:`tunefleet.run.callbacks.StopDiverged`) stops any other trainable whose tuned metric stops
being a finite number; and the Hyperopt searcher records the trial with the worst possible loss, so
TPE learns to avoid that region. No Ray here: analysis reads results with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tunefleet.scalars import python_scalar, real_value

__all__ = ["DIVERGED", "is_diverged"]

#: Key of the boolean every built-in trainable reports.
DIVERGED = "diverged"


def is_diverged(result: Mapping[str, Any], metric: str) -> bool:
    """True when ``result`` says it diverged, or its ``metric`` is a NaN or infinite number
    (a Python, numpy or 0-d torch one)."""
    if python_scalar(result.get(DIVERGED)) is True:
        return True
    value = real_value(result.get(metric))
    return value is not None and not math.isfinite(value)
