"""Several sweeps side by side on one metric: best value, compute used, time to a target.

Multi-objective sweeps (the same objectives in every sweep) also get each sweep's hypervolume,
all against one reference point: by default, for each objective, the worst value any trial of any
of the sweeps had (each trial at its ranking point, as ``analyze`` reads it); or one given. One
point for all, so that the numbers compare; a sweep's own ``analyze`` measures from its own worst
values, so its number differs.

Example:
    >>> sweeps = [load_results(d, metric="val_loss", mode="min") for d in ("runs/random", "runs/asha")]
    >>> compare(sweeps, target=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tunefleet.analysis.compute import compute_accounting
from tunefleet.analysis.curves import anytime_curve, time_to_target
from tunefleet.analysis.pareto import pareto_points, point_text, sweep_hypervolume, worst_point
from tunefleet.console import plural
from tunefleet.errors import TunefleetError
from tunefleet.objectives import Objective

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tunefleet.analysis.interface import Results

__all__ = ["common_reference", "compare", "compare_figure", "compare_html", "reference_note"]


def compare(
    sweeps: Sequence[Results], target: float | None = None, reference: Sequence[float] | None = None
) -> pd.DataFrame:
    """One row per sweep.

    Args:
        sweeps: Experiments ranked on the same metric and mode (the same objectives).
        target: A metric value; adds when each sweep first reached it.
        reference: Multi-objective sweeps: the hypervolume's reference point, a value per
            objective (default :func:`common_reference`).

    Returns:
        Columns ``name``, ``path``, ``num_trials`` (every trial, reported or not), ``best`` and
        ``best_trial`` (the best trial as each sweep's scope ranks it, as ``analyze`` does: by its
        last value, or by its best over all iterations), ``wall_time_s``, ``trial_iterations``,
        ``trial_seconds``, and with a target ``target_wall_time_s``, ``target_trial_iterations`` and
        ``target_trial_seconds`` (when the best so far, by the same scope, first reached it;
        NaN: never). Multi-objective sweeps add ``hypervolume`` (of each sweep's trials) and
        ``hypervolume_reference`` (objective -> the reference point's value, the same in every
        row); ``best`` is then the best value of the first objective.

    Raises:
        TunefleetError: the sweeps disagree on the objectives, none is given, or ``reference`` is
            given for single-objective sweeps or has not one value per objective.
    """
    _check_same_objective(sweeps)
    objectives = sweeps[0].objectives
    if reference is not None and len(objectives) == 1:
        raise TunefleetError("a hypervolume reference point applies to multi-objective sweeps only")
    if reference is not None and len(reference) != len(objectives):
        raise TunefleetError(
            f"the reference point needs one value per objective ({_objectives_text(objectives)}); "
            f"got {len(reference)}"
        )
    point = tuple(reference) if reference is not None else common_reference(sweeps)
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
        if len(objectives) > 1:
            volume = sweep_hypervolume(_objective_values(results), objectives, point) if point else None
            row.update(
                hypervolume=volume.value if volume and volume.value is not None else float("nan"),
                hypervolume_reference=dict(zip([o.metric for o in objectives], point, strict=True))
                if point
                else None,
            )
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def common_reference(sweeps: Sequence[Results]) -> tuple[float, ...] | None:
    """For each objective, the worst value any trial of any of the sweeps had (None when no trial
    has every objective)."""
    objectives = sweeps[0].objectives
    return worst_point(np.vstack([_objective_values(r) for r in sweeps]), objectives)


def reference_note(objectives: Sequence[Objective], reference: dict[str, float] | None, given: bool) -> str:
    """The sentence saying which reference point the hypervolumes are measured from."""
    if reference is None:
        return "Hypervolume: no trial has every objective."
    point = point_text(objectives, [reference[o.metric] for o in objectives])
    rule = (
        "given by --reference" if given else "the worst value of each objective over all the sweeps' trials"
    )
    return f"Hypervolume against {point}: {rule}."


def _objective_values(results: Results) -> np.ndarray:
    """One row per trial, one column per objective, at the trials' ranking points."""
    return pareto_points(results)[[o.metric for o in results.objectives]].to_numpy(dtype=float)


def compare_figure(sweeps: Sequence[Results], x: str, target: float | None = None) -> Figure:
    """Best so far of every sweep on one axis (see :func:`tunefleet.analysis.plots.plot_compare`)."""
    from tunefleet.analysis.plots import plot_compare

    _check_same_objective(sweeps)
    curves = {_label(r, sweeps): anytime_curve(r) for r in sweeps}
    return plot_compare(curves, sweeps[0].metric, sweeps[0].mode, x, target)


def compare_html(
    sweeps: Sequence[Results], x: str, target: float | None = None, reference: Sequence[float] | None = None
) -> str:
    """A self-contained HTML page: the comparison table (with each sweep's hypervolume and the
    reference point, for multi-objective sweeps) and the best-so-far figure."""
    from tunefleet.analysis.report import figure_to_img

    table = compare(sweeps, target, reference).drop(columns=["path"])
    note = ""
    if "hypervolume" in table:
        point = table.pop("hypervolume_reference").iloc[0]
        note = f"<p>{html.escape(reference_note(sweeps[0].objectives, point, reference is not None))}</p>"
    image = figure_to_img(compare_figure(sweeps, x, target), "best so far")
    metric = html.escape(_objectives_text(sweeps[0].objectives))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>tunefleet compare</title>'
        "<style>body{font-family:sans-serif;max-width:1000px;margin:24px auto}table{border-collapse:collapse}"
        "td,th{padding:4px 10px;border-bottom:1px solid #eee}</style></head><body>"
        f"<h1>{plural(len(sweeps), 'sweep')} on {metric}</h1>"
        + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="never")
        + f"{note}{image}</body></html>\n"
    )


def _objectives_text(objectives: Sequence[Objective]) -> str:
    """``val_accuracy (max), params (min)``."""
    return ", ".join(f"{o.metric} ({o.mode})" for o in objectives)


def _check_same_objective(sweeps: Sequence[Results]) -> None:
    if not sweeps:
        raise TunefleetError("compare needs at least one experiment directory")
    if len({r.objectives for r in sweeps}) > 1:
        listed = ", ".join(f"{r.path}: {_objectives_text(r.objectives)}" for r in sweeps)
        raise TunefleetError(
            f"the experiments rank by different metrics or modes ({listed}); pass --metric and --mode"
        )


def _label(results: Results, sweeps: Sequence[Results]) -> str:
    """The sweep's name, or its path when two sweeps share a name."""
    names = [r.name for r in sweeps]
    return results.name if names.count(results.name) == 1 else str(results.path)
