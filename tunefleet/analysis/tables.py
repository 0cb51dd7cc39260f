"""Terminal renderings of an experiment summary (CSV and Parquet: :mod:`tunefleet.analysis.export`).

:func:`render_summary` draws the dict of :meth:`ExperimentResults.summary
<tunefleet.analysis.results.ExperimentResults.summary>`, so what the terminal shows and what
``--format json`` prints cannot disagree.

Everything shown comes from users, files or Ray, so it is printed as :class:`rich.text.Text`
(never read as rich markup, see :mod:`tunefleet.console`), and nothing is cut to fit: a table
too wide for the terminal is printed pivoted, or as one line per row, which wrap.

Example:
    >>> from tunefleet.console import make_console
    >>> results = load_results("runs/mnist-asha")  # doctest: +SKIP
    >>> render_summary(results.summary(top=5), make_console())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from tunefleet.console import plural
from tunefleet.rundir import FINAL_STATUSES, flatten

__all__ = [
    "noted_counts",
    "render_frame",
    "render_summary",
    "selection_rows",
    "status_label",
    "varying_keys",
]

# Shown next to the ranking metric when trials report it (and it is not the metric itself).
_EXTRA_METRIC = "test_accuracy"
_MISSING = "-"
_TRACEBACK_LINES = 8


def render_summary(
    summary: Mapping[str, Any], console: Console, tracebacks: bool = False, resume_hint: bool = True
) -> None:
    """Print a summary: a title, the top trials, the best config, its test metrics, the selection
    (finalists retrained with several seeds, and the verdict), the errors, and how to resume a
    sweep that stopped before its end.

    The table has the rank, trial id, metric value, ``test_accuracy`` when reported,
    iterations, training time, status, and the config keys whose values differ between the
    rows shown (floats with 4 significant digits). A multi-objective summary shows each trial's
    front (✓: on the Pareto front) and every objective instead of the metric value, then the
    front's size and hypervolume.

    Args:
        summary: The dict returned by ``ExperimentResults.summary()``.
        console: Where to print.
        tracebacks: Print the end of each error's traceback under it, and the last lines
            its trial printed.
        resume_hint: Say how to resume a sweep with unfinished trials (``tunefleet run``
            says it itself, with the cluster address).
    """
    console.print(_title(summary))
    top: Sequence[Mapping[str, Any]] = summary["top"]
    metrics = [o["metric"] for o in summary.get("objectives") or [{"metric": summary["metric"]}]]
    if top:
        _print_fitting(console, _top_layouts(summary, top))
    elif summary["best"] is None:
        what = "a finite value of" if len(metrics) == 1 else "finite values of"
        console.print(Text(f"No trial reported {what} {', '.join(map(repr, metrics))}.", style="yellow"))
    if summary.get("pareto_front"):
        console.print(_front_line(summary))
    best = summary["best"]
    if best is not None:
        flat = flatten(best["config"])
        pairs = ", ".join(f"{key}={_format(value)}" for key, value in flat.items())
        label = f"Best {summary['metric']} on the Pareto front" if len(metrics) > 1 else "Best config"
        line = Text.assemble((label, "bold"), f" ({best['trial_id']}): ", pairs or "{}")
        console.print(line)
    held_out = summary.get("test_metrics") or {}
    if held_out:
        pairs = ", ".join(f"{key}={_format(value)}" for key, value in held_out.items())
        console.print(
            Text.assemble(
                ("Test metrics of the best trial", "bold"), f" (picked by {summary['metric']}): ", pairs
            )
        )
    if summary.get("selection"):
        _print_selection(summary["selection"], console)
    errors: Sequence[Mapping[str, Any]] = summary["errors"]
    if errors:
        console.print(Text(f"Errors ({len(errors)}):", style="bold red"))
        for error in errors:
            status = "" if error["status"] == "ERROR" else f" [{error['status']}, retried]"
            console.print(
                Text.assemble("  ", (error["trial_id"], "bold"), status, ": ", error["error"] or "")
            )
            if tracebacks:  # the end of the traceback, then of what the trial printed
                traceback = str(error.get("traceback") or "").splitlines()[-_TRACEBACK_LINES:]
                for lines in (traceback, str(error.get("output") or "").splitlines()):
                    if lines:
                        console.print(
                            Text("\n".join("      " + line for line in lines), style="dim"), soft_wrap=True
                        )
    if resume_hint and summary.get("resume_command"):
        unfinished = summary["num_unfinished"]
        console.print(
            Text(
                f"The sweep stopped before its end with {plural(unfinished, 'unfinished trial')}; "
                "everything so far is saved. Resume with:\n"
                f"  {summary['resume_command']}",
                style="yellow",
            ),
            soft_wrap=True,
        )


def selection_rows(selection: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The selection as a table: header and one row per finalist (``mean +- sd``, the 95% CI,
    the same for the test metrics, runs, and the config keys that differ between finalists).

    Shared by the terminal and the HTML report.
    """
    finalists: Sequence[Mapping[str, Any]] = selection["finalists"]
    tests = list(finalists[0]["test_metrics"]) if finalists else []
    configs = [flatten(f["config"]) for f in finalists]
    varying = varying_keys(configs)
    header = ["finalist", "search trial", "runs", selection["metric"], "95% CI"]
    for name in tests:
        header += [name, "95% CI"]
    header.append("config (what differs)")
    rows = []
    for finalist, config in zip(finalists, configs, strict=True):
        row = [
            str(finalist["finalist"]),
            finalist["trial_id"] or _MISSING,
            str(finalist["n"])
            + (f" (+{finalist['num_unfinished']} unfinished)" if finalist["num_unfinished"] else ""),
            *_mean_cells(finalist),
        ]
        for name in tests:
            row += _mean_cells(finalist["test_metrics"][name])
        row.append(", ".join(f"{key}={_format(config.get(key))}" for key in varying))
        rows.append(row)
    return header, rows


def _mean_cells(stats: Mapping[str, Any]) -> list[str]:
    """``mean +- sd`` and ``[low, high]`` cells."""
    if stats["mean"] is None:
        return [_MISSING, _MISSING]
    spread = f" +- {stats['std']:.2g}" if stats["std"] is not None else ""
    ci = f"[{stats['ci'][0]:.4g}, {stats['ci'][1]:.4g}]" if stats["ci"] is not None else _MISSING
    return [f"{stats['mean']:.4g}{spread}", ci]


def _print_selection(selection: Mapping[str, Any], console: Console) -> None:
    seeds = ", ".join(str(seed) for seed in selection["seeds"])
    console.print(
        Text.assemble(
            ("Selection", "bold"),
            f": each finalist retrained with seeds {seeds} (mean +- sd, 95% confidence interval)",
        )
    )
    header, rows = selection_rows(selection)
    right = set(range(2, len(header) - 1))
    labels = [f"#{row[0]}" for row in rows]
    _print_fitting(
        console,
        [
            [_grid(header, rows, right)],
            [_pivot(header[1:], [row[1:] for row in rows], labels)],
            [_lines(labels, header[1:], [row[1:] for row in rows])],
        ],
    )
    console.print(Text.assemble(("Verdict", "bold"), ": ", selection["verdict"]["text"]), soft_wrap=True)


def render_frame(frame: pd.DataFrame, console: Console, label: str | None = None) -> None:
    """Print a DataFrame as a table (floats with 4 significant digits, NaN as '-').

    Too wide for the console, it is printed pivoted (a row per column, a column per row,
    headed by the ``label`` column, default the first), else as one line per row.
    """
    header = [str(column) for column in frame.columns]
    right = {i for i, column in enumerate(frame.columns) if frame[column].dtype.kind != "O"}
    rows = [[_format(None if _is_nan(v) else v) for v in row] for row in frame.itertuples(index=False)]
    at = header.index(label) if label is not None else 0
    labels = [row[at] for row in rows]
    fields = [i for i in range(len(header)) if i != at]
    _print_fitting(
        console,
        [
            [_grid(header, rows, right)],
            [_pivot([header[i] for i in fields], [[row[i] for i in fields] for row in rows], labels)],
            [_lines(labels, [header[i] for i in fields], [[row[i] for i in fields] for row in rows])],
        ],
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


#: Summary counts shown after Ray's statuses.
_NOTED_COUNTS = (("num_diverged", "diverged"), ("num_unfinished", "unfinished"))


def noted_counts(summary: Mapping[str, Any]) -> list[str]:
    """``["1 diverged", "2 unfinished"]``: what a summary's statuses alone do not say (if any)."""
    return [f"{summary[key]} {word}" for key, word in _NOTED_COUNTS if summary.get(key)]


def status_label(trial: Mapping[str, Any]) -> str:
    """A summary trial's status as shown: Ray's, with ``(diverged)`` or ``(unfinished)`` added."""
    if trial.get("diverged"):
        return f"{trial['status']} (diverged)"
    if trial["status"] not in FINAL_STATUSES:
        return f"{trial['status']} (unfinished)"
    return str(trial["status"])


def _title(summary: Mapping[str, Any]) -> Text:
    counts = ", ".join(f"{n} {status}" for status, n in summary["status_counts"].items())
    counts = "; ".join(filter(None, [counts, ", ".join(noted_counts(summary))]))
    objectives = summary.get("objectives")
    if objectives:
        ranking = (
            ", ".join(f"{o['metric']} ({o['mode']})" for o in objectives) + f", scope={summary['scope']}"
        )
    else:
        ranking = f"{summary['metric']} ({summary['mode']}, scope={summary['scope']})"
    return Text.assemble(
        (str(summary["experiment"]["name"]), "bold"),
        f": {ranking}, ",
        plural(summary["num_trials"], "trial"),
        f" ({counts})" if counts else "",
    )


def _top_layouts(summary: Mapping[str, Any], top: Sequence[Mapping[str, Any]]) -> list[list[RenderableType]]:
    """Ways to show the top trials, widest first: one table; the results, then the configs;
    the results, then the configs pivoted (a row per key); a line per trial."""
    objectives = summary.get("objectives")
    metrics = [o["metric"] for o in objectives] if objectives else [summary["metric"]]
    show_extra = _EXTRA_METRIC not in metrics and any(_EXTRA_METRIC in t["metrics"] for t in top)
    configs = [flatten(t["config"]) for t in top]
    varying = varying_keys(configs)

    ids = [[str(rank), trial["trial_id"]] for rank, trial in enumerate(top, start=1)]
    ranking = ["front", *metrics] if objectives else metrics
    fields = [*ranking, *([_EXTRA_METRIC] if show_extra else []), "iter", "time", "status"]
    values = [
        [
            *(
                [_front_mark(trial.get("front")), *(_format(trial["metrics"].get(m)) for m in metrics)]
                if objectives
                else [_format(trial["value"])]
            ),
            *([_format(trial["metrics"].get(_EXTRA_METRIC))] if show_extra else []),
            _format(trial["training_iteration"]),
            _format_duration(trial["time_total_s"]),
            status_label(trial),
        ]
        for trial in top
    ]
    settings = [[_format(config.get(key)) for key in varying] for config in configs]

    numbers = {0, *range(2, 2 + len(fields) - 1)}  # rank and every field but the status
    keys = set(range(2 + len(fields), 2 + len(fields) + len(varying)))
    bold = set(range(2 + len(ranking) - len(metrics), 2 + len(ranking)))  # the objectives
    rows = [i + v for i, v in zip(ids, values, strict=True)]
    results = _grid(["#", "trial_id", *fields], rows, numbers, bold=bold)
    everything = [r + c for r, c in zip(rows, settings, strict=True)]
    layouts: list[list[RenderableType]] = [
        [_grid(["#", "trial_id", *fields, *varying], everything, numbers | keys, bold=bold)]
    ]
    if varying:
        by_trial = [i + c for i, c in zip(ids, settings, strict=True)]
        layouts.append(
            [results, _grid(["#", "trial_id", *varying], by_trial, {0, *range(2, 2 + len(varying))})]
        )
        layouts.append([results, _pivot(varying, settings, [f"#{rank}" for rank, _ in ids])])
    labels = [f"#{rank} {trial_id}" for rank, trial_id in ids]
    layouts.append([_lines(labels, [*fields, *varying], [row[2:] for row in everything])])
    return layouts


def _front_mark(front: int | None) -> str:
    """A trial's front as the table shows it: ✓ on the Pareto front, else its number."""
    return _MISSING if front is None else "✓" if front == 1 else str(front)


def _front_line(summary: Mapping[str, Any]) -> Text:
    """``Pareto front: 3 trials (✓ above), hypervolume 100 against val_accuracy=0.6, params=500 ...``"""
    volume = summary["hypervolume"]
    text = f"{plural(len(summary['pareto_front']), 'trial')} (✓ above)"
    if volume["value"] is not None:
        reference = ", ".join(f"{m}={_format(v)}" for m, v in volume["reference"].items())
        text += (
            f", hypervolume {_format(volume['value'])} against {reference} "
            "(the worst value of each objective)"
        )
    return Text.assemble(("Pareto front", "bold"), ": ", text)


def _print_fitting(console: Console, layouts: Sequence[Sequence[RenderableType]]) -> None:
    """Print the first layout whose every part fits the console's width unshrunk (rich would cut
    or fold its cells); the last layout must fit any width (lines of text, which wrap)."""
    for layout in layouts[:-1]:
        widest = max(
            console.measure(part, options=console.options.update_width(10_000)).maximum for part in layout
        )
        if widest <= console.width:
            break
    else:
        layout = layouts[-1]
    for part in layout:
        console.print(part)


def _grid(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Collection[int], bold: Collection[int] = ()
) -> Table:
    """A table of text cells (``right``: the right-justified columns, ``bold``: bold ones)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for i, name in enumerate(header):
        table.add_column(
            Text(name), justify="right" if i in right else "left", style="bold" if i in bold else ""
        )
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _pivot(fields: Sequence[str], rows: Sequence[Sequence[str]], labels: Sequence[str]) -> Table:
    """``rows`` turned around: a row per field, a column per row, headed by its label."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(Text(""))
    for label in labels:
        table.add_column(Text(label), justify="right")
    for i, field in enumerate(fields):
        table.add_row(Text(field), *(Text(row[i]) for row in rows))
    return table


def _lines(labels: Sequence[str], fields: Sequence[str], rows: Sequence[Sequence[str]]) -> Group:
    """One line of text per row, ``label: field=value, ...``; wraps between fields, never cuts."""
    return Group(
        *(
            Text.assemble(
                (label, "bold"), ": ", ", ".join(f"{f}={v}" for f, v in zip(fields, row, strict=True))
            )
            for label, row in zip(labels, rows, strict=True)
        )
    )


def varying_keys(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys, in order of first appearance, whose values are not the same in every config."""
    keys: dict[str, None] = {}
    for config in configs:
        keys.update(dict.fromkeys(config))
    return [key for key in keys if len({repr(config.get(key, _MISSING)) for config in configs}) > 1]


def _format(value: Any) -> str:
    """Compact cell text: floats with 4 significant digits, None as '-'."""
    if value is None:
        return _MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return str(value)


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return _MISSING
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
