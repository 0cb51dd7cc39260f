"""Load a finished (or interrupted) Ray Tune experiment directory into pandas DataFrames.

Works on any experiment directory, made by tunefleet or by plain Ray Tune
(``storage_path/name/`` with ``experiment_state-*.json`` and one folder per trial holding
``result.json``/``progress.csv``, ``params.json`` and, for failed trials, ``error.txt``).
Ray's files are read directly (:mod:`tunefleet.analysis.files`): 10,000 trials load in
seconds, without Ray's ``ExperimentAnalysis`` (whose numbers the tests check these against).

Each trial is summarized at one *ranking point*, a single reported result:

* ``scope="last"``: the last result that reported the metric (Ray's ``scope="last"``);
* ``scope="all"``: the result with the best value of the metric over all iterations
  (Ray's ``scope="all"``).

Trials are ranked by the metric's value there. A trial whose value is missing, NaN or
infinite is not ranked (Ray's ``get_best_trial`` skips those too) and sorts last.

Example:
    >>> results = load_results("runs/mnist", metric="val_loss", mode="min")  # doctest: +SKIP
    >>> results.trials().head()  # doctest: +SKIP
    >>> results.summary(top=3)["best"]["config"]  # doctest: +SKIP
    {'lr': 0.003, 'model': {'width': 64}}
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import pandas as pd
import yaml

from tunefleet.analysis.files import (
    FINAL_STATUSES,
    STATE_GLOB,
    TUNER_PKL,
    ExperimentFiles,
    TrialFiles,
    find_state_file,
    is_nan,
    objective_from_tuner_pkl,
    output_tail,
    read_experiment,
)
from tunefleet.divergence import DIVERGED, is_diverged
from tunefleet.errors import ConfigError, TunefleetError, did_you_mean

__all__ = ["ExperimentResults", "Scope", "held_out_metrics", "load_results"]

Scope = Literal["last", "all"]
Mode = Literal["min", "max"]

#: The resolved experiment file tunefleet writes into every experiment directory.
TUNEFLEET_YAML = "tunefleet.yaml"

# Keys Ray adds to every result. They say nothing about the model, so they are left out of
# the metric columns (training_iteration and time_total_s are kept, as their own columns).
_BOOKKEEPING_KEYS = frozenset(
    {
        "checkpoint_dir_name",
        "config",
        "date",
        "done",
        "experiment_id",
        "experiment_tag",
        "hostname",
        "iterations_since_restore",
        "node_ip",
        "pid",
        "should_checkpoint",
        "time_since_restore",
        "time_this_iter_s",
        "timestamp",
        "timesteps_since_restore",
        "trial_id",
    }
)
# result.json repeats the trial's config in every row; json_normalize flattens it to config/...
_CONFIG_PREFIX = "config/"
# Columns of ExperimentResults.trials() that are not reported metrics. A metric with one of
# these names is shown as reported/<name> instead.
_RESERVED_COLUMNS = frozenset({"trial_id", "status", "diverged", "value", "error"})
_STATUS_ORDER = ("TERMINATED", "ERROR", "RUNNING", "PAUSED", "PENDING")

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Ray appends one block per failure to error.txt, each starting with this header.
_FAILURE_HEADER = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)[ \t]*$", re.MULTILINE)
_TRACEBACK_EXCERPT_LINES = 20
# pydantic ends each of its errors with a link to its documentation: no news about the failure.
_DOCS_LINK = re.compile(r"^\s+For further information visit https?://\S+$")
_HEADLINE_CHARS = 500


def load_results(
    path: str | os.PathLike[str],
    metric: str | None = None,
    mode: str | None = None,
    scope: Scope = "last",
) -> ExperimentResults:
    """Load a Ray Tune experiment directory.

    Reading the results does not need a running Ray cluster.

    Args:
        path: The experiment directory (``storage_path/name``), the one holding
            ``experiment_state-*.json``.
        metric: Metric to rank trials by. Defaults to ``metric`` in ``<path>/tunefleet.yaml``. A
            metric given here that no trial reported is an error listing the reported ones.
        mode: ``"min"`` or ``"max"``. Defaults to ``mode`` in ``<path>/tunefleet.yaml``.
        scope: ``"last"`` ranks each trial by the last value it reported, ``"all"`` by the
            best value over all its iterations.

    Returns:
        The experiment's results, ranked best first.

    Raises:
        TunefleetError: ``path`` is not an experiment directory, its experiment state cannot
            be read, metric/mode/scope are invalid or missing (neither given nor in
            ``tunefleet.yaml``), or trials reported metrics but none reported ``metric``.
        ConfigError: ``tunefleet.yaml`` exists but is not a YAML mapping.

    Example:
        >>> results = load_results("runs/mnist-asha", scope="all")  # doctest: +SKIP
        >>> results.summary(top=3)["best"]["value"]  # doctest: +SKIP
        0.9812
    """
    exp_dir = Path(path).expanduser().resolve()
    _check_experiment_dir(exp_dir)
    if scope not in get_args(Scope):
        raise TunefleetError(f"scope must be one of {list(get_args(Scope))}, got {scope!r}")
    settings = _read_tunefleet_yaml(exp_dir / TUNEFLEET_YAML)
    files = read_experiment(exp_dir)
    asked_for = metric
    metric, checked_mode = _resolve_objective(exp_dir, settings, files, metric, mode)
    if asked_for is not None:
        # A metric asked for that no trial reported is a typo. The sweep's own metric unreported
        # is what the trials' errors explain (the summary lists them), not a reason to refuse.
        _check_metric_reported(exp_dir, files, metric)
    name = settings.get("name")
    return ExperimentResults(
        files,
        settings=settings,
        name=name if isinstance(name, str) and name else exp_dir.name,
        metric=metric,
        mode=checked_mode,
        scope=scope,
    )


@dataclass(frozen=True)
class _TrialRecord:
    """One trial's results as arrays (see :func:`_trial_records`)."""

    trial_id: str
    status: str
    config: dict[str, Any]  # nested, as the trial received it
    num_failures: int
    columns: dict[str, np.ndarray]  # reported metrics, one array per key, one entry per result
    num_results: int
    state_result: dict[str, Any]  # last result in the experiment state, flat; {} if unused
    last_reported_nan: bool  # the last value reported for the ranking metric is NaN
    diverged: bool  # its last result said so, or the ranking metric went NaN/infinite
    error_file: Path | None
    error_text: str | None
    directory: Path | None  # the trial's folder, None when unknown

    @property
    def unfinished(self) -> bool:
        """Neither finished nor failed when the sweep was last saved: a resume continues it."""
        return self.status not in FINAL_STATUSES


@dataclass(frozen=True)
class _RankedTrial:
    """One trial at its ranking point (see the module docstring)."""

    record: _TrialRecord
    value: float  # NaN when the trial has no rankable value
    metrics: dict[str, Any]  # reported scalar metrics at the ranking point

    @property
    def ranked(self) -> bool:
        return math.isfinite(self.value)


class ExperimentResults:
    """The trials of one experiment, ranked by a metric; build it with :func:`load_results`.

    Attributes:
        path: The experiment directory.
        name: The experiment's name (``name`` in tunefleet.yaml, else the folder's name).
        metric: The metric trials are ranked by.
        mode: ``"min"`` or ``"max"``.
        scope: ``"last"`` or ``"all"`` (see the module docstring).
        settings: ``tunefleet.yaml`` as a dict ({} for a plain Ray Tune directory).

    Everything is computed on first use; DataFrame methods return a fresh copy each call.
    """

    def __init__(
        self,
        files: ExperimentFiles,
        *,
        settings: dict[str, Any],
        name: str,
        metric: str,
        mode: Mode,
        scope: Scope,
    ) -> None:
        self.path = files.path
        self.name = name
        self.metric = metric
        self.mode: Mode = mode
        self.scope: Scope = scope
        self.settings = settings
        self._files = files
        self._records: list[_TrialRecord] | None = None
        self._results: pd.DataFrame | None = None
        self._ranked: list[_RankedTrial] | None = None
        self._trials_df: pd.DataFrame | None = None
        self._errors_df: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (
            f"ExperimentResults({str(self.path)!r}, metric={self.metric!r}, mode={self.mode!r}, "
            f"scope={self.scope!r}, num_trials={len(self._files.trials)})"
        )

    def trials(self) -> pd.DataFrame:
        """One row per trial at its ranking point, best first (unranked trials last).

        Columns: ``trial_id``, ``status`` (Ray's), ``diverged`` (the last result said
        ``diverged: true`` or the metric went NaN/infinite: stopped, not failed), ``value``
        (the metric at the ranking point),
        ``training_iteration``, ``time_total_s``, every other reported metric (Ray's
        bookkeeping keys left out; a metric named like a fixed column becomes
        ``reported/<name>``), the config as ``config/<key>`` columns (nested keys joined
        with ``/``), and ``error`` (the exception line of the latest failure, or None).
        """
        if self._trials_df is None:
            self._trials_df = _trials_frame(self._ranked_trials())
        return self._trials_df.copy()

    def history(self, bookkeeping: bool = False) -> pd.DataFrame:
        """Every result every trial reported, in trial order then reporting order.

        Args:
            bookkeeping: Also return Ray's bookkeeping columns (``timestamp``, ``hostname``,
                ``node_ip``, ``time_this_iter_s``, ...).

        Returns:
            Columns ``trial_id``, ``training_iteration``, ``time_total_s``, the reported
            metrics, and ``wall_time_s``: when the result was reported, in seconds since the
            experiment started.
        """
        frame = self._results_frame()
        if not bookkeeping:
            frame = frame[[c for c in frame.columns if c == "trial_id" or _is_metric_column(c)]]
        return frame.copy()

    def importance(self, seed: int = 0) -> pd.DataFrame:
        """Hyperparameter importance, most important first (see :mod:`tunefleet.analysis.importance`)."""
        from tunefleet.analysis.importance import importance

        return importance(self, seed=seed)

    def pbt_lineage(self) -> pd.DataFrame:
        """Every PBT exploit/explore decision, oldest first (see :mod:`tunefleet.analysis.pbt`)."""
        from tunefleet.analysis.pbt import lineage

        return lineage(self)

    def pbt_schedule(self, trial_id: str | None = None) -> pd.DataFrame:
        """The hyperparameter schedule a PBT trial's weights were trained with (default: the best).

        Returns:
            ``start_iteration``, ``end_iteration``, ``trial`` (whose run these iterations were)
            and ``config``, in iteration order.
        """
        from tunefleet.analysis.pbt import lineage, schedule

        trials = self.trials()
        if trial_id is None:
            if trials.empty:
                raise TunefleetError(f"{self.path}: no trial reported {self.metric}")
            trial_id = str(trials.iloc[0]["trial_id"])
        rows = trials[trials["trial_id"].astype(str) == trial_id]
        if rows.empty:
            raise TunefleetError(f"{self.path}: no trial {trial_id!r}")
        end = int(rows.iloc[0]["training_iteration"])
        return schedule(lineage(self), trial_id, end, self.configs())

    def configs(self) -> dict[str, dict[str, Any]]:
        """Each trial's config (nested), by trial id, as Ray last saved it."""
        return {t.trial_id: t.config for t in self._files.trials}

    def trial_info(self) -> pd.DataFrame:
        """One row per trial, in Ray's order: ``trial_id``, ``status``, ``tag`` (Ray's
        experiment tag), ``start_time`` (Unix seconds) and ``num_failures``."""
        return pd.DataFrame(
            {
                "trial_id": [t.trial_id for t in self._files.trials],
                "status": [t.status for t in self._files.trials],
                "tag": [t.tag for t in self._files.trials],
                "start_time": [t.start_time for t in self._files.trials],
                "num_failures": [t.num_failures for t in self._files.trials],
            }
        )

    def errors(self) -> pd.DataFrame:
        """Trials that failed: status ERROR, or an ``error.txt`` left by a failure Ray retried.

        Columns: ``trial_id``, ``status``, ``num_failures``, ``error`` (the exception line of
        the latest failure), ``traceback`` (the end of the latest failure's traceback),
        ``error_file`` and ``output`` (the last lines the trial printed to stdout and stderr,
        or None).
        """
        if self._errors_df is None:
            self._errors_df = _errors_frame(self._trial_records())
        return self._errors_df.copy()

    def summary(self, top: int = 5) -> dict[str, Any]:
        """A JSON-serializable summary (plain Python values; NaN and infinities become None).

        Args:
            top: How many of the best ranked trials to list under ``"top"``.

        Returns:
            A dict with keys ``experiment`` (``path``, ``name``), ``metric``, ``mode``,
            ``scope``, ``num_trials``, ``num_errors`` (trials with status ERROR),
            ``num_diverged``, ``num_unfinished`` (trials the last snapshot of the sweep had
            neither finished nor failed), ``resume_command`` (the command that continues a
            tunefleet sweep with unfinished trials, else None), ``status_counts``, ``best``
            (a trial object, or None when no trial reported a finite value of the metric),
            ``top`` (at most ``top`` trial objects, best first), ``test_metrics`` (the best
            trial's metrics measured on the test set, see :func:`held_out_metrics`: the trial
            is picked by validation, these say how it generalizes) and ``errors``
            (``trial_id``, ``status``, ``error``, ``traceback``, ``output`` for each row of
            :meth:`errors`). A trial object has ``trial_id``, ``config`` (nested), ``value``,
            ``metrics``, ``training_iteration``, ``time_total_s``, ``status`` and ``diverged``.

        Raises:
            TunefleetError: ``top`` is negative.
        """
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            raise TunefleetError(f"top must be an integer >= 0, got {top!r}")
        ranked = [t for t in self._ranked_trials() if t.ranked]
        records = self._trial_records()
        statuses = Counter(r.status for r in records)
        unfinished = sum(r.unfinished for r in records)
        resumable = unfinished > 0 and bool(self.settings) and (self.path / TUNER_PKL).is_file()
        errors = self.errors()
        summary = {
            "experiment": {"path": str(self.path), "name": self.name},
            "metric": self.metric,
            "mode": self.mode,
            "scope": self.scope,
            "num_trials": len(self._trial_records()),
            "num_errors": statuses.get("ERROR", 0),
            "num_diverged": sum(r.diverged for r in records),
            "num_unfinished": unfinished,
            "resume_command": _resume_command(self.path) if resumable else None,
            "status_counts": {s: statuses[s] for s in _sort_statuses(statuses)},
            "best": _trial_object(ranked[0]) if ranked else None,
            "top": [_trial_object(t) for t in ranked[:top]],
            "test_metrics": held_out_metrics(ranked[0].metrics) if ranked else {},
            "errors": [
                {
                    "trial_id": row.trial_id,
                    "status": row.status,
                    "error": row.error,
                    "traceback": row.traceback,
                    "output": row.output,
                }
                for row in errors.itertuples(index=False)
            ],
        }
        return cast("dict[str, Any]", _jsonable(summary))

    def _results_frame(self) -> pd.DataFrame:
        if self._results is None:
            self._results = _results_frame(self._files)
        return self._results

    def _trial_records(self) -> list[_TrialRecord]:
        if self._records is None:
            self._records = _trial_records(self._files, self._results_frame(), self.metric)
        return self._records

    def _ranked_trials(self) -> list[_RankedTrial]:
        if self._ranked is None:
            ranked = [
                _at_ranking_point(record, self.metric, self.mode, self.scope)
                for record in self._trial_records()
            ]
            # Stable sort: ties keep ExperimentAnalysis' trial order, so the first trial is the
            # one get_best_trial() returns.
            sign = 1.0 if self.mode == "min" else -1.0
            ranked.sort(key=lambda t: (0, sign * t.value) if t.ranked else (1, 0.0))
            self._ranked = ranked
        return self._ranked


def _trials_frame(ranked: list[_RankedTrial]) -> pd.DataFrame:
    fixed = ["training_iteration", "time_total_s"]
    metric_names = [m for m in _ordered_union(t.metrics for t in ranked) if m not in fixed]
    renamed = {m: f"reported/{m}" if m in _RESERVED_COLUMNS else m for m in metric_names}
    flat_configs = [_flatten(t.record.config, _CONFIG_PREFIX) for t in ranked]
    rows = []
    for trial, flat_config in zip(ranked, flat_configs, strict=True):
        row: dict[str, Any] = {
            "trial_id": trial.record.trial_id,
            "status": trial.record.status,
            "diverged": trial.record.diverged,
            "value": trial.value,
            "training_iteration": trial.metrics.get("training_iteration"),
            "time_total_s": trial.metrics.get("time_total_s"),
        }
        row.update({renamed[m]: v for m, v in trial.metrics.items() if m in renamed})
        row.update(flat_config)
        rows.append(row)
    columns = [
        "trial_id",
        "status",
        "diverged",
        "value",
        *fixed,
        *renamed.values(),
        *_ordered_union(flat_configs),
    ]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame["value"] = frame["value"].astype(float)
    frame["training_iteration"] = pd.to_numeric(frame["training_iteration"]).astype("Int64")
    frame["time_total_s"] = pd.to_numeric(frame["time_total_s"]).astype(float)
    # object dtype with None: pandas 3 would infer its string dtype (NaN for missing) only
    # when some trial failed.
    errors = [_error_headline(t.record.error_text) for t in ranked]
    frame["error"] = pd.Series(errors, dtype=object)
    return frame


def _results_frame(files: ExperimentFiles) -> pd.DataFrame:
    """Every result of every trial, all columns, in one frame built at once (one DataFrame per
    trial, as Ray builds them, is ~10x slower for 10k trials)."""
    trials = [t for t in files.trials if t.rows]
    lengths = np.array([len(t.rows) for t in trials], dtype=int)
    rows = [row for t in trials for row in t.rows]
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    frame["trial_id"] = np.repeat([t.trial_id for t in trials], lengths) if rows else []
    fixed = ["trial_id", "training_iteration", "time_total_s"]
    for column in fixed[1:]:
        if column not in frame:
            frame[column] = np.nan
    frame = frame[fixed + [c for c in frame.columns if c not in fixed]]
    frame["wall_time_s"] = _wall_time(frame, trials, lengths, files.start_time)
    return frame


def _wall_time(
    frame: pd.DataFrame, trials: list[TrialFiles], lengths: np.ndarray, start_time: float | None
) -> np.ndarray:
    """Seconds from the experiment's start to each result.

    ``timestamp`` has whole seconds; the trial's start time plus ``time_total_s`` is exact
    for a trial never restored from a checkpoint (PBT restores), so it is used there.
    """
    if frame.empty:
        return np.empty(0)
    total = pd.to_numeric(frame["time_total_s"], errors="coerce").to_numpy(dtype=float)
    stamp = pd.to_numeric(frame.get("timestamp"), errors="coerce")
    stamp = np.full(len(frame), np.nan) if stamp is None else np.asarray(stamp, dtype=float)
    starts = np.repeat([math.nan if t.start_time is None else t.start_time for t in trials], lengths)
    clock = starts + total
    since_restore = frame.get("iterations_since_restore")
    if since_restore is not None:
        restored = pd.to_numeric(since_restore, errors="coerce").to_numpy(dtype=float) != pd.to_numeric(
            frame["training_iteration"], errors="coerce"
        ).to_numpy(dtype=float)
        clock[restored] = stamp[restored]
    clock = np.where(np.isnan(clock), stamp, clock)
    origin = start_time
    if origin is None or not math.isfinite(origin):
        candidates = clock - np.nan_to_num(total)
        origin = float(np.nanmin(candidates)) if np.isfinite(candidates).any() else 0.0
    return np.asarray(clock - origin, dtype=float)


def _trial_records(files: ExperimentFiles, results: pd.DataFrame, metric: str) -> list[_TrialRecord]:
    arrays = {c: results[c].to_numpy() for c in results.columns if _is_metric_column(c)}
    records = []
    offset = 0
    for trial in files.trials:
        count = len(trial.rows)
        keys = dict.fromkeys(itertools.chain.from_iterable(trial.rows))  # in reporting order
        last_value = next((row[metric] for row in reversed(trial.rows) if metric in row), None)
        if last_value is None:
            last_value = trial.state_result.get(metric)
        last_flag = next((row[DIVERGED] for row in reversed(trial.rows) if DIVERGED in row), None)
        records.append(
            _TrialRecord(
                trial_id=trial.trial_id,
                status=trial.status,
                config=trial.config,
                num_failures=trial.num_failures,
                columns={c: arrays[c][offset : offset + count] for c in keys if c in arrays},
                num_results=count,
                # No result file (deleted, or Ray's loggers disabled): the experiment state's.
                state_result={} if count else trial.state_result,
                last_reported_nan=is_nan(last_value),
                diverged=is_nan(last_value) or is_diverged({metric: last_value, DIVERGED: last_flag}, metric),
                error_file=trial.error_file,
                error_text=trial.error_text,
                directory=trial.directory,
            )
        )
        offset += count
    return records


def _errors_frame(records: list[_TrialRecord]) -> pd.DataFrame:
    rows = []
    for record in records:
        if record.error_text is None and record.status != "ERROR":
            continue
        text = record.error_text
        rows.append(
            {
                "trial_id": record.trial_id,
                "status": record.status,
                "num_failures": record.num_failures,
                "error": _error_headline(text),
                "traceback": None if text is None else _traceback_excerpt(_latest_failure(text)),
                "error_file": None if text is None else str(record.error_file),
                "output": output_tail(record.directory),
            }
        )
    columns = ["trial_id", "status", "num_failures", "error", "traceback", "error_file", "output"]
    return pd.DataFrame.from_records(rows, columns=columns)


# -- loading ----------------------------------------------------------------------------------


def _check_experiment_dir(exp_dir: Path) -> None:
    if not exp_dir.exists():
        raise TunefleetError(f"{exp_dir} does not exist; expected a Ray Tune experiment directory")
    if not exp_dir.is_dir():
        raise TunefleetError(f"{exp_dir} is a file; expected a Ray Tune experiment directory")
    if find_state_file(exp_dir) is not None:
        return
    message = f"{exp_dir} is not a Ray Tune experiment directory: no {STATE_GLOB}"
    # A common slip is passing storage_path instead of storage_path/name: name the candidates.
    inside = sorted(p.name for p in exp_dir.iterdir() if p.is_dir() and find_state_file(p) is not None)
    if inside:
        shown = ", ".join(inside[:5]) + (", ..." if len(inside) > 5 else "")
        message += f" (experiment directories inside it: {shown})"
    raise TunefleetError(message)


def _read_tunefleet_yaml(yaml_path: Path) -> dict[str, Any]:
    """The resolved experiment file tunefleet wrote, or {} when there is none."""
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(yaml_path, "", f"cannot read the file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError.single(yaml_path, "", f"not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError.single(yaml_path, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


def _resolve_objective(
    exp_dir: Path, settings: Mapping[str, Any], files: ExperimentFiles, metric: str | None, mode: str | None
) -> tuple[str, Mode]:
    """Metric and mode from the arguments, else tunefleet.yaml, else what Ray Tune was given.

    For a plain Ray Tune directory the metric is in the experiment state and the mode in
    ``tuner.pkl`` (read only when needed: unpickling it imports Ray).
    """
    yaml_path = exp_dir / TUNEFLEET_YAML
    metric = metric if metric is not None else settings.get("metric")
    mode = mode if mode is not None else settings.get("mode")
    if metric is None:
        metric = files.metric
    if mode is None:
        _, mode = objective_from_tuner_pkl(exp_dir)
    missing = [key for key, value in (("metric", metric), ("mode", mode)) if value is None]
    if missing:
        if yaml_path.exists():
            source = f"{yaml_path} has no {' or '.join(missing)}"
        else:
            source = f"there is no {yaml_path} and Ray Tune was not given one"
        raise TunefleetError(
            f"{exp_dir}: no {' or '.join(missing)} to rank trials by ({source}); pass "
            + " and ".join(f"{key}=... (CLI: --{key})" for key in missing)
        )
    if not isinstance(metric, str) or not metric:
        raise TunefleetError(f"{exp_dir}: metric must be a non-empty string, got {metric!r}")
    if mode not in get_args(Mode):
        raise TunefleetError(f"{exp_dir}: mode must be 'min' or 'max', got {mode!r}")
    return metric, cast("Mode", mode)


def _check_metric_reported(exp_dir: Path, files: ExperimentFiles, metric: str) -> None:
    """A metric no trial reported is a typo or the wrong experiment: an error listing what was
    reported. A sweep whose trials reported nothing at all (they all failed at once) loads."""
    results = [row for trial in files.trials for row in trial.rows or [trial.state_result]]
    if any(metric in row for row in results):
        return
    reported = [name for name in _ordered_union(results) if _is_metric_column(name)]
    if reported:
        raise TunefleetError(
            f"{exp_dir}: no trial reported {metric!r}{did_you_mean(metric, reported)}; reported metrics: "
            f"{', '.join(reported)}; pass one of them as metric (CLI: --metric)"
        )


# -- the ranking point ------------------------------------------------------------------------


def _at_ranking_point(record: _TrialRecord, metric: str, mode: Mode, scope: Scope) -> _RankedTrial:
    position = _ranking_position(record, metric, mode, scope)
    if position is not None:
        point = {name: values[position] for name, values in record.columns.items()}
    else:
        point = record.state_result
    return _RankedTrial(
        record=record,
        value=_as_float(point.get(metric)),
        metrics={k: v for k, v in point.items() if _is_metric_column(k) and _is_scalar(v)},
    )


def _ranking_position(record: _TrialRecord, metric: str, mode: Mode, scope: Scope) -> int | None:
    """Index of the result a trial is ranked by, or None when it has no results."""
    if not record.num_results:
        return None
    position = record.num_results - 1  # the last result
    values = record.columns.get(metric)
    if values is None:
        return position
    reported = np.flatnonzero(pd.notna(values))
    # A NaN report and a result without the metric are both NaN here; only Ray's per-trial
    # statistics tell them apart. A NaN last report makes the trial unranked under "last".
    if len(reported) and not record.last_reported_nan:
        position = int(reported[-1])
    if scope == "all":
        numeric = pd.to_numeric(values, errors="coerce").astype(float)
        finite = np.flatnonzero(np.isfinite(numeric))
        if len(finite):
            pick = np.argmin if mode == "min" else np.argmax
            position = int(finite[pick(numeric[finite])])  # the first of equal bests
    return position


def _is_metric_column(name: object) -> bool:
    return isinstance(name, str) and name not in _BOOKKEEPING_KEYS and not name.startswith(_CONFIG_PREFIX)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def _as_float(value: Any) -> float:
    """The metric value as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- error.txt --------------------------------------------------------------------------------


def _latest_failure(text: str) -> str:
    """The block of the latest failure in an error.txt, without ANSI colors or its header."""
    text = _ANSI_ESCAPE.sub("", text)
    headers = list(_FAILURE_HEADER.finditer(text))
    if headers:
        text = text[headers[-1].end() :]
    return text.strip("\n")


def _error_headline(text: str | None) -> str | None:
    """The exception of the latest failure on one line, e.g. ``ValueError: loss diverged``.

    Ray's error.txt starts with a ``Failure # 1 (occurred at ...)`` header and the worker's
    ``ray::...`` line; the exception itself starts at the first unindented line after the last
    stack frame. A message of several lines (pydantic's names each field on a line of its own,
    the reason indented under it) is kept: its lines joined with ``; ``, an indented line to the
    one above it with ``: ``. Errors without a traceback (a node died) give their first line.
    """
    if text is None:
        return None
    lines = [line.rstrip() for line in _latest_failure(text).splitlines()]
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    after_frames = lines[frames[-1] + 1 :] if frames else []
    start = next((i for i, line in enumerate(after_frames) if line and not line[0].isspace()), None)
    if start is None:
        return next((line.strip() for line in lines if line.strip()), "") or None
    parts: list[str] = []
    for line in after_frames[start:]:
        if not line.strip() or _DOCS_LINK.match(line):
            continue
        if parts and line[0].isspace():
            parts[-1] += (" " if parts[-1].endswith(":") else ": ") + line.strip()
        else:
            parts.append(line.strip())
    headline = "; ".join(parts)
    return headline if len(headline) <= _HEADLINE_CHARS else headline[: _HEADLINE_CHARS - 1] + "…"


def _traceback_excerpt(block: str) -> str:
    """The last lines of a failure block, without the ``^^^^`` marker lines."""
    lines = [line for line in block.splitlines() if line.strip().strip("^~")]
    return "\n".join(lines[-_TRACEBACK_EXCERPT_LINES:])


# -- small helpers ----------------------------------------------------------------------------


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{prefix + "a/b": 1}``; lists and other values stay whole."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _ordered_union(keyed: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key, in order of first appearance."""
    seen: dict[str, None] = {}
    for mapping in keyed:
        seen.update(dict.fromkeys(mapping))
    return list(seen)


def _sort_statuses(statuses: Iterable[str]) -> list[str]:
    known = {s: i for i, s in enumerate(_STATUS_ORDER)}
    return sorted(statuses, key=lambda s: (known.get(s, len(known)), s))


def _resume_command(path: Path) -> str:
    from tunefleet.rundir import resume_command

    return resume_command(path)


def held_out_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics measured on the test set: names starting with ``test`` or ending with ``_test``."""
    return {k: v for k, v in metrics.items() if k.lower().startswith("test") or k.lower().endswith("_test")}


def _trial_object(trial: _RankedTrial) -> dict[str, Any]:
    """A trial as it appears under ``best`` and ``top`` in :meth:`ExperimentResults.summary`."""
    return {
        "trial_id": trial.record.trial_id,
        "config": trial.record.config,
        "value": trial.value,
        "metrics": trial.metrics,
        "training_iteration": trial.metrics.get("training_iteration"),
        "time_total_s": trial.metrics.get("time_total_s"),
        "status": trial.record.status,
        "diverged": trial.record.diverged,
    }


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy/pandas scalars unwrapped, NaN/inf/NA -> None, else str()."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)
