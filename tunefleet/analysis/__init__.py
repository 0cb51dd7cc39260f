"""Experiment analysis: load a Ray Tune experiment directory, summarize it, render it.

Example:
    >>> from rich.console import Console
    >>> from tunefleet.analysis import load_results, render_summary
    >>> results = load_results("runs/mnist-asha", metric="val_loss", mode="min")  # doctest: +SKIP
    >>> render_summary(results.summary(top=5), Console())  # doctest: +SKIP
"""

from __future__ import annotations

from tunefleet.analysis.experiment import ExperimentResults, load_results
from tunefleet.analysis.tables import render_summary, summary_to_csv

__all__ = ["ExperimentResults", "load_results", "render_summary", "summary_to_csv"]
