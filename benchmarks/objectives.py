"""Standard global-optimisation test functions, and function trainables that report them.

Each objective has a known minimum, so a searcher's result can be read as a gap to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray import tune

__all__ = [
    "OBJECTIVES",
    "Objective",
    "branin",
    "hartmann6",
    "objective_trial",
    "zdt1",
    "zdt1_front_hypervolume",
]


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(*x: float) -> float:
    """Hartmann-6 on [0, 1]^6; minimum -3.32237."""
    point = np.asarray(x, dtype=float)
    return float(-(_H6_ALPHA * np.exp(-(_H6_A * (point - _H6_P) ** 2).sum(axis=1))).sum())


@dataclass(frozen=True)
class Objective:
    """A function to minimise over a box, with its known minimum.

    Attributes:
        name: Short name.
        function: ``f(*x) -> float``.
        bounds: ``(low, high)`` of each coordinate, named ``x1``, ``x2``...
        minimum: The global minimum value.
    """

    name: str
    function: Callable[..., float]
    bounds: tuple[tuple[float, float], ...]
    minimum: float

    @property
    def names(self) -> list[str]:
        return [f"x{i + 1}" for i in range(len(self.bounds))]

    def space(self) -> dict[str, Any]:
        """The box as a tunefleet YAML ``space:`` mapping."""
        return {n: {"uniform": [lo, hi]} for n, (lo, hi) in zip(self.names, self.bounds, strict=True)}

    def __call__(self, config: Mapping[str, Any]) -> float:
        return self.function(*(float(config[n]) for n in self.names))


OBJECTIVES: dict[str, Objective] = {
    "branin": Objective("branin", branin, ((-5.0, 10.0), (0.0, 15.0)), 0.397887),
    "hartmann6": Objective("hartmann6", hartmann6, ((0.0, 1.0),) * 6, -3.32237),
}


def objective_trial(config: dict[str, Any]) -> None:
    """Function trainable: reports ``value`` of the objective named by ``config["objective"]``.

    Also reports ``evaluated_at`` (``time.time()``): with one trial at a time it orders the
    trials as the searcher proposed them (Tune's trial ids are random).
    """
    tune.report({"value": OBJECTIVES[config["objective"]](config), "evaluated_at": time.time()})


objective_trial.reported_metrics = frozenset({"value", "evaluated_at"})  # type: ignore[attr-defined]


def zdt1(*x: float) -> tuple[float, float]:
    """ZDT1 (Zitzler, Deb & Thiele 2000) on [0, 1]^n, both objectives minimized.

    The Pareto front is ``f2 = 1 - sqrt(f1)`` for ``f1`` in [0, 1], reached when every ``x`` but
    the first is 0.
    """
    f1 = float(x[0])
    g = 1 + 9 * sum(x[1:]) / max(len(x) - 1, 1)
    return f1, g * (1 - math.sqrt(f1 / g))


def zdt1_front_hypervolume(reference: tuple[float, float]) -> float:
    """The hypervolume of ZDT1's whole Pareto front up to ``reference`` (both at least 1)."""
    # Over f1 in [0, 1] the front dominates up to r2 from f2 = 1 - sqrt(f1): (r2 - 1) + 2/3; from
    # f1 = 1 (where f2 = 0) to r1, the whole height r2.
    r1, r2 = reference
    return (r2 - 1) + 2 / 3 + (r1 - 1) * r2
