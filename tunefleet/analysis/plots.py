"""Draw the analysis data: every function takes DataFrames and returns a matplotlib Figure.

The data comes from :mod:`tunefleet.analysis.curves`, :mod:`~tunefleet.analysis.importance`,
:mod:`~tunefleet.analysis.compute`, :mod:`~tunefleet.analysis.pbt` and
:mod:`~tunefleet.analysis.pareto`; nothing here reads
files. One idea per figure, stated in its title; axes say their units.

Example:
    >>> from tunefleet.analysis.curves import optimization_history
    >>> fig = plot_optimization_history(optimization_history(results), "val_loss", "min")  # doctest: +SKIP
    >>> fig.savefig("history.png")  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tunefleet.analysis.hyperparams import categories, encode
from tunefleet.console import plural

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tunefleet.analysis.compute import ComputeAccounting
    from tunefleet.objectives import Objective

__all__ = [
    "plot_compare",
    "plot_compute",
    "plot_hypervolume_history",
    "plot_importance",
    "plot_learning_curves",
    "plot_lineage",
    "plot_marginal_effects",
    "plot_optimization_history",
    "plot_parallel_coordinates",
    "plot_pareto_front",
    "plot_rungs",
    "plot_schedule",
]

BEST = "#d62728"  # the best trial / best-so-far line, in every figure
DONE = "#1f77b4"  # trials that ran their whole budget
STOPPED = "#9e9e9e"  # trials a scheduler stopped early
FAILED = "#ff7f0e"
_STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "figure.dpi": 100,
}


def _figure(ncols: int = 1, nrows: int = 1, width: float = 9.0, height: float = 3.6) -> tuple[Figure, Any]:
    # A Figure of its own, not pyplot's: the caller's backend and pyplot's figures are left alone
    # (a notebook keeps drawing inline and shows these with display(); nothing needs plt.close),
    # and savefig needs no display.
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        _apply_style(ax)
    return fig, axes


def _apply_style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=9)


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, fontweight="bold", fontsize=11)


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}"


def _better(mode: str) -> str:
    return "lower is better" if mode == "min" else "higher is better"


def _duration_unit(seconds: pd.Series | np.ndarray) -> tuple[float, str]:
    """Divisor and unit name so that the axis reads in s, min or h."""
    longest = float(np.nanmax(seconds)) if len(seconds) and np.isfinite(seconds).any() else 0.0
    if longest > 3 * 3600:
        return 3600.0, "h"
    if longest > 180:
        return 60.0, "min"
    return 1.0, "s"


def plot_optimization_history(history: pd.DataFrame, metric: str, mode: str) -> Figure:
    """Each trial's value over wall time and over trial index, with the best so far.

    Args:
        history: :func:`tunefleet.analysis.curves.optimization_history`.
        metric: The metric's name (axis label).
        mode: ``"min"`` or ``"max"``.
    """
    fig, axes = _figure(ncols=2)
    ranked = history[np.isfinite(history["value"])]
    scale, unit = _duration_unit(history["end_wall_time_s"].to_numpy(dtype=float))
    by_time = ranked.sort_values("end_wall_time_s")
    for ax, x, best, order, label in (
        (
            axes[0, 0],
            by_time["end_wall_time_s"] / scale,
            by_time["best_so_far_by_time"],
            by_time,
            f"wall time since start ({unit})",
        ),
        (axes[0, 1], ranked["trial_index"], ranked["best_so_far"], ranked, "trial (in order started)"),
    ):
        early = order["stopped_early"].to_numpy(dtype=bool)
        ax.scatter(
            x[~early],
            order["value"][~early],
            s=20,
            color=DONE,
            alpha=0.8,
            label="trial, whole budget",
            zorder=2,
        )
        ax.scatter(
            x[early],
            order["value"][early],
            s=20,
            color=STOPPED,
            alpha=0.8,
            label="trial, stopped early",
            zorder=2,
        )
        ax.step(x, best, where="post", color=BEST, linewidth=2, label="best so far", zorder=3)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} ({_better(mode)})")
    axes[0, 0].legend(loc="best", fontsize=9)
    _integer_ticks(axes[0, 1].xaxis)
    if len(ranked):
        best_row = ranked.loc[ranked["best_so_far"].index[-1]]
        final = best_row["best_so_far"]
        when = by_time.loc[by_time["value"] == final, "end_wall_time_s"].min() / scale
        title = (
            f"Best {metric} {_fmt(final)}, found after {when:.3g} {unit} (of {plural(len(history), 'trial')})"
        )
    else:
        title = f"No trial reported a finite {metric}"
    fig.suptitle(title, fontweight="bold")
    return fig


def plot_learning_curves(curves: pd.DataFrame, metric: str, mode: str, best_trial: str | None) -> Figure:
    """The metric of every trial over training iterations; stopped-early trials in grey.

    Args:
        curves: :func:`tunefleet.analysis.curves.learning_curves`.
        metric: The metric's name.
        mode: ``"min"`` or ``"max"``.
        best_trial: Drawn on top, in red.
    """
    fig, axes = _figure(height=4.2)
    ax = axes[0, 0]
    many = curves["trial_id"].nunique() > 200  # thin, faint lines when there are many
    counts = {"stopped": 0, "done": 0, "failed": 0}
    for trial_id, rows in curves.groupby("trial_id", sort=False):
        if trial_id == best_trial:
            continue
        if (rows["status"] == "ERROR").any():
            kind, color, style = "failed", FAILED, "--"
        elif rows["stopped_early"].iloc[0]:
            kind, color, style = "stopped", STOPPED, "-"
        else:
            kind, color, style = "done", DONE, "-"
        label = (
            None
            if counts[kind]
            else {
                "stopped": "stopped early by the scheduler",
                "done": "ran the whole budget",
                "failed": "failed",
            }[kind]
        )
        counts[kind] += 1
        ax.plot(
            rows["training_iteration"],
            rows["value"],
            style,
            color=color,
            linewidth=0.6 if many else 1.1,
            alpha=0.25 if many else 0.7,
            label=label,
        )
        if kind == "stopped" and not many:
            ax.plot(
                rows["training_iteration"].iloc[-1:], rows["value"].iloc[-1:], "x", color=color, markersize=5
            )
    if best_trial is not None:
        rows = curves[curves["trial_id"] == best_trial]
        ax.plot(
            rows["training_iteration"], rows["value"], color=BEST, linewidth=2.4, label=f"best ({best_trial})"
        )
    ax.set_xlabel("training iteration")
    ax.set_ylabel(f"{metric} ({_better(mode)})")
    ax.legend(loc="best", fontsize=9)
    total = curves["trial_id"].nunique()
    _title(
        ax,
        f"Learning curves: {counts['stopped']} of {plural(total, 'trial')} stopped early (grey, x: where)",
    )
    return fig


def plot_importance(importance: pd.DataFrame, metric: str) -> Figure:
    """Horizontal bars of permutation importance, most important on top."""
    height = 1.2 + 0.38 * max(len(importance), 1)
    fig, axes = _figure(width=7.5, height=height)
    ax = axes[0, 0]
    frame = importance.iloc[::-1]
    labels = [f"{n} ({s})" for n, s in zip(frame["name"], frame["scale"], strict=True)]
    ax.barh(labels, frame["importance"], xerr=frame["std"], color=DONE, alpha=0.85, capsize=3)
    for y, (value, error, share) in enumerate(
        zip(frame["importance"], frame["std"].fillna(0.0), frame["share"], strict=True)
    ):
        ax.text(max(value + error, 0), y, f"  {share:.0%}", va="center", fontsize=9)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"permutation importance: drop in the out-of-bag R² of a forest predicting {metric}")
    ax.grid(axis="y", visible=False)
    if len(importance):
        top = importance.iloc[0]
        _title(
            ax,
            f"{top['name']} matters most: {top['share']:.0%} of the explained variation "
            f"({plural(int(top['num_trials']), 'trial')})",
        )
    return fig


def plot_marginal_effects(effects: pd.DataFrame, metric: str, mode: str, best_trial: str | None) -> Figure:
    """One small plot per hyperparameter: each trial's metric against its value."""
    names = list(dict.fromkeys(effects["name"]))
    ncols = min(3, max(len(names), 1))
    nrows = max(math.ceil(len(names) / ncols), 1)
    fig, axes = _figure(ncols=ncols, nrows=nrows, width=3.3 * ncols, height=2.7 * nrows)
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    cmap = colormaps["viridis"]
    most = effects["training_iteration"].astype(float).max() if len(effects) else 1.0
    for ax, name in zip(axes.flat, names, strict=False):
        rows = effects[effects["name"] == name]
        scale = rows["scale"].iloc[0]
        colors = cmap(rows["training_iteration"].astype(float).fillna(0).to_numpy() / (most or 1.0))
        if scale == "categorical":
            labels = categories(rows["value"])
            jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(rows))
            x = encode(rows["value"], scale).to_numpy(dtype=float) + jitter
            ax.set_xticks(range(len(labels)), [str(v) for v in labels], rotation=20 if len(labels) > 3 else 0)
        else:
            x = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
            if scale == "log":
                ax.set_xscale("log")
        ax.scatter(x, rows["metric"], c=colors, s=22, alpha=0.85, edgecolors="none")
        best = rows["trial_id"] == best_trial
        if best.any():
            ax.scatter(x[best.to_numpy()], rows["metric"][best], marker="*", s=160, color=BEST, zorder=3)
        ax.set_xlabel(f"{name}" + (" (log scale)" if scale == "log" else ""))
        ax.set_ylabel(metric)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    from matplotlib.colors import Normalize

    fig.colorbar(
        ScalarMappable(norm=Normalize(0, most or 1.0), cmap=cmap),
        ax=list(axes.flat),
        label="iterations trained",
        shrink=0.8,
    )
    fig.suptitle(f"{metric} by hyperparameter ({_better(mode)}; star: best trial)", fontweight="bold")
    return fig


def plot_parallel_coordinates(trials: pd.DataFrame, params: pd.DataFrame, metric: str, mode: str) -> Figure:
    """One line per trial across the hyperparameter axes, coloured by its metric value.

    Args:
        trials: :meth:`ExperimentResults.trials` (``value`` and ``config/...`` columns).
        params: :func:`tunefleet.analysis.hyperparams.hyperparameters`.
        metric: The metric's name.
        mode: ``"min"`` or ``"max"``; the best trials are drawn last (on top).
    """
    ranked = trials[np.isfinite(trials["value"])]
    ranked = ranked.sort_values("value", ascending=(mode == "max"))  # best drawn last
    axes_data: list[tuple[str, np.ndarray, list[tuple[float, str]]]] = []
    for param in params.itertuples(index=False):
        encoded = encode(ranked[param.column], param.scale).to_numpy(dtype=float)
        low, high = np.nanmin(encoded) if len(encoded) else 0.0, np.nanmax(encoded) if len(encoded) else 1.0
        span = (high - low) or 1.0
        ticks: list[tuple[float, str]]
        if param.scale == "categorical":
            labels = categories(ranked[param.column])
            ticks = [((i - low) / span, str(label)) for i, label in enumerate(labels)]
        elif param.scale == "log":
            ticks = [(0.0, _fmt(10**low)), (1.0, _fmt(10**high))]
        else:
            ticks = [(0.0, _fmt(low)), (1.0, _fmt(high))]
        axes_data.append((param.name, (encoded - low) / span, ticks))
    values = ranked["value"].to_numpy(dtype=float)
    value_low, value_high = (values.min(), values.max()) if len(values) else (0.0, 1.0)
    axes_data.append(
        (
            metric,
            (values - value_low) / ((value_high - value_low) or 1.0),
            [(0.0, _fmt(value_low)), (1.0, _fmt(value_high))],
        )
    )

    fig, axs = _figure(width=max(6.0, 1.6 * len(axes_data)), height=4.0)
    ax = axs[0, 0]
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap = colormaps["viridis" if mode == "max" else "viridis_r"]
    norm = Normalize(value_low, value_high)
    matrix = np.column_stack([data for _, data, _ in axes_data]) if axes_data else np.empty((0, 0))
    xs = np.arange(len(axes_data))
    for row, value in zip(matrix, values, strict=True):
        ax.plot(xs, row, color=cmap(norm(value)), alpha=0.75, linewidth=1.2)
    for x, (_, _, ticks) in zip(xs, axes_data, strict=True):
        ax.axvline(x, color="black", linewidth=0.8)
        for y, label in ticks:
            ax.text(x + 0.04, y, label, fontsize=8, va="center")
    ax.set_xticks(xs, [name for name, _, _ in axes_data])
    ax.set_yticks([])
    ax.grid(False)
    ax.spines[["left", "bottom"]].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"{metric} ({_better(mode)})")
    _title(ax, f"Hyperparameters of every trial, coloured by {metric} (log axes scaled as log10)")
    return fig


def plot_rungs(rungs: pd.DataFrame) -> Figure:
    """Bars: how many trials reached each rung of successive halving."""
    fig, axes = _figure(width=6.5, height=3.2)
    ax = axes[0, 0]
    labels = [str(int(i)) for i in rungs["iteration"]]
    bars = ax.bar(labels, rungs["trials_reached"], color=DONE, alpha=0.85)
    for bar, (count, fraction) in zip(
        bars, zip(rungs["trials_reached"], rungs["fraction"], strict=True), strict=True
    ):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height(),
            f"{count} ({fraction:.0%})",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_xlabel("rung (training iterations)")
    ax.set_ylabel("trials that reached it")
    _integer_ticks(ax.yaxis)
    ax.grid(axis="x", visible=False)
    if len(rungs):
        _title(
            ax,
            f"Early stopping: {rungs['trials_reached'].iloc[-1]} of {rungs['trials_reached'].iloc[0]} "
            f"trials reached {labels[-1]} iterations",
        )
    return fig


def plot_compute(accounting: ComputeAccounting) -> Figure:
    """Bars: trial-time and trial-iterations used vs. with no early stopping."""
    fig, axes = _figure(ncols=2, width=8.0, height=2.6)
    scale, unit = _duration_unit(np.array([accounting.full_trial_seconds]))
    for ax, used, full, label in (
        (
            axes[0, 0],
            accounting.trial_seconds / scale,
            accounting.full_trial_seconds / scale,
            f"trial time ({unit}, summed over trials)",
        ),
        (axes[0, 1], accounting.trial_iterations, accounting.full_trial_iterations, "trial-iterations"),
    ):
        ax.barh(["no early stopping\n(estimate)", "used"], [full, used], color=[STOPPED, DONE])
        for y, value in enumerate([full, used]):
            ax.text(value, y, f" {value:.4g}", va="center", fontsize=9)
        ax.set_xlabel(label)
        ax.grid(axis="y", visible=False)
    fig.suptitle(
        f"Early stopping saved {accounting.saved_fraction:.0%} of the training time", fontweight="bold"
    )
    return fig


def plot_lineage(steps: pd.DataFrame, trial_ids: list[str], best_path: pd.DataFrame | None) -> Figure:
    """PBT: each trial a horizontal line over iterations; an arrow for every clone.

    Args:
        steps: :func:`tunefleet.analysis.pbt.lineage`.
        trial_ids: Trials in display order (one row each).
        best_path: :func:`tunefleet.analysis.pbt.schedule` of the best trial, highlighted.
    """
    fig, axes = _figure(height=max(3.0, 0.28 * len(trial_ids) + 1.5))
    ax = axes[0, 0]
    row = {trial: i for i, trial in enumerate(trial_ids)}
    last = float(max(steps["iteration"].max(), steps["source_iteration"].max())) if len(steps) else 1.0
    for y in row.values():
        ax.plot([0, last], [y, y], color=STOPPED, linewidth=0.8)
    for step in steps.itertuples(index=False):
        if step.trial not in row or step.source_trial not in row:
            continue
        ax.annotate(
            "",
            xy=(step.iteration, row[step.trial]),
            xytext=(step.source_iteration, row[step.source_trial]),
            arrowprops={"arrowstyle": "->", "color": DONE, "alpha": 0.6, "linewidth": 1.0},
        )
    if best_path is not None:
        for seg in best_path.itertuples(index=False):
            if seg.trial in row:
                ax.plot(
                    [seg.start_iteration, seg.end_iteration], [row[seg.trial]] * 2, color=BEST, linewidth=3
                )
    ax.set_yticks(range(len(trial_ids)), trial_ids, fontsize=8)
    ax.set_xlabel("training iteration")
    _title(
        ax,
        f"PBT lineage: {len(steps)} clones (arrow: source trial -> trial that copied it); "
        f"red: the best trial's ancestry",
    )
    return fig


def plot_schedule(segments: pd.DataFrame, scales: Mapping[str, str], trial: str) -> Figure:
    """PBT: the best trial's numeric hyperparameters over training iterations (step lines)."""
    configs = list(segments["config"])
    names = [n for n in scales if scales[n] != "categorical" and any(n in c for c in configs)]
    nrows = max(len(names), 1)
    fig, axes = _figure(height=1.9 * nrows + 0.6, nrows=nrows)
    for ax, name in zip(axes.flat, names, strict=False):
        xs, ys = [], []
        for seg in segments.itertuples(index=False):
            value = seg.config.get(name)
            xs += [seg.start_iteration, seg.end_iteration]
            ys += [value, value]
        ax.plot(xs, ys, color=BEST, linewidth=2)
        if scales.get(name) == "log":
            ax.set_yscale("log")
        ax.set_ylabel(name)
    list(axes.flat)[-1].set_xlabel("training iteration")
    fig.suptitle(
        f"Hyperparameter schedule of the best trial {trial} (followed through its clones)", fontweight="bold"
    )
    return fig


def plot_compare(
    curves: Mapping[str, pd.DataFrame], metric: str, mode: str, x: str, target: float | None = None
) -> Figure:
    """Best so far of several sweeps on one axis.

    Args:
        curves: Sweep name -> :func:`tunefleet.analysis.curves.anytime_curve`.
        metric: The metric's name.
        mode: ``"min"`` or ``"max"``.
        x: ``"trial_iterations"``, ``"trial_seconds"`` or ``"wall_time_s"``.
        target: Drawn as a dashed horizontal line when given.
    """
    fig, axes = _figure(width=8.0, height=4.2)
    ax = axes[0, 0]
    scale, unit = (
        (1.0, "")
        if x == "trial_iterations"
        else _duration_unit(
            np.concatenate([c[x].to_numpy(dtype=float) for c in curves.values()]) if curves else np.zeros(1)
        )
    )
    for name, curve in curves.items():
        ax.step(curve[x] / scale, curve["best_so_far"], where="post", linewidth=2, label=name)
    if target is not None:
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {_fmt(target)}")
    ax.set_xlabel(
        {
            "trial_iterations": "training iterations used (all trials)",
            "trial_seconds": f"training time used ({unit}, summed over trials)",
            "wall_time_s": f"wall time since start ({unit})",
        }[x]
    )
    ax.set_ylabel(f"best {metric} so far ({_better(mode)})")
    ax.legend(loc="best")
    _title(ax, f"Best {metric} so far: which sweep gets there with less compute")
    return fig


#: Pairs of objectives drawn for a sweep with more than two (the first four: at most 6 panels).
_MAX_PAIRED_OBJECTIVES = 4


def plot_pareto_front(
    points: pd.DataFrame, objectives: Sequence[Objective], staircase: pd.DataFrame | None = None
) -> Figure:
    """Every trial on two objectives, the Pareto front in red.

    With two objectives, one plot: the front joined as the staircase that bounds what it dominates
    (shaded: the area the hypervolume measures). An objective whose values are positive and span
    more than two decades is drawn on a log axis. With more, one plot per pair of the first four
    objectives, the front (non-dominated on all of them) in red and no staircase: a projection of
    that front is not a staircase.

    Args:
        points: :func:`tunefleet.analysis.pareto.pareto_points`.
        objectives: The sweep's objectives.
        staircase: :func:`tunefleet.analysis.pareto.front_staircase` (two objectives).
    """
    shown = list(objectives[:_MAX_PAIRED_OBJECTIVES])
    pairs = list(itertools.combinations(range(len(shown)), 2))
    ncols = min(3, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    single = len(pairs) == 1
    fig, axes = _figure(
        ncols=ncols, nrows=nrows, width=7.5 if single else 3.6 * ncols, height=5.0 if single else 3.2 * nrows
    )
    front = points["pareto"].to_numpy(dtype=bool)
    for ax, (i, j) in zip(axes.flat, pairs, strict=False):
        x, y = shown[i], shown[j]
        ax.scatter(
            points[x.metric][~front],
            points[y.metric][~front],
            s=22,
            color=DONE,
            alpha=0.6,
            edgecolors="none",
            label="trial",
        )
        if single and staircase is not None and len(staircase):
            sx, sy = staircase[x.metric].to_numpy(), staircase[y.metric].to_numpy()
            corner_x, corner_y = sx[-1], sy[0]  # the reference point
            ax.fill(
                [*sx, corner_x], [*sy, corner_y], color=BEST, alpha=0.08, linewidth=0, label="dominated area"
            )
            ax.plot(sx, sy, color=BEST, linewidth=1.5, zorder=3)
            ax.plot([corner_x], [corner_y], "x", color="black", markersize=7, label="reference point")
        ax.scatter(
            points[x.metric][front],
            points[y.metric][front],
            s=40,
            color=BEST,
            zorder=4,
            label="Pareto front",
        )
        if single and front.sum() <= 12:
            for _, row in points[front].iterrows():
                ax.annotate(
                    str(row["trial_id"]),
                    (row[x.metric], row[y.metric]),
                    textcoords="offset points",
                    xytext=(5, 4),
                    fontsize=8,
                )
        log_x, log_y = (_spans_decades(points[o.metric]) for o in (x, y))
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(f"{x.metric} ({_better(x.mode)}{', log scale' if log_x else ''})")
        ax.set_ylabel(f"{y.metric} ({_better(y.mode)}{', log scale' if log_y else ''})")
    for ax in list(axes.flat)[len(pairs) :]:
        ax.set_visible(False)
    axes[0, 0].legend(loc="best", fontsize=9)
    ranked = points[[o.metric for o in objectives]].notna().all(axis=1).sum()
    title = (
        f"Pareto front: {int(front.sum())} of {plural(int(ranked), 'trial')}, none beaten on every objective"
    )
    if len(objectives) > _MAX_PAIRED_OBJECTIVES:
        title += f"; the first {_MAX_PAIRED_OBJECTIVES} objectives drawn"
    fig.suptitle(title, fontweight="bold")
    return fig


def _spans_decades(values: pd.Series) -> bool:
    """Positive values spanning more than two decades (parameter counts, latencies): a log axis."""
    finite = values[np.isfinite(values.to_numpy(dtype=float))].astype(float)
    return bool(len(finite)) and bool((finite > 0).all()) and float(finite.max() / finite.min()) > 100


def plot_hypervolume_history(history: pd.DataFrame) -> Figure:
    """The hypervolume after each finished trial, over wall time and over trial index.

    Args:
        history: :func:`tunefleet.analysis.pareto.hypervolume_history`.
    """
    fig, axes = _figure(ncols=2)
    ended = history.dropna(subset=["end_wall_time_s"]).sort_values("end_wall_time_s", kind="stable")
    scale, unit = _duration_unit(history["end_wall_time_s"].to_numpy(dtype=float))
    for ax, x, y, label in (
        (
            axes[0, 0],
            ended["end_wall_time_s"] / scale,
            ended["hypervolume_by_time"],
            f"wall time since start ({unit})",
        ),
        (axes[0, 1], history["trial_index"], history["hypervolume"], "trial (in order started)"),
    ):
        ax.step(x, y, where="post", color=BEST, linewidth=2)
        ax.plot(x, y, "o", color=BEST, markersize=3)
        ax.set_xlabel(label)
        ax.set_ylabel("hypervolume (higher is better)")
    _integer_ticks(axes[0, 1].xaxis)
    final = history["hypervolume"].iloc[-1] if len(history) else math.nan
    if math.isfinite(final):
        reached = ended.loc[ended["hypervolume_by_time"] >= final, "end_wall_time_s"].min() / scale
        trials = plural(len(history), "trial")
        title = f"Hypervolume {_fmt(final)}, reached after {reached:.3g} {unit} (of {trials})"
    else:
        title = "No trial reported every objective"
    fig.suptitle(title, fontweight="bold")
    return fig
