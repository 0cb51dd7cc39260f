"""The experiment as data for other programs: the JSON summary, the trials as CSV or Parquet.

:func:`build_summary` is ``ExperimentResults.summary()`` (what ``analyze --format json``
prints, and what the terminal tables draw); :func:`summary_to_csv` and
:func:`trials_to_parquet` are ``analyze --format csv/parquet``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from tunefleet.analysis.loading import TrialRecord
from tunefleet.analysis.pareto import sweep_hypervolume
from tunefleet.analysis.ranking import RankedTrial
from tunefleet.rundir import TUNER_PKL

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = ["build_summary", "held_out_metrics", "jsonable", "summary_to_csv", "trials_to_parquet"]

_STATUS_ORDER = ("TERMINATED", "ERROR", "RUNNING", "PAUSED", "PENDING")


def build_summary(
    results: Results, records: list[TrialRecord], ranked: list[RankedTrial], top: int
) -> dict[str, Any]:
    """The dict of :meth:`ExperimentResults.summary <tunefleet.analysis.results.ExperimentResults.summary>`
    (documented there), from the records and the ranking it computed."""
    best = [t for t in ranked if t.ranked]
    statuses = Counter(r.status for r in records)
    unfinished = sum(r.unfinished for r in records)
    resumable = unfinished > 0 and bool(results.settings) and (results.path / TUNER_PKL).is_file()
    errors = results.errors()
    multi = len(results.objectives) > 1
    summary: dict[str, Any] = {
        "experiment": {"path": str(results.path), "name": results.name},
        "metric": results.metric,
        "mode": results.mode,
        "scope": results.scope,
        "num_trials": len(records),
        "num_errors": statuses.get("ERROR", 0),
        "num_diverged": sum(r.diverged for r in records),
        "num_unfinished": unfinished,
        "resume_command": _resume_command(results.path) if resumable else None,
        "status_counts": {s: statuses[s] for s in _sort_statuses(statuses)},
        "best": _trial_object(best[0], multi) if best else None,
        "top": [_trial_object(t, multi) for t in best[:top]],
        "test_metrics": held_out_metrics(best[0].metrics) if best else {},
        "errors": [
            {
                "trial_id": row.trial_id,
                "status": row.status,
                "error": row.error,
                "traceback": row.traceback,
                "output": row.output,
            }
            for row in errors.itertuples(index=False)
        ],
        "selection": results.selection(),
    }
    if multi:
        summary = _with_pareto_front(summary, results, best)
    return cast("dict[str, Any]", jsonable(summary))


def _with_pareto_front(
    summary: dict[str, Any], results: Results, ranked: list[RankedTrial]
) -> dict[str, Any]:
    """``summary`` with ``objectives`` after ``mode``, ``pareto_front`` and ``hypervolume`` after
    ``top`` (``ranked``: the ranked trials, best first)."""
    metrics = [o.metric for o in results.objectives]
    front = [
        {
            "trial_id": t.record.trial_id,
            "values": dict(zip(metrics, t.values, strict=True)),
            "config": t.record.config,
            "training_iteration": t.metrics.get("training_iteration"),
            "status": t.record.status,
        }
        for t in ranked
        if t.front == 1
    ]
    volume = sweep_hypervolume([t.values for t in ranked], results.objectives)
    reference = dict(zip(metrics, volume.reference, strict=True)) if volume.reference else None
    added: dict[str, dict[str, Any]] = {
        "mode": {"objectives": [{"metric": o.metric, "mode": o.mode} for o in results.objectives]},
        "top": {"pareto_front": front, "hypervolume": {"value": volume.value, "reference": reference}},
    }
    out: dict[str, Any] = {}
    for key, value in summary.items():
        out[key] = value
        out.update(added.get(key, {}))
    return out


def held_out_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics measured on the test set: names starting with ``test`` or ending with ``_test``."""
    return {k: v for k, v in metrics.items() if k.lower().startswith("test") or k.lower().endswith("_test")}


def summary_to_csv(results: Results) -> str:
    """The :meth:`~tunefleet.analysis.results.ExperimentResults.trials` table as CSV text."""
    return str(results.trials().to_csv(index=False))


def trials_to_parquet(results: Results) -> bytes:
    """The :meth:`~tunefleet.analysis.results.ExperimentResults.trials` table as Parquet bytes.

    Config columns that mix types (a conditional hyperparameter: None or a number, or
    lists) are stored as their JSON text, since a Parquet column has one type.
    """
    trials = results.trials()
    for column in trials.columns[trials.dtypes.map(lambda d: d.kind == "O")]:
        kinds = {type(v) for v in trials[column] if v is not None}
        if len(kinds) > 1 or kinds & {list, dict, tuple}:
            trials[column] = [None if v is None else json.dumps(v, default=str) for v in trials[column]]
    buffer = io.BytesIO()
    trials.to_parquet(buffer, index=False)
    return buffer.getvalue()


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy/pandas scalars unwrapped, NaN/inf/NA -> None, else str()."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _trial_object(trial: RankedTrial, multi_objective: bool) -> dict[str, Any]:
    """A trial as it appears under ``best`` and ``top`` of the summary."""
    front = {"front": trial.front} if multi_objective else {}
    return {
        "trial_id": trial.record.trial_id,
        "config": trial.record.config,
        "value": trial.value,
        "metrics": trial.metrics,
        "training_iteration": trial.metrics.get("training_iteration"),
        "time_total_s": trial.metrics.get("time_total_s"),
        "status": trial.record.status,
        "diverged": trial.record.diverged,
        **front,
        # An extended sweep (tunefleet extend): the sweep that ran the trial, the trial it continued.
        **(
            {"sweep": trial.record.sweep, "continues": trial.record.continues or None}
            if trial.record.sweep
            else {}
        ),
    }


def _sort_statuses(statuses: Iterable[str]) -> list[str]:
    known = {s: i for i, s in enumerate(_STATUS_ORDER)}
    return sorted(statuses, key=lambda s: (known.get(s, len(known)), s))


def _resume_command(path: Path) -> str:
    from tunefleet.rundir import resume_command

    return resume_command(path)
