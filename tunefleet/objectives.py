"""The objectives of a sweep, and what "better" means when there are several.

A sweep optimizes one metric (``metric: val_accuracy``, ``mode: max``) or several at once
(``metric: [val_accuracy, params]``, ``mode: [max, min]``). With several, no single trial is best:
a trial *dominates* another when it is at least as good on every objective and better on one, and
the trials no other trial dominates form the *Pareto front*. The *hypervolume* of a set of trials
is the volume of objective space they dominate up to a reference point: one number that grows as
the front gets better and wider (Zitzler & Thiele 1998), used to compare sweeps and samplers.

Everything here is plain Python and NumPy, so that search, schedulers (MOASHA's non-dominated
sorting at each rung) and analysis share one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "Objective",
    "dominates",
    "hypervolume",
    "minimized",
    "non_dominated_sort",
    "objectives_of",
    "pareto_front",
]

Mode = Literal["min", "max"]


@dataclass(frozen=True)
class Objective:
    """One metric the sweep optimizes and its direction."""

    metric: str
    mode: Mode

    @property
    def sign(self) -> float:
        """+1 for ``min``, -1 for ``max``: multiplying by it turns the objective into a minimization."""
        return 1.0 if self.mode == "min" else -1.0


def objectives_of(metric: str | Sequence[str], mode: str | Sequence[str]) -> tuple[Objective, ...]:
    """The objectives of ``metric``/``mode`` as an experiment file writes them.

    Example:
        >>> objectives_of(["val_accuracy", "params"], ["max", "min"])
        (Objective(metric='val_accuracy', mode='max'), Objective(metric='params', mode='min'))

    Raises:
        ValueError: one is a list and the other is not, the lists differ in length or are empty,
            a mode is neither ``min`` nor ``max``, or a metric is named twice.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    modes = [mode] if isinstance(mode, str) else list(mode)
    if isinstance(metric, str) != isinstance(mode, str):
        raise ValueError(
            "metric and mode must both be one name or both be lists of the same length; "
            f"got {len(metrics)} metric(s) and {len(modes)} mode(s)"
        )
    if not metrics or len(metrics) != len(modes):
        raise ValueError(
            f"metric and mode must be lists of the same length (one mode per metric); "
            f"got {len(metrics)} metric(s) and {len(modes)} mode(s)"
        )
    if bad := [m for m in modes if m not in ("min", "max")]:
        raise ValueError(f"each mode must be 'min' or 'max'; got {bad[0]!r}")
    if len(set(metrics)) != len(metrics):
        raise ValueError("each metric may be named once")
    return tuple(Objective(m, o) for m, o in zip(metrics, modes, strict=True))  # type: ignore[arg-type]


def minimized(values: ArrayLike, objectives: Sequence[Objective]) -> np.ndarray:
    """``values`` (one row per trial, one column per objective) with every column to be minimized."""
    array = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    return array * np.array([o.sign for o in objectives])


def dominates(a: ArrayLike, b: ArrayLike, objectives: Sequence[Objective]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every objective and better on one."""
    x, y = minimized(np.vstack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)]), objectives)
    return bool(np.all(x <= y) and np.any(x < y))


def non_dominated_sort(values: ArrayLike, objectives: Sequence[Objective]) -> list[list[int]]:
    """Row indices of ``values`` in Pareto fronts: the non-dominated rows first, then the rows only
    those dominate, and so on (Deb et al. 2002). Rows holding NaN come last, in a front of their own.
    """
    points = minimized(values, objectives)
    nan = np.isnan(points).any(axis=1)
    finite = np.flatnonzero(~nan)
    ranked = points[finite]
    # dominated_by[i, j]: row j dominates row i. Vectorized: MOASHA sorts every rung on every
    # result that reaches it, and a rung of a large sweep holds hundreds of trials.
    no_worse = (ranked[None, :, :] <= ranked[:, None, :]).all(axis=2)
    better = (ranked[None, :, :] < ranked[:, None, :]).any(axis=2)
    dominated_by = no_worse & better
    remaining = np.ones(len(finite), dtype=bool)
    fronts: list[list[int]] = []
    while remaining.any():
        undominated = remaining & ~(dominated_by & remaining[None, :]).any(axis=1)
        fronts.append([int(i) for i in finite[undominated]])
        remaining &= ~undominated
    if nan.any():
        fronts.append([int(i) for i in np.flatnonzero(nan)])
    return fronts


def pareto_front(values: ArrayLike, objectives: Sequence[Objective]) -> list[int]:
    """Row indices of the non-dominated rows of ``values`` (NaN rows are never on the front)."""
    points = minimized(values, objectives)
    if not len(points) or np.isnan(points).all(axis=1).all():
        return []
    first = non_dominated_sort(values, objectives)[0]
    return [i for i in first if not np.isnan(points[i]).any()]


def hypervolume(values: ArrayLike, objectives: Sequence[Objective], reference: Sequence[float]) -> float:
    """The volume of objective space that the rows of ``values`` dominate, bounded by ``reference``.

    ``reference`` is in the objectives' own units and directions (e.g. ``[0.0, 1e6]`` for
    ``[max accuracy, min params]``): a point worse than every trial worth counting. Rows that do not
    strictly beat it on every objective, and rows holding NaN, add nothing. Exact (slicing by the
    last objective, then recursing): fine for the hundreds of trials and few objectives of a sweep.

    Example:
        >>> two = objectives_of(["a", "b"], ["min", "min"])
        >>> hypervolume([[1, 2], [2, 1]], two, [3, 3])
        3.0
    """
    ref = minimized([reference], objectives)[0]
    points = minimized(values, objectives)
    points = points[~np.isnan(points).any(axis=1)]
    points = points[np.all(points < ref, axis=1)]
    return float(_volume(points, ref))


def _volume(points: np.ndarray, ref: np.ndarray) -> float:
    if not len(points):
        return 0.0
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    if points.shape[1] == 2:
        # Sweep by the first objective: each point adds the strip below the best second value so far.
        order = points[np.lexsort((points[:, 1], points[:, 0]))]
        volume, best = 0.0, ref[1]
        for x, y in order:
            if y < best:
                volume += (ref[0] - x) * (best - y)
                best = y
        return volume
    order = points[np.argsort(points[:, -1])]
    volume = 0.0
    for i, z in enumerate(order[:, -1]):
        top = order[i + 1, -1] if i + 1 < len(order) else ref[-1]
        if top > z:
            volume += (top - z) * _volume(order[: i + 1, :-1], ref[:-1])
    return volume
