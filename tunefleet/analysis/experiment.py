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
class _TrialResult:
    """One trial at its ranking point (see the module docstring)."""

    trial_id: str
    status: str
    config: dict[str, Any]  # nested, as the trial received it
    flat_config: dict[str, Any]  # config/... keys, nested keys joined with "/"
    value: float  # NaN when the trial has no rankable value
    metrics: dict[str, Any]  # reported metrics at the ranking point, bookkeeping dropped
    error: str | None  # one line: the exception of the latest failure

    @property
    def ranked(self) -> bool:
        return math.isfinite(self.value)


class ExperimentResults:
    """The trials of one experiment, ranked by a metric; build it with :func:`load_results`.

    The underlying :class:`ray.tune.ExperimentAnalysis` is available as :attr:`analysis`.
    DataFrames are computed on first use and every call returns a fresh copy.
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
        self._ranked: list[_TrialResult] | None = None
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
            self._trials_df = self._build_trials_frame()
        return self._trials_df.copy()

    def history(self) -> pd.DataFrame:
        """Every result every trial reported, in trial order then reporting order.

        Columns: ``trial_id``, ``training_iteration``, ``time_total_s`` and the reported
        metrics (Ray's bookkeeping keys left out).
        """
        if self._history_df is None:
            self._history_df = self._build_history_frame()
        return self._history_df.copy()

    def errors(self) -> pd.DataFrame:
        """Trials that failed: status ERROR, or an ``error.txt`` from a failure they recovered from.

        Columns: ``trial_id``, ``status``, ``num_failures``, ``error`` (the exception line of
        the latest failure), ``traceback`` (the end of the latest failure's traceback) and
        ``error_file``.
        """
        if self._errors_df is None:
            self._errors_df = self._build_errors_frame()
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
        ranked = [r for r in self._results() if r.ranked]
        best = [_trial_object(r) for r in ranked[:top]]
        statuses = Counter(r.status for r in self._results())
        errors = self.errors()
        summary = {
            "experiment": {"path": str(self.path), "name": self.name},
            "metric": self.metric,
            "mode": self.mode,
            "scope": self.scope,
            "num_trials": len(self._results()),
            "num_errors": statuses.get("ERROR", 0),
            "status_counts": {s: statuses[s] for s in _sort_statuses(statuses)},
            "best": _trial_object(ranked[0]) if ranked else None,
            "top": best,
            "errors": [
                {"trial_id": row.trial_id, "status": row.status, "error": row.error}
                for row in errors.itertuples(index=False)
            ],
        }
        return cast("dict[str, Any]", _jsonable(summary))

    # -- building ---------------------------------------------------------------------------

    def _results(self) -> list[_TrialResult]:
        if self._ranked is None:
            results = [self._trial_result(trial) for trial in self.analysis.trials]
            # Stable sort: ties keep ExperimentAnalysis' trial order, so the first trial is the
            # one get_best_trial() returns.
            sign = 1.0 if self.mode == "min" else -1.0
            results.sort(key=lambda r: (0, sign * r.value) if r.ranked else (1, 0.0))
            self._ranked = results
        return self._ranked

    def _trial_result(self, trial: Trial) -> _TrialResult:
        frame = self.analysis.trial_dataframes.get(trial.trial_id)
        point = _ranking_point(
            frame,
            self.metric,
            self.mode,
            self.scope,
            last_reported_nan=_last_reported_is_nan(trial, self.metric),
        )
        if point is None and _has_reported(trial):
            # No result file (deleted, or logging disabled): fall back to the last result
            # stored in the experiment state.
            point = pd.json_normalize(trial.last_result, sep="/").iloc[0].to_dict()
        point = point or {}
        value = _as_float(point.get(self.metric))
        return _TrialResult(
            trial_id=trial.trial_id,
            status=str(trial.status),
            config=trial.config,
            flat_config=_flatten(trial.config, _CONFIG_PREFIX),
            value=value,
            metrics=_metrics_of(point),
            error=_error_headline(_read_error_text(trial)),
        )

    def _build_trials_frame(self) -> pd.DataFrame:
        results = self._results()
        metric_names = _ordered_union(r.metrics for r in results)
        metric_names = [m for m in metric_names if m not in ("training_iteration", "time_total_s")]
        renamed = {m: f"reported/{m}" if m in _RESERVED_COLUMNS else m for m in metric_names}
        config_names = _ordered_union(r.flat_config for r in results)
        rows = []
        for r in results:
            row: dict[str, Any] = {
                "trial_id": r.trial_id,
                "status": r.status,
                "value": r.value,
                "training_iteration": r.metrics.get("training_iteration"),
                "time_total_s": r.metrics.get("time_total_s"),
            }
            row.update({renamed[m]: r.metrics[m] for m in metric_names if m in r.metrics})
            row.update(r.flat_config)
            row["error"] = r.error
            rows.append(row)
        columns = [
            "trial_id",
            "status",
            "value",
            "training_iteration",
            "time_total_s",
            *renamed.values(),
            *config_names,
            "error",
        ]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["value"] = frame["value"].astype(float)
        frame["training_iteration"] = pd.to_numeric(frame["training_iteration"]).astype("Int64")
        frame["time_total_s"] = pd.to_numeric(frame["time_total_s"]).astype(float)
        # object dtype, None when no error: pandas 3 would otherwise infer its string dtype
        # (NaN for missing) only when some trial failed.
        frame["error"] = pd.Series([r.error for r in results], dtype=object)
        return frame

    def _build_history_frame(self) -> pd.DataFrame:
        frames = []
        for trial in self.analysis.trials:
            frame = self.analysis.trial_dataframes.get(trial.trial_id)
            if frame is None or frame.empty:
                continue
            kept = [c for c in frame.columns if _is_metric_column(c)]
            frame = frame[kept]
            frames.append(frame.assign(trial_id=trial.trial_id))
        fixed = ["trial_id", "training_iteration", "time_total_s"]
        if not frames:
            return pd.DataFrame(columns=fixed)
        history = pd.concat(frames, ignore_index=True, sort=False)
        for column in fixed:
            if column not in history:
                history[column] = np.nan
        return history[fixed + [c for c in history.columns if c not in fixed]]

    def _build_errors_frame(self) -> pd.DataFrame:
        rows = []
        for trial in self.analysis.trials:
            text = _read_error_text(trial)
            if text is None and trial.status != "ERROR":
                continue
            block = _latest_failure(text) if text is not None else None
            rows.append(
                {
                    "trial_id": trial.trial_id,
                    "status": str(trial.status),
                    "num_failures": int(trial.num_failures),
                    "error": _error_headline(text),
                    "traceback": _traceback_excerpt(block) if block is not None else None,
                    "error_file": str(_error_path(trial)) if text is not None else None,
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
        raise ConfigError.single(
            yaml_path, "", f"expected a mapping at the top, got {type(data).__name__}"
        )
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


def _ranking_point(
    frame: pd.DataFrame | None,
    metric: str,
    mode: Mode,
    scope: Scope,
    *,
    last_reported_nan: bool,
) -> dict[str, Any] | None:
    """The reported result a trial is ranked by, as a flat dict, or None without results.

    Args:
        frame: The trial's results, one row per report (ExperimentAnalysis.trial_dataframes).
        metric: The metric to rank by.
        mode: "min" or "max".
        scope: "last" or "all".
        last_reported_nan: Whether the last value Ray recorded for the metric is NaN. A NaN
            report and a report without the metric are both NaN in the frame; only Ray's
            per-trial metric statistics tell them apart.
    """
    if frame is None or frame.empty:
        return None
    position = len(frame) - 1  # the last result
    if metric in frame.columns:
        reported = np.flatnonzero(frame[metric].notna().to_numpy())
        if len(reported) and not last_reported_nan:
            position = int(reported[-1])
        if scope == "all":
            values = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
            finite = np.flatnonzero(np.isfinite(values))
            if len(finite):
                pick = np.argmin if mode == "min" else np.argmax
                position = int(finite[pick(values[finite])])  # first of equal bests
    return cast("dict[str, Any]", frame.iloc[position].to_dict())


def _is_metric_column(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in _BOOKKEEPING_KEYS
        and not name.startswith(_CONFIG_PREFIX)
    )


def _metrics_of(point: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar reported metrics of one result (bookkeeping and non-scalars dropped)."""
    return {
        key: value for key, value in point.items() if _is_metric_column(key) and _is_scalar(value)
    }


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, np.generic))


def _as_float(value: Any) -> float:
    """The metric value as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- Ray trial attributes ---------------------------------------------------------------------
# Trial is a Ray developer API; these helpers are the only places that read it directly.


def _last_reported_is_nan(trial: Trial, metric: str) -> bool:
    stats = trial.metric_analysis.get(metric)
    if not stats:
        return False
    last = stats.get("last")
    return isinstance(last, float) and math.isnan(last)


def _has_reported(trial: Trial) -> bool:
    return bool(trial.has_reported_at_least_once)


def _error_path(trial: Trial) -> Path | None:
    if trial.path is None:
        return None
    return Path(trial.path, trial.run_metadata.error_filename or _ERROR_FILE)


def _read_error_text(trial: Trial) -> str | None:
    # Read the file even when the experiment state (saved periodically) predates the failure.
    path = _error_path(trial)
    if path is None:
        return None
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


def _trial_object(result: _TrialResult) -> dict[str, Any]:
    """A trial as it appears under ``best`` and ``top`` in :meth:`ExperimentResults.summary`."""
    return {
        "trial_id": result.trial_id,
        "config": result.config,
        "value": result.value,
        "metrics": result.metrics,
        "training_iteration": result.metrics.get("training_iteration"),
        "time_total_s": result.metrics.get("time_total_s"),
        "status": result.status,
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
