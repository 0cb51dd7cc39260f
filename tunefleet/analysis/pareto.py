"""The Pareto front and the hypervolume of a multi-objective sweep, as data (drawn by
:mod:`tunefleet.analysis.plots`).

Each trial is one point: every objective read at its ranking point (see
:mod:`tunefleet.analysis.ranking`: the result the first objective picks, by ``scope``). The
front is the trials no other trial beats on every objective (:func:`tunefleet.objectives.pareto_front`).

The hypervolume needs a *reference point*, a value per objective worse than every trial worth
counting. Unless one is given, it is :func:`worst_point`: for each objective the worst value any
trial had (among the trials that have every objective), so that it is reproducible from the
directory alone. A trial that is the worst on some objective then adds nothing (it encloses no
volume up to the reference); ``compare`` takes the worst over all the compared sweeps, or
``--reference``.

Example:
    >>> results = load_results("runs/acc-vs-params")  # doctest: +SKIP
    >>> hypervolume_history(results).tail(1)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tunefleet.analysis.ranking import metric_column
from tunefleet.objectives import Objective, hypervolume, minimized, pareto_front

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = [
    "Hypervolume",
    "front_staircase",
    "hypervolume_history",
    "pareto_points",
    "point_text",
    "running_hypervolume",
    "sweep_hypervolume",
    "worst_point",
]


class Hypervolume(NamedTuple):
    """A hypervolume and the reference point it was measured from (objectives' own units)."""

    value: float | None  # None: no trial has every objective
    reference: tuple[float, ...] | None


def worst_point(values: ArrayLike, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    """For each objective, the worst value among the rows that have every objective; None when
    no row has (rows: trials, columns: objectives, NaN: missing)."""
    points = minimized(values, objectives)
    points = points[~np.isnan(points).any(axis=1)]
    if not len(points):
        return None
    return tuple(float(v) for v in points.max(axis=0) * np.array([o.sign for o in objectives]))


def sweep_hypervolume(
    values: ArrayLike, objectives: Sequence[Objective], reference: Sequence[float] | None = None
) -> Hypervolume:
    """The hypervolume of ``values`` from ``reference`` (default: :func:`worst_point` of them)."""
    point = tuple(float(v) for v in reference) if reference is not None else worst_point(values, objectives)
    if point is None or not len(minimized(values, objectives)):
        return Hypervolume(None, point)
    return Hypervolume(hypervolume(values, objectives, point), point)


def running_hypervolume(
    values: ArrayLike, objectives: Sequence[Objective], reference: Sequence[float]
) -> np.ndarray:
    """The hypervolume of rows ``0..i`` of ``values`` for each ``i``: never decreasing.

    Only the running front is kept and measured, and only when a new row joins it, so a sweep of
    thousands of trials takes a moment.
    """
    array = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    points = minimized(array, objectives)
    front: list[int] = []
    volume = 0.0
    out = np.empty(len(points))
    for i, point in enumerate(points):
        weakly_dominated = any(np.all(points[j] <= point) for j in front)
        if not np.isnan(point).any() and not weakly_dominated:
            front = [j for j in front if not np.all(point <= points[j])] + [i]
            volume = hypervolume(array[front], objectives, reference)
        out[i] = volume
    return out


def pareto_points(results: Results) -> pd.DataFrame:
    """One row per trial, in the order Ray created them.

    Returns:
        Columns ``trial_index`` (0, 1, ...), ``trial_id``, ``status``, one column per objective
        (named by its metric; NaN when the trial lacks it), ``front`` (1: the Pareto front;
        <NA>: unranked, or a single-objective sweep), ``pareto`` and ``end_wall_time_s`` (seconds
        from the experiment's start to the trial's last result; NaN: it reported nothing).
    """
    info = results.trial_info()[["trial_id", "status"]]
    trials = results.trials().set_index("trial_id")
    ends = results.history().groupby("trial_id", sort=False)["wall_time_s"].max()
    frame = info.assign(trial_index=np.arange(len(info)))[["trial_index", "trial_id", "status"]]
    for objective in results.objectives:
        column = metric_column(objective.metric)
        reported = (
            pd.to_numeric(trials[column], errors="coerce").astype(float)
            if column in trials
            else pd.Series(np.nan, index=trials.index)
        )
        values = frame["trial_id"].map(reported).astype(float)
        frame[objective.metric] = values.where(np.isfinite(values))
    fronts = trials["front"] if "front" in trials else pd.Series(pd.NA, index=trials.index, dtype="Int64")
    frame["front"] = pd.array(frame["trial_id"].map(fronts), dtype="Int64")
    frame["pareto"] = (frame["front"] == 1).fillna(False).astype(bool)
    frame["end_wall_time_s"] = frame["trial_id"].map(ends).astype(float)
    return frame


def hypervolume_history(results: Results, reference: Sequence[float] | None = None) -> pd.DataFrame:
    """The sweep's hypervolume after each trial, in the order trials were created and in the order
    they ended (both against one reference point, default :func:`worst_point` of every trial).

    Returns:
        :func:`pareto_points`' ``trial_index``, ``trial_id`` and ``end_wall_time_s``, then
        ``hypervolume`` (of trials ``0..trial_index``) and ``hypervolume_by_time`` (of the trials
        that had ended by ``end_wall_time_s``; NaN for a trial that reported nothing). NaN
        throughout when no trial has every objective.
    """
    points = pareto_points(results)
    frame = points[["trial_index", "trial_id", "end_wall_time_s"]].copy()
    values = points[[o.metric for o in results.objectives]].to_numpy(dtype=float)
    point = tuple(reference) if reference is not None else worst_point(values, results.objectives)
    if point is None:
        frame["hypervolume"] = frame["hypervolume_by_time"] = np.nan
        return frame
    frame["hypervolume"] = running_hypervolume(values, results.objectives, point)
    ended = np.flatnonzero(frame["end_wall_time_s"].notna().to_numpy())
    order = ended[np.argsort(frame["end_wall_time_s"].to_numpy()[ended], kind="stable")]
    by_time = np.full(len(frame), np.nan)
    by_time[order] = running_hypervolume(values[order], results.objectives, point)
    frame["hypervolume_by_time"] = by_time
    return frame


def front_staircase(
    points: pd.DataFrame, objectives: Sequence[Objective], reference: Sequence[float]
) -> pd.DataFrame:
    """The boundary of what the front dominates on the first two objectives, up to ``reference``.

    Args:
        points: One column per objective (as :func:`pareto_points`); the rows not dominated on the
            first two objectives make the staircase.
        objectives: The sweep's objectives (the first two are drawn).
        reference: The reference point (its first two values are used).

    Returns:
        The staircase's corners in order, one column per objective (the first two), from the
        reference's edge of the best first-objective value to the reference's edge of the best
        second-objective value. Empty when no row has both.
    """
    pair = list(objectives[:2])
    names = [o.metric for o in pair]
    values = points[names].to_numpy(dtype=float)
    front = minimized(values[pareto_front(values, pair)], pair)
    front = np.unique(front, axis=0)  # sorted by the first objective, best first
    if not len(front):
        return pd.DataFrame({name: pd.Series(dtype=float) for name in names})
    ref = minimized([list(reference[:2])], pair)[0]
    corners = [(front[0, 0], ref[1])]
    for k, (x, y) in enumerate(front):
        corners.append((x, y))
        corners.append((front[k + 1, 0], y) if k + 1 < len(front) else (ref[0], y))
    signs = np.array([o.sign for o in pair])
    drawn = np.array(corners) * signs
    return pd.DataFrame({names[0]: drawn[:, 0], names[1]: drawn[:, 1]})


def point_text(objectives: Sequence[Objective], point: Sequence[float]) -> str:
    """``val_accuracy=0.6 (max), params=500 (min)``: a point in objective space, as shown."""
    return ", ".join(f"{o.metric}={v:.4g} ({o.mode})" for o, v in zip(objectives, point, strict=True))
