"""Compute accounting: what a sweep used, what it saved by stopping trials early, where it ran.

Example:
    >>> accounting = compute_accounting(load_results("runs/quickstart"))  # doctest: +SKIP
    >>> accounting.trial_iterations, accounting.full_trial_iterations  # doctest: +SKIP
    (196, 600)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from tunefleet.analysis.curves import max_iterations

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = ["ComputeAccounting", "compute_accounting"]


class ComputeAccounting(NamedTuple):
    """What the trials of one experiment used.

    Attributes:
        num_trials: Trials that reported at least one result.
        trial_iterations: Training iterations run, summed over trials.
        trial_seconds: Training time, summed over trials (``time_total_s`` at each one's end).
        max_iterations: The iteration budget per trial.
        full_trial_iterations: Iterations had every trial run to ``max_iterations``.
        full_trial_seconds: Its estimated time: each trial's mean seconds per iteration times
            ``max_iterations``.
        wall_time_s: From the experiment's start to its last result.
        cpus_per_trial: From tunefleet.yaml ``resources``; None when not recorded.
        gpus_per_trial: Likewise.
        nodes: One row per node: ``hostname``, ``node_ip``, ``trials``, ``trial_iterations``,
            ``trial_seconds``.
    """

    num_trials: int
    trial_iterations: int
    trial_seconds: float
    max_iterations: int
    full_trial_iterations: int
    full_trial_seconds: float
    wall_time_s: float
    cpus_per_trial: float | None
    gpus_per_trial: float | None
    nodes: pd.DataFrame

    @property
    def saved_fraction(self) -> float:
        """Share of the no-early-stopping trial-seconds that the sweep did not spend."""
        if not self.full_trial_seconds:
            return 0.0
        return max(0.0, 1.0 - self.trial_seconds / self.full_trial_seconds)


def compute_accounting(results: Results) -> ComputeAccounting:
    """Sum up the compute of an experiment (see :class:`ComputeAccounting`)."""
    history = results.history(bookkeeping=True)
    per_trial = history.groupby("trial_id", sort=False).agg(
        iterations=("training_iteration", "max"), seconds=("time_total_s", "max")
    )
    per_trial = per_trial.astype(float).fillna(0.0)
    budget = max_iterations(results)
    per_iteration = per_trial["seconds"] / per_trial["iterations"].where(per_trial["iterations"] > 0)
    full_iterations = np.maximum(per_trial["iterations"], budget)
    resources = results.settings.get("resources")
    resources = resources if isinstance(resources, dict) else {}
    return ComputeAccounting(
        num_trials=len(per_trial),
        trial_iterations=int(per_trial["iterations"].sum()),
        trial_seconds=float(per_trial["seconds"].sum()),
        max_iterations=budget,
        full_trial_iterations=int(full_iterations.sum()),
        full_trial_seconds=float((per_iteration.fillna(0.0) * full_iterations).sum()),
        wall_time_s=float(history["wall_time_s"].max()) if len(history) else 0.0,
        cpus_per_trial=_number(resources.get("cpu", 1 if results.settings else None)),
        gpus_per_trial=_number(resources.get("gpu", 0 if results.settings else None)),
        nodes=_nodes(history),
    )


def _nodes(history: pd.DataFrame) -> pd.DataFrame:
    columns = ["hostname", "node_ip", "trials", "trial_iterations", "trial_seconds"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    frame = history.assign(
        hostname=history.get("hostname", "unknown"),
        node_ip=history.get("node_ip", "unknown"),
        step=pd.to_numeric(history.get("time_this_iter_s", 0.0), errors="coerce"),
    ).fillna({"hostname": "unknown", "node_ip": "unknown", "step": 0.0})
    grouped = frame.groupby(["hostname", "node_ip"], sort=True)
    nodes = grouped.agg(
        trials=("trial_id", "nunique"), trial_iterations=("trial_id", "size"), trial_seconds=("step", "sum")
    ).reset_index()
    return nodes[columns]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
