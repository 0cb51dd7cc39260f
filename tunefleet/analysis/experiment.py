"""Load a finished (or interrupted) Ray Tune experiment directory into pandas DataFrames.

Works on any experiment directory, made by tunefleet or by plain Ray Tune
(``storage_path/name/`` with ``experiment_state-*.json`` and one folder per trial holding
``result.json``/``progress.csv``, ``params.json`` and, for failed trials, ``error.txt``).
Loading goes through :class:`ray.tune.ExperimentAnalysis`; this module is the one place in
:mod:`tunefleet.analysis` that touches Ray objects.

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
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import numpy as np
import pandas as pd
import yaml

from tunefleet.errors import ConfigError, TunefleetError

if TYPE_CHECKING:
    from ray.tune import ExperimentAnalysis
    from ray.tune.experiment import Trial

__all__ = ["ExperimentResults", "Scope", "load_results"]

logger = logging.getLogger(__name__)

Scope = Literal["last", "all"]
Mode = Literal["min", "max"]

#: The resolved experiment file tunefleet writes into every experiment directory.
TUNEFLEET_YAML = "tunefleet.yaml"
_STATE_GLOB = "experiment_state-*.json"  # Ray's TuneController.CKPT_FILE_TMPL
_ERROR_FILE = "error.txt"

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
_RESERVED_COLUMNS = frozenset({"trial_id", "status", "value", "error"})
_STATUS_ORDER = ("TERMINATED", "ERROR", "RUNNING", "PAUSED", "PENDING")

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Ray appends one block per failure to error.txt, each starting with this header.
_FAILURE_HEADER = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)[ \t]*$", re.MULTILINE)
_TRACEBACK_EXCERPT_LINES = 20


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
        metric: Metric to rank trials by. Defaults to ``metric`` in ``<path>/tunefleet.yaml``.
        mode: ``"min"`` or ``"max"``. Defaults to ``mode`` in ``<path>/tunefleet.yaml``.
        scope: ``"last"`` ranks each trial by the last value it reported, ``"all"`` by the
            best value over all its iterations.

    Returns:
        The experiment's results, ranked best first.

    Raises:
        TunefleetError: ``path`` is not an experiment directory, its experiment state cannot
            be read, or metric/mode/scope are invalid or missing (neither given nor in
            ``tunefleet.yaml``).
        ConfigError: ``tunefleet.yaml`` exists but is not a YAML mapping.

    Example:
        >>> results = load_results("runs/mnist-asha", scope="all")  # doctest: +SKIP
        >>> results.summary(top=3)["best"]["value"]  # doctest: +SKIP
        0.9812
    """
    exp_dir = Path(path).expanduser().resolve()
    _check_experiment_dir(exp_dir)
    settings = _read_tunefleet_yaml(exp_dir / TUNEFLEET_YAML)
    metric, checked_mode = _resolve_objective(exp_dir, settings, metric, mode)
    if scope not in get_args(Scope):
        raise TunefleetError(f"scope must be one of {list(get_args(Scope))}, got {scope!r}")
    name = settings.get("name")
    analysis = _load_analysis(exp_dir, metric, checked_mode)
    return ExperimentResults(
        analysis,
        path=exp_dir,
        name=name if isinstance(name, str) and name else exp_dir.name,
        metric=metric,
        mode=checked_mode,
        scope=scope,
    )


@dataclass(frozen=True)
class _TrialRecord:
    """What this module reads from one Ray trial, as plain data (see :func:`_read_trial`)."""

    trial_id: str
    status: str
    config: dict[str, Any]  # nested, as the trial received it
    num_failures: int
    columns: dict[str, np.ndarray]  # reported metrics, one array per key, one entry per result
    num_results: int
    state_result: dict[str, Any]  # last result in the experiment state, flat; {} if unused
    last_reported_nan: bool  # the last value Ray recorded for the ranking metric is NaN
    error_file: Path | None
    error_text: str | None


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

    The underlying :class:`ray.tune.ExperimentAnalysis` is available as :attr:`analysis`.
    Everything is computed on first use; DataFrame methods return a fresh copy each call.
    """

    def __init__(
        self,
        analysis: ExperimentAnalysis,
        *,
        path: Path,
        name: str,
        metric: str,
        mode: Mode,
        scope: Scope,
    ) -> None:
        self.analysis = analysis
        self.path = path
        self.name = name
        self.metric = metric
        self.mode: Mode = mode
        self.scope: Scope = scope
        self._records: list[_TrialRecord] | None = None
        self._ranked: list[_RankedTrial] | None = None
        self._trials_df: pd.DataFrame | None = None
        self._history_df: pd.DataFrame | None = None
        self._errors_df: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (
            f"ExperimentResults({str(self.path)!r}, metric={self.metric!r}, mode={self.mode!r}, "
            f"scope={self.scope!r}, num_trials={len(self.analysis.trials)})"
        )

    def trials(self) -> pd.DataFrame:
        """One row per trial at its ranking point, best first (unranked trials last).

        Columns: ``trial_id``, ``status``, ``value`` (the metric at the ranking point),
        ``training_iteration``, ``time_total_s``, every other reported metric (Ray's
        bookkeeping keys left out; a metric named like a fixed column becomes
        ``reported/<name>``), the config as ``config/<key>`` columns (nested keys joined
        with ``/``), and ``error`` (the exception line of the latest failure, or None).
        """
        if self._trials_df is None:
            self._trials_df = _trials_frame(self._ranked_trials())
        return self._trials_df.copy()

    def history(self) -> pd.DataFrame:
        """Every result every trial reported, in trial order then reporting order.

        Columns: ``trial_id``, ``training_iteration``, ``time_total_s`` and the reported
        metrics (Ray's bookkeeping keys left out).
        """
        if self._history_df is None:
            self._history_df = _history_frame(self._trial_records())
        return self._history_df.copy()

    def errors(self) -> pd.DataFrame:
        """Trials that failed: status ERROR, or an ``error.txt`` left by a failure Ray retried.

        Columns: ``trial_id``, ``status``, ``num_failures``, ``error`` (the exception line of
        the latest failure), ``traceback`` (the end of the latest failure's traceback) and
        ``error_file``.
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
            ``status_counts``, ``best`` (a trial object, or None when no trial reported a
            finite value of the metric), ``top`` (at most ``top`` trial objects, best
            first) and ``errors`` (``trial_id``, ``status``, ``error`` for each row of
            :meth:`errors`). A trial object has ``trial_id``, ``config`` (nested),
            ``value``, ``metrics``, ``training_iteration``, ``time_total_s`` and ``status``.

        Raises:
            TunefleetError: ``top`` is negative.
        """
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            raise TunefleetError(f"top must be an integer >= 0, got {top!r}")
        ranked = [t for t in self._ranked_trials() if t.ranked]
        statuses = Counter(r.status for r in self._trial_records())
        errors = self.errors()
        summary = {
            "experiment": {"path": str(self.path), "name": self.name},
            "metric": self.metric,
            "mode": self.mode,
            "scope": self.scope,
            "num_trials": len(self._trial_records()),
            "num_errors": statuses.get("ERROR", 0),
            "status_counts": {s: statuses[s] for s in _sort_statuses(statuses)},
            "best": _trial_object(ranked[0]) if ranked else None,
            "top": [_trial_object(t) for t in ranked[:top]],
            "errors": [
                {"trial_id": row.trial_id, "status": row.status, "error": row.error}
                for row in errors.itertuples(index=False)
            ],
        }
        return cast("dict[str, Any]", _jsonable(summary))

    def _trial_records(self) -> list[_TrialRecord]:
        if self._records is None:
            frames = self.analysis.trial_dataframes
            self._records = [
                _read_trial(trial, frames.get(trial.trial_id), self.metric) for trial in self.analysis.trials
            ]
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
            if not any(self.metric in t.metrics for t in ranked):
                reported = _ordered_union(t.metrics for t in ranked)
                logger.warning(
                    "%s: no trial reported %r; reported metrics: %s",
                    self.path,
                    self.metric,
                    ", ".join(reported) or "none",
                )
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


def _history_frame(records: list[_TrialRecord]) -> pd.DataFrame:
    # Built column by column from numpy arrays: pd.concat over 10k small DataFrames is ~10x
    # slower.
    records = [r for r in records if r.num_results]
    fixed = ["training_iteration", "time_total_s"]
    names = fixed + [n for n in _ordered_union(r.columns for r in records) if n not in fixed]
    lengths = [r.num_results for r in records]
    data: dict[str, Any] = {"trial_id": np.repeat([r.trial_id for r in records], lengths)}
    for name in names:
        parts = [r.columns.get(name, np.full(r.num_results, np.nan)) for r in records]
        data[name] = np.concatenate(parts) if parts else np.empty(0)
    return pd.DataFrame(data)


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
            }
        )
    columns = ["trial_id", "status", "num_failures", "error", "traceback", "error_file"]
    return pd.DataFrame.from_records(rows, columns=columns)


# -- loading ----------------------------------------------------------------------------------


def _check_experiment_dir(exp_dir: Path) -> None:
    if not exp_dir.exists():
        raise TunefleetError(f"{exp_dir} does not exist; expected a Ray Tune experiment directory")
    if not exp_dir.is_dir():
        raise TunefleetError(f"{exp_dir} is a file; expected a Ray Tune experiment directory")
    if any(exp_dir.glob(_STATE_GLOB)):
        return
    message = f"{exp_dir} is not a Ray Tune experiment directory: no {_STATE_GLOB}"
    # A common slip is passing storage_path instead of storage_path/name: name the candidates.
    inside = sorted(p.name for p in exp_dir.iterdir() if p.is_dir() and any(p.glob(_STATE_GLOB)))
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
    exp_dir: Path, settings: Mapping[str, Any], metric: str | None, mode: str | None
) -> tuple[str, Mode]:
    """Metric and mode from the arguments, else from tunefleet.yaml."""
    yaml_path = exp_dir / TUNEFLEET_YAML
    metric = metric if metric is not None else settings.get("metric")
    mode = mode if mode is not None else settings.get("mode")
    missing = [key for key, value in (("metric", metric), ("mode", mode)) if value is None]
    if missing:
        if yaml_path.exists():
            source = f"{yaml_path} has no {' or '.join(missing)}"
        else:
            source = f"there is no {yaml_path}"
        raise TunefleetError(
            f"{exp_dir}: no {' or '.join(missing)} to rank trials by ({source}); pass "
            + " and ".join(f"{key}=... (CLI: --{key})" for key in missing)
        )
    if not isinstance(metric, str) or not metric:
        raise TunefleetError(f"{exp_dir}: metric must be a non-empty string, got {metric!r}")
    if mode not in get_args(Mode):
        raise TunefleetError(f"{exp_dir}: mode must be 'min' or 'max', got {mode!r}")
    return metric, cast("Mode", mode)


def _load_analysis(exp_dir: Path, metric: str, mode: Mode) -> ExperimentAnalysis:
    # Imported here: `import ray.tune` takes over a second, and the CLI imports this package
    # for every command.
    from ray.tune import ExperimentAnalysis

    try:
        return ExperimentAnalysis(str(exp_dir), default_metric=metric, default_mode=mode)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A truncated or foreign experiment_state-*.json (json/cloudpickle errors).
        raise TunefleetError(f"{exp_dir}: cannot read the experiment state: {exc}") from exc


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


# -- Ray trials -------------------------------------------------------------------------------


def _read_trial(trial: Trial, frame: pd.DataFrame | None, metric: str) -> _TrialRecord:
    """Everything needed from one Ray trial. Trial is a Ray developer API: read it only here."""
    columns: dict[str, np.ndarray] = {}
    num_results = 0
    state_result: dict[str, Any] = {}
    if frame is not None and "training_iteration" in frame and frame["training_iteration"].duplicated().any():
        # A trial continued from a checkpoint (a retry, or a resumed sweep) reports the
        # iterations after that checkpoint again; the later report of each one is its history.
        frame = frame.drop_duplicates("training_iteration", keep="last").reset_index(drop=True)
    if frame is not None and not frame.empty:
        columns = {str(c): frame[c].to_numpy() for c in frame.columns if _is_metric_column(c)}
        num_results = len(frame)
    elif trial.has_reported_at_least_once:
        # No result file (deleted, or Ray's loggers disabled): use the last result saved in
        # the experiment state.
        state_result = _flatten(trial.last_result)
    last_value = trial.metric_analysis.get(metric, {}).get("last")
    error_file = None
    if trial.path is not None:
        error_file = Path(trial.path, trial.run_metadata.error_filename or _ERROR_FILE)
    return _TrialRecord(
        trial_id=str(trial.trial_id),
        status=str(trial.status),
        config=trial.config,
        num_failures=int(trial.num_failures),
        columns=columns,
        num_results=num_results,
        state_result=state_result,
        last_reported_nan=isinstance(last_value, float) and math.isnan(last_value),
        error_file=error_file,
        # Read the file even if the experiment state (saved periodically) predates the failure.
        error_text=_read_text(error_file) if error_file is not None else None,
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# -- error.txt --------------------------------------------------------------------------------


def _latest_failure(text: str) -> str:
    """The block of the latest failure in an error.txt, without ANSI colors or its header."""
    text = _ANSI_ESCAPE.sub("", text)
    headers = list(_FAILURE_HEADER.finditer(text))
    if headers:
        text = text[headers[-1].end() :]
    return text.strip("\n")


def _error_headline(text: str | None) -> str | None:
    """The exception line of the latest failure, e.g. ``ValueError: loss diverged``.

    Ray's error.txt starts with a ``Failure # 1 (occurred at ...)`` header and the worker's
    ``ray::...`` line; the exception itself is the first unindented line after the last
    stack frame. Errors without a traceback (a node died) give their first line.
    """
    if text is None:
        return None
    lines = [line.rstrip() for line in _latest_failure(text).splitlines()]
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    after_frames = lines[frames[-1] + 1 :] if frames else []
    for line in after_frames:
        if line and not line[0].isspace():
            return line
    first = next((line.strip() for line in lines if line.strip()), "")
    return first or None


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
