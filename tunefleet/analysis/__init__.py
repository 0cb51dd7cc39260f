"""Experiment analysis: load a Ray Tune experiment directory, summarize it, plot it, report it.

Data flows one way, and no module imports one that imports it back (tests/analysis/
test_import_graph.py checks it):

* ``files`` reads Ray's files into plain records; ``loading`` turns them into the results
  frame and one record per trial; ``ranking`` puts each trial at its ranking point;
  ``failures`` reads error.txt; ``export`` makes the JSON summary, CSV and Parquet;
* ``results`` is the facade, :class:`ExperimentResults` and :func:`load_results`, composing
  the above; nothing else in the package imports it;
* ``hyperparams``, ``importance``, ``curves``, ``compute``, ``pbt``, ``pareto`` and ``compare`` compute
  DataFrames (or NamedTuples) from any :class:`~tunefleet.analysis.interface.Results`;
  :mod:`tunefleet.analysis.plots` draws them, :mod:`tunefleet.analysis.tables` prints them and
  :mod:`tunefleet.analysis.report` assembles the HTML report.

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
from tunefleet.analysis.export import summary_to_csv
from tunefleet.analysis.hyperparams import hyperparameters
from tunefleet.analysis.importance import importance, marginal_effects
from tunefleet.analysis.pareto import front_staircase, hypervolume_history, pareto_points
from tunefleet.analysis.pbt import lineage, schedule
from tunefleet.analysis.report import build_report, write_report
from tunefleet.analysis.results import ExperimentResults, load_results
from tunefleet.analysis.tables import render_summary

__all__ = [
    "ComputeAccounting",
    "ExperimentResults",
    "TargetReached",
    "anytime_curve",
    "build_report",
    "compare",
    "compute_accounting",
    "front_staircase",
    "hyperparameters",
    "hypervolume_history",
    "importance",
    "learning_curves",
    "lineage",
    "load_results",
    "marginal_effects",
    "optimization_history",
    "pareto_points",
    "render_summary",
    "rung_counts",
    "schedule",
    "summary_to_csv",
    "time_to_target",
    "write_report",
]
