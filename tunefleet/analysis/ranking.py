"""Each trial at its ranking point, and the trials ranked: ``ExperimentResults.trials()``.

A trial is summarized at one *ranking point*, a single reported result:

* ``scope="last"``: the last result that reported the metric (Ray's ``scope="last"``);
* ``scope="all"``: the result with the best value of the metric over all iterations
  (Ray's ``scope="all"``).

Trials are ranked by the metric's value there. A trial whose value is missing, NaN or
infinite is not ranked (Ray's ``get_best_trial`` skips those too) and sorts last.

A multi-objective sweep (``metric: [val_accuracy, params]``) uses the same rule: the ranking point
is chosen by the first objective (its last result, or its best over all iterations), and every
objective is read at that one result, so each trial is one point its model really reached. An
objective the ranking result lacks (``params`` reported once, at the start) is the latest value the
trial reported before it. Trials are then ranked by Pareto front (non-dominated sorting: the
trials no other trial beats on every objective are front 1, then the front of those left, ...),
and within a front by the first objective. A trial missing an objective is not ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tunefleet.analysis.failures import error_headline
from tunefleet.analysis.interface import CONFIG_PREFIX, Mode, Scope
from tunefleet.analysis.loading import TrialRecord, is_metric_column, ordered_union
from tunefleet.objectives import Objective, non_dominated_sort
from tunefleet.rundir import flatten

__all__ = ["RankedTrial", "metric_column", "rank", "trials_frame"]

# Columns of ExperimentResults.trials() that are not reported metrics. A metric with one of
# these names is shown as reported/<name> instead.
_RESERVED_COLUMNS = frozenset({"trial_id", "status", "diverged", "value", "error", "sweep", "continues"})


@dataclass(frozen=True)
class RankedTrial:
    """One trial at its ranking point (see the module docstring)."""

    record: TrialRecord
    value: float  # NaN when the trial has no rankable value
    metrics: dict[str, Any]  # reported scalar metrics at the ranking point
    values: tuple[float, ...]  # each objective's value there (the first is ``value``); NaN: none
    front: int | None = None  # 1: on the Pareto front (several objectives; None: one, or unranked)

    @property
    def ranked(self) -> bool:
        return all(math.isfinite(v) for v in self.values)


def rank(records: list[TrialRecord], objectives: Sequence[Objective], scope: Scope) -> list[RankedTrial]:
    """Every trial at its ranking point, best first (by front, then by the first objective),
    unranked trials last."""
    ranked = [_at_ranking_point(record, objectives, scope) for record in records]
    if len(objectives) > 1:
        fronts = non_dominated_sort([t.values for t in ranked], objectives)
        number = {i: n for n, front in enumerate(fronts, start=1) for i in front}
        ranked = [replace(t, front=number[i] if t.ranked else None) for i, t in enumerate(ranked)]
    # Stable sort: ties keep ExperimentAnalysis' trial order, so the first trial is the one
    # get_best_trial() returns.
    sign = objectives[0].sign
    ranked.sort(key=lambda t: (0, t.front or 0, sign * t.value) if t.ranked else (1, 0, 0.0))
    return ranked


def metric_column(metric: str) -> str:
    """The column of ``ExperimentResults.trials()`` holding a reported metric."""
    return f"reported/{metric}" if metric in _RESERVED_COLUMNS else metric


def trials_frame(ranked: list[RankedTrial], multi_objective: bool = False) -> pd.DataFrame:
    """The table of ``ExperimentResults.trials()``: one row per ranked trial, in order; with
    ``multi_objective``, the ``pareto`` and ``front`` columns after ``value``."""
    fixed = ["training_iteration", "time_total_s"]
    metric_names = [m for m in ordered_union(t.metrics for t in ranked) if m not in fixed]
    renamed = {m: metric_column(m) for m in metric_names}
    flat_configs = [flatten(t.record.config, CONFIG_PREFIX) for t in ranked]
    rows = []
    for trial, flat_config in zip(ranked, flat_configs, strict=True):
        row: dict[str, Any] = {
            "trial_id": trial.record.trial_id,
            "status": trial.record.status,
            "diverged": trial.record.diverged,
            "value": trial.value,
            "pareto": trial.front == 1,
            "front": trial.front,
            "training_iteration": trial.metrics.get("training_iteration"),
            "time_total_s": trial.metrics.get("time_total_s"),
        }
        row.update({renamed[m]: v for m, v in trial.metrics.items() if m in renamed})
        row.update(flat_config)
        rows.append(row)
    columns = [
        "trial_id",
        "status",
        "diverged",
        "value",
        *(["pareto", "front"] if multi_objective else []),
        *fixed,
        *renamed.values(),
        *ordered_union(flat_configs),
    ]
    if any(t.record.sweep for t in ranked):
        # An extended sweep (tunefleet extend): which sweep ran each trial, which old trial it continued.
        for trial, row in zip(ranked, rows, strict=True):
            row.update(sweep=trial.record.sweep, continues=trial.record.continues or None)
        columns[2:2] = ["sweep", "continues"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["value"] = frame["value"].astype(float)
    if multi_objective:
        frame["pareto"] = frame["pareto"].astype(bool)
        frame["front"] = pd.array(frame["front"], dtype="Int64")
    frame["training_iteration"] = pd.to_numeric(frame["training_iteration"]).astype("Int64")
    frame["time_total_s"] = pd.to_numeric(frame["time_total_s"]).astype(float)
    # object dtype with None: pandas 3 would infer its string dtype (NaN for missing) only
    # when some trial failed.
    errors = [error_headline(t.record.error_text) for t in ranked]
    frame["error"] = pd.Series(errors, dtype=object)
    return frame


def _at_ranking_point(record: TrialRecord, objectives: Sequence[Objective], scope: Scope) -> RankedTrial:
    first = objectives[0]
    position = _ranking_position(record, first.metric, first.mode, scope)
    if position is not None:
        point = {name: values[position] for name, values in record.columns.items()}
        for objective in objectives[1:]:  # reported earlier only: its latest value before
            earlier = record.columns.get(objective.metric)
            if earlier is not None and not math.isfinite(_as_float(point.get(objective.metric))):
                numeric = pd.to_numeric(earlier[: position + 1], errors="coerce").astype(float)
                if (reported := np.flatnonzero(np.isfinite(numeric))).size:
                    point[objective.metric] = earlier[reported[-1]]
    else:
        point = record.state_result
    values = [_as_float(point.get(o.metric)) for o in objectives]
    return RankedTrial(
        record=record,
        value=values[0],
        metrics={k: v for k, v in point.items() if is_metric_column(k) and _is_scalar(v)},
        values=tuple(v if math.isfinite(v) else math.nan for v in values),
    )


def _ranking_position(record: TrialRecord, metric: str, mode: Mode, scope: Scope) -> int | None:
    """Index of the result a trial is ranked by, or None when it has no results."""
    if not record.num_results:
        return None
    position = record.num_results - 1  # the last result
    values = record.columns.get(metric)
    if values is None:
        return position
    reported = np.flatnonzero(pd.notna(values))
    # A NaN report and a result without the metric are both NaN here; only Ray's per-trial
    # statistics tell them apart. A NaN last report makes the trial unranked under "last".
    if len(reported) and not record.last_reported_nan:
        position = int(reported[-1])
    if scope == "all":
        numeric = pd.to_numeric(values, errors="coerce").astype(float)
        finite = np.flatnonzero(np.isfinite(numeric))
        if len(finite):
            pick = np.argmin if mode == "min" else np.argmax
            position = int(finite[pick(numeric[finite])])  # the first of equal bests
    return position


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def _as_float(value: Any) -> float:
    """The metric value as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
