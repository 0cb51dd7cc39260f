"""Several sweeps side by side on one metric: best value, compute used, time to a target.

Example:
    >>> sweeps = [load_results(d, metric="val_loss", mode="min") for d in ("runs/random", "runs/asha")]
    >>> compare(sweeps, target=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from tunefleet.analysis.compute import compute_accounting
from tunefleet.analysis.curves import anytime_curve, time_to_target
from tunefleet.console import plural
from tunefleet.errors import TunefleetError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tunefleet.analysis.interface import Results

__all__ = ["compare", "compare_figure", "compare_html"]


def compare(sweeps: Sequence[Results], target: float | None = None) -> pd.DataFrame:
    """One row per sweep.

    Args:
        sweeps: Experiments ranked on the same metric and mode.
        target: A metric value; adds when each sweep first reached it.

    Returns:
        Columns ``name``, ``path``, ``num_trials`` (every trial, reported or not), ``best`` and
        ``best_trial`` (the best trial as each sweep's scope ranks it, as ``analyze`` does: by its
        last value, or by its best over all iterations), ``wall_time_s``, ``trial_iterations``,
        ``trial_seconds``, and with a target ``target_wall_time_s``, ``target_trial_iterations`` and
        ``target_trial_seconds`` (when the best so far, by the same scope, first reached it;
        NaN: never).

    Raises:
        TunefleetError: the sweeps disagree on metric or mode, or none is given.
    """
    _check_same_objective(sweeps)
    rows = []
    for results in sweeps:
        curve = anytime_curve(results)
        accounting = compute_accounting(results)
        finite = curve.dropna(subset=["value"])
        best_index = (
            (finite["value"].idxmin() if results.mode == "min" else finite["value"].idxmax())
            if len(finite)
            else None
        )
        row = {
            "name": results.name,
            "path": str(results.path),
            "num_trials": len(results.trial_info()),  # every trial, as analyze counts them
            "best": float(finite.loc[best_index, "value"]) if best_index is not None else float("nan"),
            "best_trial": finite.loc[best_index, "trial_id"] if best_index is not None else None,
            "wall_time_s": accounting.wall_time_s,
            "trial_iterations": accounting.trial_iterations,
            "trial_seconds": accounting.trial_seconds,
        }
        if target is not None:
            reached = time_to_target(curve, target, results.mode)
            row.update(
                target_wall_time_s=reached.wall_time_s,
                target_trial_iterations=reached.trial_iterations,
                target_trial_seconds=reached.trial_seconds,
            )
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def compare_figure(sweeps: Sequence[Results], x: str, target: float | None = None) -> Figure:
    """Best so far of every sweep on one axis (see :func:`tunefleet.analysis.plots.plot_compare`)."""
    from tunefleet.analysis.plots import plot_compare

    _check_same_objective(sweeps)
    curves = {_label(r, sweeps): anytime_curve(r) for r in sweeps}
    return plot_compare(curves, sweeps[0].metric, sweeps[0].mode, x, target)


def compare_html(sweeps: Sequence[Results], x: str, target: float | None = None) -> str:
    """A self-contained HTML page: the comparison table and the best-so-far figure."""
    from tunefleet.analysis.report import figure_to_img

    table = compare(sweeps, target).drop(columns=["path"])
    image = figure_to_img(compare_figure(sweeps, x, target), "best so far")
    metric = html.escape(sweeps[0].metric)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>tunefleet compare</title>'
        "<style>body{font-family:sans-serif;max-width:1000px;margin:24px auto}table{border-collapse:collapse}"
        "td,th{padding:4px 10px;border-bottom:1px solid #eee}</style></head><body>"
        f"<h1>{plural(len(sweeps), 'sweep')} on {metric} ({sweeps[0].mode})</h1>"
        + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="never")
        + f"{image}</body></html>\n"
    )


def _check_same_objective(sweeps: Sequence[Results]) -> None:
    if not sweeps:
        raise TunefleetError("compare needs at least one experiment directory")
    objectives = {(r.metric, r.mode) for r in sweeps}
    if len(objectives) > 1:
        listed = ", ".join(f"{r.path}: {r.metric} ({r.mode})" for r in sweeps)
        raise TunefleetError(
            f"the experiments rank by different metrics or modes ({listed}); pass --metric and --mode"
        )


def _label(results: Results, sweeps: Sequence[Results]) -> str:
    """The sweep's name, or its path when two sweeps share a name."""
    names = [r.name for r in sweeps]
    return results.name if names.count(results.name) == 1 else str(results.path)
