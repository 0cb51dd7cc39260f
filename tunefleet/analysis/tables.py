"""Terminal and CSV renderings of an experiment summary.

:func:`render_summary` draws the dict of :meth:`ExperimentResults.summary
<tunefleet.analysis.experiment.ExperimentResults.summary>`, so what the terminal shows and what
``--format json`` prints cannot disagree.

Example:
    >>> from rich.console import Console
    >>> results = load_results("runs/mnist-asha")  # doctest: +SKIP
    >>> render_summary(results.summary(top=5), Console())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tunefleet.analysis.experiment import _flatten
from tunefleet.analysis.files import FINAL_STATUSES

if TYPE_CHECKING:
    from tunefleet.analysis.experiment import ExperimentResults

__all__ = [
    "noted_counts",
    "render_frame",
    "render_summary",
    "status_label",
    "summary_to_csv",
    "trials_to_parquet",
    "varying_keys",
]

# Shown next to the ranking metric when trials report it (and it is not the metric itself).
_EXTRA_METRIC = "test_accuracy"
_MISSING = "-"
_TRACEBACK_LINES = 8


def render_summary(
    summary: Mapping[str, Any], console: Console, tracebacks: bool = False, resume_hint: bool = True
) -> None:
    """Print a summary: a title, the top trials, the best config, its test metrics, the errors,
    and how to resume a sweep that stopped before its end.

    The table has the rank, trial id, metric value, ``test_accuracy`` when reported,
    iterations, training time, status, and the config keys whose values differ between the
    rows shown (floats with 4 significant digits).

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
    if top:
        table = _top_table(summary, top, with_config=True)
        if console.measure(table, options=console.options.update_width(10_000)).maximum > console.width:
            # Too wide to read as one table (80 columns when piped): results, then configs.
            console.print(_top_table(summary, top, with_config=False))
            console.print(_config_table(top))
        else:
            console.print(table)
    else:
        console.print(Text(f"No trial reported a finite value of {summary['metric']!r}.", style="yellow"))
    best = summary["best"]
    if best is not None:
        flat = _flatten(best["config"])
        pairs = ", ".join(f"{key}={_format(value)}" for key, value in flat.items())
        line = Text.assemble(("Best config", "bold"), f" ({best['trial_id']}): ", pairs or "{}")
        console.print(line)
    held_out = summary.get("test_metrics") or {}
    if held_out:
        pairs = ", ".join(f"{key}={_format(value)}" for key, value in held_out.items())
        console.print(
            Text.assemble(
                ("Test metrics of the best trial", "bold"), f" (picked by {summary['metric']}): ", pairs
            )
        )
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
                f"The sweep stopped before its end with {unfinished} unfinished "
                f"trial{'' if unfinished == 1 else 's'}; everything so far is saved. Resume with:\n"
                f"  {summary['resume_command']}",
                style="yellow",
            ),
            soft_wrap=True,
        )


def render_frame(frame: pd.DataFrame, console: Console) -> None:
    """Print a DataFrame as a table (floats with 4 significant digits, NaN as '-')."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype.kind == "O" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(Text(_format(None if _is_nan(v) else v)) for v in row))
    console.print(table)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def summary_to_csv(results: ExperimentResults) -> str:
    """The :meth:`~tunefleet.analysis.experiment.ExperimentResults.trials` table as CSV text."""
    return str(results.trials().to_csv(index=False))


def trials_to_parquet(results: ExperimentResults) -> bytes:
    """The :meth:`~tunefleet.analysis.experiment.ExperimentResults.trials` table as Parquet bytes.

    Config columns that mix types (a conditional hyperparameter: None or a number, or
    lists) are stored as their JSON text, since a Parquet column has one type.
    """
    import io
    import json

    trials = results.trials()
    for column in trials.columns[trials.dtypes.map(lambda d: d.kind == "O")]:
        kinds = {type(v) for v in trials[column] if v is not None}
        if len(kinds) > 1 or kinds & {list, dict, tuple}:
            trials[column] = [None if v is None else json.dumps(v, default=str) for v in trials[column]]
    buffer = io.BytesIO()
    trials.to_parquet(buffer, index=False)
    return buffer.getvalue()


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
    trials = f"{summary['num_trials']} trial{'' if summary['num_trials'] == 1 else 's'}"
    return Text.assemble(
        (str(summary["experiment"]["name"]), "bold"),
        f": {summary['metric']} ({summary['mode']}, scope={summary['scope']}), ",
        trials,
        f" ({counts})" if counts else "",
    )


def _top_table(summary: Mapping[str, Any], top: Sequence[Mapping[str, Any]], with_config: bool) -> Table:
    metric = summary["metric"]
    show_extra = metric != _EXTRA_METRIC and any(_EXTRA_METRIC in t["metrics"] for t in top)
    configs = [_flatten(t["config"]) for t in top]
    varying = varying_keys(configs) if with_config else []

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("trial_id")
    table.add_column(metric, justify="right", style="bold")
    if show_extra:
        table.add_column(_EXTRA_METRIC, justify="right")
    table.add_column("iter", justify="right")
    table.add_column("time", justify="right")
    table.add_column("status")
    for key in varying:
        table.add_column(key, justify="right")

    for rank, (trial, config) in enumerate(zip(top, configs, strict=True), start=1):
        cells = [str(rank), trial["trial_id"], _format(trial["value"])]
        if show_extra:
            cells.append(_format(trial["metrics"].get(_EXTRA_METRIC)))
        cells += [
            _format(trial["training_iteration"]),
            _format_duration(trial["time_total_s"]),
            status_label(trial),
        ]
        cells += [_format(config.get(key)) for key in varying]
        # Text cells: a value such as "[1, 2]" must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _config_table(top: Sequence[Mapping[str, Any]]) -> Table:
    """Rank and trial id, then the config keys that differ between the rows shown."""
    configs = [_flatten(t["config"]) for t in top]
    varying = varying_keys(configs)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("trial_id")
    for key in varying:
        table.add_column(key, justify="right")
    for rank, (trial, config) in enumerate(zip(top, configs, strict=True), start=1):
        cells = [str(rank), trial["trial_id"], *(_format(config.get(key)) for key in varying)]
        table.add_row(*(Text(cell) for cell in cells))
    return table


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
