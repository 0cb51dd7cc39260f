"""One self-contained HTML report of an experiment: no external URL, figures inlined as PNG.

Sections, in order, are :data:`SECTIONS` (each has a stable ``id``): ``summary``, ``selection``,
``history``, ``pareto``, ``learning-curves``, ``importance``, ``marginal-effects``,
``parallel-coordinates``, ``rungs``, ``pbt``, ``compute``, ``errors``, ``experiment-file``. A section
that does not apply (rungs without a scheduler that has rungs, PBT without a lineage, a Pareto front
with one objective, no selection phase) says so in one line.

Adding a section is one builder function (results and summary in, HTML out) and one line in
:data:`SECTIONS`; the navigation and the page follow that list.

Example:
    >>> write_report(load_results("runs/quickstart"), "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tunefleet.analysis import curves, plots
from tunefleet.analysis.compute import compute_accounting
from tunefleet.analysis.export import held_out_metrics
from tunefleet.analysis.hyperparams import hyperparameters
from tunefleet.analysis.importance import IMPORTANCE_METHOD, MIN_TRIALS, importance, marginal_effects
from tunefleet.analysis.pareto import front_staircase, hypervolume_history, pareto_points, point_text
from tunefleet.analysis.pbt import lineage, schedule
from tunefleet.analysis.selection import TEST_NAME
from tunefleet.analysis.tables import noted_counts, selection_rows, status_label, varying_keys
from tunefleet.console import plural
from tunefleet.rundir import EXPERIMENT_FILE, flatten

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tunefleet.analysis.interface import Results

__all__ = ["CSS", "SECTIONS", "Section", "build_report", "figure_to_img", "write_report"]


class Section(NamedTuple):
    """One section of the report."""

    id: str  # the anchor: stable, links point at it
    title: str
    build: Callable[[Results, Mapping[str, Any]], str]  # (results, their summary) -> the body's HTML


#: The report's style sheet (the dashboard uses it too).
CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;
padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}
.sub{color:#666;margin-top:4px}nav a{margin-right:12px;color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}th{background:#f6f6f6}
td.l,th.l{text-align:left}img{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:10px;overflow-x:auto;font-size:.85em}.note{color:#555;font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:1.3em}
"""


def write_report(results: Results, path: str | os.PathLike[str], top: int = 10) -> Path:
    """Write :func:`build_report` to ``path``; returns the path written."""
    target = Path(path)
    target.write_text(build_report(results, top=top), encoding="utf-8")
    return target


def build_report(results: Results, top: int = 10) -> str:
    """The report as one HTML string (see the module docstring)."""
    summary = results.summary(top=top)
    nav = " ".join(f'<a href="#{section.id}">{html.escape(section.title)}</a>' for section in SECTIONS)
    body = "\n".join(
        f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>\n'
        f"{section.build(results, summary)}\n</section>"
        for section in SECTIONS
    )
    when = dt.datetime.now().isoformat(timespec="seconds")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(results.name)}: tunefleet report</title><style>{CSS}</style></head><body>\n"
        f'<h1>{html.escape(results.name)}</h1>\n<p class="sub">{html.escape(str(results.path))} · '
        f"ranked by {_ranking_text(results)} · "
        f"report made {when} by tunefleet</p>\n<nav>{nav}</nav>\n{body}\n</body></html>\n"
    )


def figure_to_img(fig: Figure, alt: str = "") -> str:
    """An ``<img>`` tag holding the figure as a base64 PNG (closes the figure)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


# -- sections ---------------------------------------------------------------------------------


def _summary_section(results: Results, summary: Mapping[str, Any]) -> str:
    best = summary["best"]
    counts = ", ".join(
        [f"{n} {s.lower()}" for s, n in summary["status_counts"].items()] + noted_counts(summary)
    )
    cards = [
        ("trials", f"{summary['num_trials']}", counts),
        (f"best {results.metric}", _cell(best["value"]) if best else "-", best["trial_id"] if best else ""),
    ]
    if best:
        for name, value in held_out_metrics(best["metrics"]).items():
            cards.append((name, _cell(value), "best trial by validation, on the test set"))
    html_cards = "".join(
        f'<div class="card">{html.escape(label)}<b>{html.escape(value)}</b>'
        f'<span class="note">{html.escape(note)}</span></div>'
        for label, value, note in cards
    )
    if not best:
        return f'<div class="cards">{html_cards}</div><p class="note">No trial reported a finite value.</p>'
    config = flatten(best["config"])
    best_table = _table(["hyperparameter", "value"], [[k, _cell(v)] for k, v in config.items()], left=2)
    configs = [flatten(trial["config"]) for trial in summary["top"]]
    varying = varying_keys(configs)  # constants are in the best trial's table above
    rows = []
    for rank, (trial, flat) in enumerate(zip(summary["top"], configs, strict=True), start=1):
        rows.append(
            [
                rank,
                trial["trial_id"],
                _cell(trial["value"]),
                _cell(trial["training_iteration"]),
                _cell(trial["time_total_s"]),
                status_label(trial),
                ", ".join(f"{k}={_cell(flat.get(k))}" for k in varying),
            ]
        )
    top_table = _table(
        ["#", "trial", results.metric, "iterations", "train time (s)", "status", "config (what differs)"],
        rows,
        left={1, 5, 6},
    )
    return (
        f'<div class="cards">{html_cards}</div>\n<h3>Best trial: {html.escape(best["trial_id"])}</h3>\n'
        f"{best_table}\n<h3>Top {plural(len(summary['top']), 'trial')}</h3>\n{top_table}"
    )


def _history_section(results: Results, summary: Mapping[str, Any]) -> str:
    history = curves.optimization_history(results)
    if not np.isfinite(history["value"]).any():
        return f'<p class="note">No trial reported a finite {html.escape(results.metric)}.</p>'
    return figure_to_img(plots.plot_optimization_history(history, results.metric, results.mode), "history")


def _pareto_section(results: Results, summary: Mapping[str, Any]) -> str:
    objectives = results.objectives
    if len(objectives) == 1:
        return (
            f'<p class="note">One objective ({html.escape(results.metric)}): no Pareto front; the '
            "optimization history shows the best so far.</p>"
        )
    volume = summary["hypervolume"]
    if volume["value"] is None:
        return '<p class="note">No trial reported every objective.</p>'
    reference = tuple(volume["reference"][o.metric] for o in objectives)
    points = pareto_points(results)
    staircase = front_staircase(points, objectives, reference) if len(objectives) == 2 else None
    front = summary["pareto_front"]
    note = (
        f"{plural(len(front), 'trial')} on the front (none of the others is better on every "
        f"objective); hypervolume {_cell(volume['value'])} against {point_text(objectives, reference)}: "
        f"the worst value of each objective over the trials. Each trial counts at its ranking "
        f"result (scope={results.scope}, chosen by {results.metric}), every objective read there."
    )
    if len(objectives) > 2:
        note += " More than two objectives: one plot per pair, the front (on all of them) in red."
    configs = [flatten(trial["config"]) for trial in front]
    varying = varying_keys(configs)
    rows = [
        [
            trial["trial_id"],
            *(_cell(trial["values"][o.metric]) for o in objectives),
            _cell(trial["training_iteration"]),
            ", ".join(f"{k}={_cell(flat.get(k))}" for k in varying),
        ]
        for trial, flat in zip(front, configs, strict=True)
    ]
    table = _table(
        ["trial", *(o.metric for o in objectives), "iterations", "config (what differs)"],
        rows,
        left={0, len(objectives) + 2},
    )
    return (
        f'<p class="note">{html.escape(note)}</p>\n'
        + figure_to_img(plots.plot_pareto_front(points, objectives, staircase), "Pareto front")
        + figure_to_img(
            plots.plot_hypervolume_history(hypervolume_history(results, reference)), "hypervolume"
        )
        + f"\n<h3>The front, best {html.escape(results.metric)} first</h3>\n{table}"
    )


def _learning_curves_section(results: Results, summary: Mapping[str, Any]) -> str:
    if not len(results.history()):
        return '<p class="note">No trial reported a result.</p>'
    best_id = summary["best"]["trial_id"] if summary["best"] else None
    learning = curves.learning_curves(results)
    return figure_to_img(plots.plot_learning_curves(learning, results.metric, results.mode, best_id))


_NOTHING_VARIED = '<p class="note">No hyperparameter varied between trials.</p>'


def _importance_section(results: Results, summary: Mapping[str, Any]) -> str:
    params = hyperparameters(results)
    if params.empty:
        return _NOTHING_VARIED
    ranking = importance(results)
    if ranking.empty:
        needed = f"Needs at least {MIN_TRIALS} trials with a finite {results.metric}."
        return f'<p class="note">{html.escape(needed)}</p>'
    scales = ", ".join(f"{p.name}: {p.scale} ({p.source})" for p in params.itertuples(index=False))
    return f'<p class="note">Method: {html.escape(IMPORTANCE_METHOD)}. Scales: {html.escape(scales)}.</p>' + (
        figure_to_img(plots.plot_importance(ranking, results.metric), "importance")
    )


def _marginal_effects_section(results: Results, summary: Mapping[str, Any]) -> str:
    if hyperparameters(results).empty:
        return _NOTHING_VARIED
    best_id = summary["best"]["trial_id"] if summary["best"] else None
    effects = marginal_effects(results)
    return figure_to_img(
        plots.plot_marginal_effects(effects, results.metric, results.mode, best_id), "marginal effects"
    )


def _parallel_coordinates_section(results: Results, summary: Mapping[str, Any]) -> str:
    params = hyperparameters(results)
    if params.empty:
        return _NOTHING_VARIED
    return figure_to_img(
        plots.plot_parallel_coordinates(results.trials(), params, results.metric, results.mode),
        "parallel coordinates",
    )


def _rungs_section(results: Results, summary: Mapping[str, Any]) -> str:
    scheduler = results.settings.get("scheduler")
    kind = scheduler.get("type") if isinstance(scheduler, dict) else None
    rungs = curves.rung_counts(results)
    declared = curves.scheduler_rungs(results.settings, curves.max_iterations(results))
    stopped = curves.learning_curves(results).groupby("trial_id")["stopped_early"].first().sum()
    if declared is not None:
        source = f"rungs of the {kind} scheduler"
    elif kind is None and stopped and 1 < len(rungs) <= 8:
        source = "iterations at which trials stopped"
    else:
        return f'<p class="note">The scheduler ({html.escape(str(kind or "unknown"))}) has no rungs.</p>'
    figure = figure_to_img(plots.plot_rungs(rungs), "rungs")
    return f'<p class="note">Bars: {html.escape(source)}.</p>{figure}'


def _pbt_section(results: Results, summary: Mapping[str, Any]) -> str:
    steps = lineage(results)
    if steps.empty:
        return '<p class="note">Not a Population Based Training experiment (no pbt_lineage.jsonl).</p>'
    best = summary["best"]
    trial_ids = list(results.trial_info()["trial_id"])
    parts = []
    path = None
    if best:
        path = schedule(steps, best["trial_id"], int(best["training_iteration"] or 0), results.configs())
    parts.append(figure_to_img(plots.plot_lineage(steps, trial_ids, path), "lineage"))
    if path is not None:
        scales = dict(zip(*hyperparameters(results)[["name", "scale"]].T.to_numpy(), strict=True))
        parts.append(figure_to_img(plots.plot_schedule(path, scales, best["trial_id"]), "schedule"))
        rows = [
            [s.start_iteration, s.end_iteration, s.trial, _config_text(s.config)] for s in path.itertuples()
        ]
        parts.append(_table(["from iteration", "to iteration", "weights of trial", "config"], rows, left=4))
    return "\n".join(parts)


def _compute_section(results: Results, summary: Mapping[str, Any]) -> str:
    accounting = compute_accounting(results)
    if not accounting.num_trials:
        return '<p class="note">No trial reported a result.</p>'
    per_trial = []
    if accounting.cpus_per_trial is not None:
        per_trial.append(f"{accounting.cpus_per_trial:g} CPU")
    if accounting.gpus_per_trial is not None:
        per_trial.append(f"{accounting.gpus_per_trial:g} GPU")
    resources = " + ".join(per_trial) + " per trial" if per_trial else "resources per trial not recorded"
    rows: list[list[Any]] = [
        ["trial-iterations", accounting.trial_iterations, accounting.full_trial_iterations],
        ["trial-seconds", f"{accounting.trial_seconds:.1f}", f"{accounting.full_trial_seconds:.1f}"],
    ]
    table = _table(
        ["", "used", f"every trial to {plural(accounting.max_iterations, 'iteration')} (estimate)"],
        rows,
        left=1,
    )
    nodes = _table(
        ["hostname", "node IP", "trials", "trial-iterations", "trial-seconds"],
        [
            [r.hostname, r.node_ip, r.trials, r.trial_iterations, f"{r.trial_seconds:.1f}"]
            for r in accounting.nodes.itertuples(index=False)
        ],
        left=2,
    )
    return (
        f"<p>{plural(accounting.num_trials, 'trial')}, wall time {accounting.wall_time_s:.0f} s, "
        f"{resources}. "
        "The no-early-stopping cost runs each trial to the budget at its own mean seconds per "
        "iteration.</p>\n"
        + table
        + figure_to_img(plots.plot_compute(accounting), "compute")
        + f"\n<h3>Where it ran</h3>\n{nodes}"
    )


def _selection_section(results: Results, summary: Mapping[str, Any]) -> str:
    selection = summary.get("selection")
    if not selection:
        return (
            '<p class="note">No selection phase: each configuration ran once. With select: '
            "(or <code>tunefleet select DIR</code>) the best ones are retrained with several seeds "
            "and compared.</p>"
        )
    header, rows = selection_rows(selection)
    seeds = ", ".join(str(seed) for seed in selection["seeds"])
    verdict = selection["verdict"]
    comparisons = _table(
        ["winner against", "finalist", "difference", "p-value", "p-value (Holm)", "distinguishable"],
        [
            [
                c["against"],
                c["finalist"],
                _cell(c["difference"]),
                _cell(c["p_value"]),
                _cell(c["p_adjusted"]),
                "yes" if c["distinguishable"] else "no",
            ]
            for c in verdict["comparisons"]
        ],
        left=2,
    )
    return (
        f"<p>Each finalist retrained with seeds {html.escape(seeds)} to the full budget; mean +- standard "
        f"deviation and the 95% confidence interval of the mean (t distribution), by "
        f"{html.escape(selection['metric'])} and the test metrics.</p>\n"
        + _table(header, rows, left={0, 1, len(header) - 1})
        + f"\n<p><b>Verdict:</b> {html.escape(verdict['text'])}</p>\n{comparisons}"
        + f'<p class="note">{html.escape(TEST_NAME)} at alpha {verdict["alpha"]:g}, over the two planned '
        "comparisons; test metrics are reported, never used to pick the winner.</p>"
    )


def _errors_section(results: Results, summary: Mapping[str, Any]) -> str:
    errors = results.errors()
    if errors.empty:
        return '<p class="note">No trial failed.</p>'
    blocks = []
    for row in errors.itertuples(index=False):
        retried = "" if row.status == "ERROR" else " (recovered after a retry)"
        blocks.append(
            f"<details><summary><b>{html.escape(row.trial_id)}</b>{retried}: "
            f"{html.escape(str(row.error))}</summary><pre>{html.escape(str(row.traceback))}</pre>"
            f'<p class="note">{html.escape(str(row.error_file))}</p>'
            + (
                f'<p class="note">What the trial printed last:</p><pre>{html.escape(row.output)}</pre>'
                if row.output
                else ""
            )
            + "</details>"
        )
    return "\n".join(blocks)


def _experiment_file_section(results: Results, summary: Mapping[str, Any]) -> str:
    path = results.path / EXPERIMENT_FILE
    if path.is_file():
        return (
            f'<p class="note">{html.escape(str(path))}, as run:</p><pre>{html.escape(path.read_text())}</pre>'
        )
    return (
        f'<p class="note">No {EXPERIMENT_FILE}: not run by tunefleet. Metric and mode came from the '
        "command line or from Ray Tune's own files.</p>"
    )


#: The report's sections, in order: the navigation and the page are drawn from this list.
SECTIONS: tuple[Section, ...] = (
    Section("summary", "Summary", _summary_section),
    Section("selection", "Selection", _selection_section),
    Section("history", "Optimization history", _history_section),
    Section("pareto", "Pareto front", _pareto_section),
    Section("learning-curves", "Learning curves", _learning_curves_section),
    Section("importance", "Hyperparameter importance", _importance_section),
    Section("marginal-effects", "Marginal effects", _marginal_effects_section),
    Section("parallel-coordinates", "Parallel coordinates", _parallel_coordinates_section),
    Section("rungs", "Early-stopping rungs", _rungs_section),
    Section("pbt", "Population Based Training", _pbt_section),
    Section("compute", "Compute", _compute_section),
    Section("errors", "Errors", _errors_section),
    Section("experiment-file", "Experiment file", _experiment_file_section),
)


# -- small helpers ----------------------------------------------------------------------------


def _ranking_text(results: Results) -> str:
    """``<b>val_loss</b> (min, scope=last)``, or with several objectives the Pareto front on each."""
    if len(results.objectives) == 1:
        return f"<b>{html.escape(results.metric)}</b> ({results.mode}, scope={results.scope})"
    names = ", ".join(f"<b>{html.escape(o.metric)}</b> ({o.mode})" for o in results.objectives)
    return f"Pareto front on {names}, then {html.escape(results.metric)} (scope={results.scope})"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if np.isfinite(value) else "-"
    return str(value)


def _config_text(config: Any) -> str:
    if not isinstance(config, Mapping):
        return str(config)
    return ", ".join(f"{k}={_cell(v)}" for k, v in flatten(config).items())


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], left: int | Collection[int] = 0) -> str:
    """An HTML table; the first ``left`` columns (or those listed) are left-aligned text, the
    rest numbers."""

    def cls(i: int) -> str:
        aligned = i < left if isinstance(left, int) else i in left
        return ' class="l"' if aligned else ""

    head = "".join(f"<th{cls(i)}>{html.escape(str(h))}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{html.escape(str(c))}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"
