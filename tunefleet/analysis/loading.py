"""From an experiment directory to what ranking needs: settings, objective, results, records.

:func:`~tunefleet.rundir.read_ray_run` reads Ray's files; this module checks the
directory, reads tunefleet's own ``tunefleet.yaml``, settles the metric and mode, builds the
frame of every reported result and one :class:`TrialRecord` (arrays) per trial.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

import numpy as np
import pandas as pd

from tunefleet.analysis.interface import CONFIG_PREFIX, Mode
from tunefleet.divergence import DIVERGED, is_diverged
from tunefleet.errors import TunefleetError, did_you_mean
from tunefleet.rundir import (
    EXPERIMENT_FILE,
    FINAL_STATUSES,
    STATE_GLOB,
    RayRunFiles,
    TrialFiles,
    find_state_file,
    is_nan,
    objective_from_tuner_pkl,
)

__all__ = [
    "TrialRecord",
    "check_experiment_dir",
    "check_metric_reported",
    "is_metric_column",
    "ordered_union",
    "resolve_objective",
    "results_frame",
    "trial_records",
]

#: The resolved experiment file tunefleet writes into every experiment directory.

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


@dataclass(frozen=True)
class TrialRecord:
    """One trial's results as arrays (see :func:`trial_records`)."""

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


# -- the directory and its objective ----------------------------------------------------------


def check_experiment_dir(exp_dir: Path) -> None:
    """An error naming the path and what was expected, unless ``exp_dir`` holds an experiment state."""
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


def resolve_objective(
    exp_dir: Path, settings: Mapping[str, Any], files: RayRunFiles, metric: str | None, mode: str | None
) -> tuple[str, Mode]:
    """Metric and mode from the arguments, else tunefleet.yaml, else what Ray Tune was given.

    For a plain Ray Tune directory the metric is in the experiment state and the mode in
    ``tuner.pkl`` (read only when needed: unpickling it imports Ray).
    """
    yaml_path = exp_dir / EXPERIMENT_FILE
    saved_metric, saved_mode = settings.get("metric"), settings.get("mode")
    if isinstance(saved_metric, list) and isinstance(saved_mode, list) and saved_metric and saved_mode:
        # A multi-objective sweep: trials are ranked by its first objective (as Ray's TuneConfig).
        saved_metric, saved_mode = saved_metric[0], saved_mode[0]
    metric = metric if metric is not None else saved_metric
    mode = mode if mode is not None else saved_mode
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


def check_metric_reported(exp_dir: Path, files: RayRunFiles, metric: str) -> None:
    """A metric no trial reported is a typo or the wrong experiment: an error listing what was
    reported. A sweep whose trials reported nothing at all (they all failed at once) loads."""
    results = [row for trial in files.trials for row in trial.rows or [trial.state_result]]
    if any(metric in row for row in results):
        return
    reported = [name for name in ordered_union(results) if is_metric_column(name)]
    if reported:
        raise TunefleetError(
            f"{exp_dir}: no trial reported {metric!r}{did_you_mean(metric, reported)}; reported metrics: "
            f"{', '.join(reported)}; pass one of them as metric (CLI: --metric)"
        )


# -- every result, and one record per trial ---------------------------------------------------


def results_frame(files: RayRunFiles) -> pd.DataFrame:
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


def trial_records(files: RayRunFiles, results: pd.DataFrame, metric: str) -> list[TrialRecord]:
    """One record per trial, in Ray's order; ``results`` is :func:`results_frame` of ``files``."""
    arrays = {c: results[c].to_numpy() for c in results.columns if is_metric_column(c)}
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
            TrialRecord(
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


# -- small helpers ----------------------------------------------------------------------------


def is_metric_column(name: object) -> bool:
    """Whether a result column is a reported metric (not Ray's bookkeeping, not the config)."""
    return isinstance(name, str) and name not in _BOOKKEEPING_KEYS and not name.startswith(CONFIG_PREFIX)


def ordered_union(keyed: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key, in order of first appearance."""
    seen: dict[str, None] = {}
    for mapping in keyed:
        seen.update(dict.fromkeys(mapping))
    return list(seen)
