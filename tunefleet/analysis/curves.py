"""Progress of a sweep over time: optimization history, learning curves, rungs, time to a target.

These functions compute the data (DataFrames, NamedTuples); :mod:`tunefleet.analysis.plots`
draws it.

Example:
    >>> results = load_results("runs/quickstart")  # doctest: +SKIP
    >>> curve = anytime_curve(results)  # doctest: +SKIP
    >>> time_to_target(curve, 0.9, results.mode)  # doctest: +SKIP
    TargetReached(wall_time_s=41.2, trial_iterations=96, trial_seconds=75.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd
from pydantic import ValidationError

from tunefleet.schedulers import parse_scheduler_section

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = [
    "TargetReached",
    "anytime_curve",
    "best_so_far",
    "learning_curves",
    "max_iterations",
    "optimization_history",
    "rung_counts",
    "scheduler_rungs",
    "time_to_target",
]


def best_so_far(values: np.ndarray | pd.Series, mode: str) -> np.ndarray:
    """Running best of ``values`` (``mode`` min or max); NaN entries do not count."""
    array = np.asarray(values, dtype=float)
    filled = np.where(np.isnan(array), np.inf if mode == "min" else -np.inf, array)
    running = np.minimum.accumulate(filled) if mode == "min" else np.maximum.accumulate(filled)
    return np.where(np.isinf(running), np.nan, running)


def max_iterations(results: Results) -> int:
    """The iteration budget per trial: ``max_iterations`` of tunefleet.yaml, else the most any
    trial ran."""
    declared = results.settings.get("max_iterations")
    if isinstance(declared, int) and declared > 0:
        return declared
    done = pd.to_numeric(results.history()["training_iteration"], errors="coerce")
    return int(done.max()) if done.notna().any() else 0


def optimization_history(results: Results) -> pd.DataFrame:
    """One row per trial, in the order Ray created them.

    Returns:
        Columns ``trial_index`` (0, 1, ...), ``trial_id``, ``status``, ``value`` (the ranking
        value), ``end_wall_time_s`` (seconds from the experiment's start to the trial's last
        result), ``stopped_early`` (see :func:`learning_curves`), ``best_so_far`` (best value
        among trials 0..index) and ``best_so_far_by_time`` (best value among the trials that
        ended by then).
    """
    info = results.trial_info()[["trial_id", "status"]]
    ranked = results.trials().set_index("trial_id")["value"]
    ends = results.history().groupby("trial_id", sort=False)["wall_time_s"].max()
    frame = info.assign(
        trial_index=np.arange(len(info)),
        value=info["trial_id"].map(ranked).astype(float),
        end_wall_time_s=info["trial_id"].map(ends).astype(float),
    )
    early = learning_curves(results).groupby("trial_id", sort=False)["stopped_early"].first()
    frame["stopped_early"] = frame["trial_id"].map(early).fillna(False).astype(bool)
    frame["best_so_far"] = best_so_far(frame["value"], results.mode)
    order = np.argsort(frame["end_wall_time_s"].fillna(np.inf).to_numpy(), kind="stable")
    by_time = np.empty(len(frame))
    by_time[order] = best_so_far(frame["value"].to_numpy()[order], results.mode)
    frame["best_so_far_by_time"] = by_time
    return frame[
        [
            "trial_index",
            "trial_id",
            "status",
            "value",
            "end_wall_time_s",
            "stopped_early",
            "best_so_far",
            "best_so_far_by_time",
        ]
    ]


def learning_curves(results: Results) -> pd.DataFrame:
    """The metric of every trial at every iteration, with how each trial ended.

    Returns:
        Columns ``trial_id``, ``training_iteration``, ``value`` (the metric), ``status`` and
        ``stopped_early`` (True for a trial that ended without error before the iteration
        budget, :func:`max_iterations`: a scheduler stopped it).
    """
    history = results.history()
    budget = max_iterations(results)
    info = results.trial_info().set_index("trial_id")["status"]
    frame = pd.DataFrame(
        {
            "trial_id": history["trial_id"],
            "training_iteration": history["training_iteration"],
            "value": _metric_values(history, results.metric),
        }
    )
    frame["status"] = frame["trial_id"].map(info)
    last = frame.groupby("trial_id", sort=False)["training_iteration"].transform("max")
    frame["stopped_early"] = (frame["status"] != "ERROR") & (last < budget)
    return frame


def _metric_values(history: pd.DataFrame, metric: str) -> np.ndarray:
    if metric not in history:
        return np.full(len(history), np.nan)
    return pd.to_numeric(history[metric], errors="coerce").to_numpy(dtype=float)


def _ranking_values(trial_ids: pd.Series, values: np.ndarray, results: Results) -> np.ndarray:
    """``values`` kept only where a ranked trial reported its last value (NaN elsewhere)."""
    ranked = results.trials().set_index("trial_id")["value"].astype(float)
    ranked_ids = set(ranked.index[np.isfinite(ranked.to_numpy())])
    reported = ~np.isnan(values)
    rows = pd.Series(np.flatnonzero(reported))
    last = rows.groupby(trial_ids.to_numpy()[reported]).max()
    keep = np.zeros(len(values), dtype=bool)
    keep[[row for trial_id, row in last.items() if trial_id in ranked_ids]] = True
    return np.where(keep, values, np.nan)


def rung_counts(results: Results) -> pd.DataFrame:
    """How many trials reached each rung (successive halving: ASHA, HyperBand, BOHB).

    Rungs are :func:`scheduler_rungs` plus the iteration budget when the scheduler of
    tunefleet.yaml has rungs, else the iteration counts at which trials stopped.

    Returns:
        Columns ``iteration``, ``trials_reached`` and ``fraction`` (of all trials that reported).
    """
    finals = results.history().groupby("trial_id")["training_iteration"].max()
    budget = max_iterations(results)
    declared = scheduler_rungs(results.settings, budget)
    stops = {int(v) for v in finals.dropna()}
    rungs = sorted(stops if declared is None else {*declared, budget})
    reached = [int((finals >= rung).sum()) for rung in rungs]
    total = max(len(finals), 1)
    return pd.DataFrame(
        {"iteration": rungs, "trials_reached": reached, "fraction": [n / total for n in reached]}
    )


def scheduler_rungs(settings: Mapping[str, Any], budget: int) -> list[int] | None:
    """The rungs of the scheduler a saved tunefleet.yaml names, as its plugin computes them.

    None when the scheduler has no rungs, or there is no ``scheduler`` section, or it does
    not validate (a plain Ray Tune directory, a file of another tunefleet version).
    """
    section = settings.get("scheduler")
    if not isinstance(section, dict) or not isinstance(section.get("type"), str):
        return None
    try:
        plugin, options = parse_scheduler_section(section)
    except (KeyError, ValidationError):
        return None
    return plugin.rungs(options, budget)


def anytime_curve(results: Results) -> pd.DataFrame:
    """Every result in the order it was reported, with the best value so far by the ranking's
    scope: with ``scope="all"`` every reported value counts, with ``scope="last"`` only each
    trial's last one (the value that ranks it), when it is reported. The curve then ends at the
    best trial's value as ``analyze`` ranks it.

    Returns:
        Columns ``wall_time_s`` (since the experiment started), ``trial_iterations``
        (results reported so far, all trials), ``trial_seconds`` (training time spent so far,
        all trials), ``trial_id``, ``value`` (NaN where the scope does not count it) and
        ``best_so_far``.
    """
    history = results.history(bookkeeping=True)
    reported_step = history.get("time_this_iter_s")  # Ray's; another writer's results may lack it
    step = None if reported_step is None else pd.to_numeric(reported_step, errors="coerce")
    values = _metric_values(history, results.metric)
    if results.scope == "last":
        values = _ranking_values(history["trial_id"], values, results)
    frame = pd.DataFrame(
        {
            "wall_time_s": history["wall_time_s"].astype(float),
            "trial_id": history["trial_id"],
            "value": values,
            "step_s": np.zeros(len(history)) if step is None else step.fillna(0.0),
        }
    )
    frame = frame.sort_values("wall_time_s", kind="stable").reset_index(drop=True)
    frame["trial_iterations"] = np.arange(1, len(frame) + 1)
    frame["trial_seconds"] = frame["step_s"].cumsum()
    frame["best_so_far"] = best_so_far(frame["value"], results.mode)
    return frame[["wall_time_s", "trial_iterations", "trial_seconds", "trial_id", "value", "best_so_far"]]


class TargetReached(NamedTuple):
    """When a sweep first reported a value at least as good as a target (NaN: never)."""

    wall_time_s: float
    trial_iterations: float
    trial_seconds: float


def time_to_target(curve: pd.DataFrame, target: float, mode: str) -> TargetReached:
    """The first point of an :func:`anytime_curve` whose best so far reaches ``target``.

    Args:
        curve: Columns ``wall_time_s``, ``trial_iterations``, ``trial_seconds`` and
            ``best_so_far``, in reporting order.
        target: The metric value to reach.
        mode: ``"min"`` (reach = at most target) or ``"max"`` (at least target).
    """
    best = curve["best_so_far"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        hits = np.flatnonzero(best <= target if mode == "min" else best >= target)
    if not len(hits):
        return TargetReached(math.nan, math.nan, math.nan)
    first = curve.iloc[int(hits[0])]
    return TargetReached(
        float(first["wall_time_s"]), float(first["trial_iterations"]), float(first["trial_seconds"])
    )
