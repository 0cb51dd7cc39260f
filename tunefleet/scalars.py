"""Reported values as plain Python numbers, whatever library computed them.

Trainables report what numpy or torch computed (``np.float32``, a 0-d tensor) as often as Python
floats. ``isinstance(value, float)`` is False for all but ``np.float64``, so a check written
that way misses a NaN loss or drops a metric. Every check of a reported value goes through
:func:`real_value`. No Ray, numpy or torch import: the driver, the loggers and the analysis
all use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["python_scalar", "python_scalars", "real_value"]


def python_scalar(value: Any) -> Any:
    """A numpy scalar, 0-d array or 0-d tensor as the Python scalar it holds; anything else as it is."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        detach = getattr(value, "detach", None)  # a loss tensor that requires grad: torch warns
        return (detach() if callable(detach) else value).item()
    return value


def real_value(value: Any) -> float | None:
    """``value`` as a float when it is one real number (NaN and infinities included), else None.

    Python ints and floats, numpy scalars and 0-d arrays, and 0-d torch tensors are numbers;
    booleans, complex numbers, strings and sequences are not.
    """
    value = python_scalar(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range
        return math.inf if value > 0 else -math.inf


def python_scalars(result: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``result`` (nested mappings too) with every library scalar unwrapped.

    What result files should hold: Ray's JSON encoder writes a numpy NaN as the string
    ``"null"`` and a tensor as its ``repr``, neither of which reads back as a number.
    """
    return {
        key: python_scalars(value) if isinstance(value, Mapping) else python_scalar(value)
        for key, value in result.items()
    }
