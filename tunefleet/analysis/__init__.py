"""Experiment analysis: load a Ray Tune experiment directory, summarize it, plot it, report it.

Data functions return DataFrames (or NamedTuples); :mod:`tunefleet.analysis.plots` draws them
and :mod:`tunefleet.analysis.report` assembles the HTML report.

Example:
    >>> from tunefleet.analysis import load_results, render_summary
    >>> from tunefleet.console import make_console
    >>> results = load_results("runs/mnist-asha", metric="val_loss", mode="min")  # doctest: +SKIP
    >>> render_summary(results.summary(top=5), make_console())  # doctest: +SKIP
    >>> results.importance()  # doctest: +SKIP
"""

from __future__ import annotations

from tunefleet.analysis.compare import compare
from tunefleet.analysis.compute import ComputeAccounting, compute_accounting
from tunefleet.analysis.curves import (
    TargetReached,
    anytime_curve,
    learning_curves,
    optimization_history,
    rung_counts,
    time_to_target,
)
from tunefleet.analysis.experiment import ExperimentResults, load_results
from tunefleet.analysis.hyperparams import hyperparameters
from tunefleet.analysis.importance import importance, marginal_effects
from tunefleet.analysis.pbt import lineage, schedule
from tunefleet.analysis.report import build_report, write_report
from tunefleet.analysis.tables import render_summary, summary_to_csv

__all__ = [
    "ComputeAccounting",
    "ExperimentResults",
    "TargetReached",
    "anytime_curve",
    "build_report",
    "compare",
    "compute_accounting",
    "hyperparameters",
    "importance",
    "learning_curves",
    "lineage",
    "load_results",
    "marginal_effects",
    "optimization_history",
    "render_summary",
    "rung_counts",
    "schedule",
    "summary_to_csv",
    "time_to_target",
    "write_report",
]
