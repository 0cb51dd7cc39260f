"""Ray Tune's files in an experiment directory, read straight (no Ray import, no unpickling).

Files in, plain records out (:class:`RayRunFiles`, one :class:`TrialFiles` per trial); no pandas.
Analysis reads Ray's files only through here, and so do resume's checks:

* ``experiment_state-<date>.json``: ``{"trial_data": [[trial_json, run_metadata_json], ...],
  "runner_data": {"_metric": ..., ...}, "stats": {"start_time": ...}}``. ``trial_json`` (a JSON
  string) holds ``trial_id``, ``status``, ``config``, ``experiment_tag`` and ``relative_logdir``
  (the trial's folder); ``run_metadata_json`` holds ``start_time``, ``num_failures``,
  ``error_filename`` and ``last_result``. Fields Ray cannot write as JSON are pickled as hex
  strings; they are not needed here. :func:`read_trial_states` is the one reader of it.
* one folder per trial with ``result.json`` (one JSON object per reported result),
  ``progress.csv`` (the same as CSV), ``params.json`` (the config), after a failure,
  ``error.txt``, and in a tunefleet sweep what the trial printed: ``stdout`` and ``stderr``.
* ``tuner.pkl``: the pickled Tuner settings (metric, mode). Unpickling it imports Ray (seconds),
  so :func:`objective_from_tuner_pkl` is only called when metric or mode is missing.

Reading goes straight to these files, which is what makes 10,000 trials load in seconds
(``ray.tune.ExperimentAnalysis`` builds a ``Trial`` object and a DataFrame per trial). Results are
flat (:func:`flatten`): nested keys joined with ``/``, as Ray's ``progress.csv`` names them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunefleet.errors import TunefleetError
from tunefleet.rundir.names import (
    ERROR_FILE,
    PARAMS_JSON,
    PROGRESS_CSV,
    RESULT_JSON,
    STATE_GLOB,
    STDERR_FILE,
    STDOUT_FILE,
    TUNER_PKL,
)
from tunefleet.scalars import real_value

__all__ = [
    "RayRunFiles",
    "TrialFiles",
    "find_state_file",
    "flatten",
    "is_nan",
    "objective_from_tuner_pkl",
    "output_tail",
    "read_ray_run",
    "read_trial_states",
]

logger = logging.getLogger(__name__)

# Reading is mostly waiting for the file system (a cluster's shared storage is slow); JSON
# parsing holds the GIL, so more threads than this do not help on a local disk.
_READ_THREADS = 8


@dataclass
class TrialFiles:
    """What Ray recorded about one trial.

    Attributes:
        trial_id: Ray's trial id.
        status: TERMINATED, ERROR, RUNNING, PAUSED or PENDING (as last saved).
        config: The trial's config, nested.
        directory: The trial's folder, or None when it is unknown.
        tag: Ray's experiment tag (``3_lr=0.01``), "" when unknown.
        start_time: When the trial started (Unix seconds), None when unknown.
        num_failures: How many times it failed (retried failures included).
        error_file: Where Ray writes its errors, None when the folder is unknown.
        error_text: The content of the error file, None when there is none.
        state_result: The last result saved in the experiment state, flat; read only when the
            result files are missing.
        rows: Every reported result, in order, as flat dicts (nested keys joined with ``/``;
            the ``config`` entry left out).
    """

    trial_id: str
    status: str
    config: dict[str, Any]
    directory: Path | None
    tag: str = ""
    start_time: float | None = None
    num_failures: int = 0
    error_file: Path | None = None
    error_text: str | None = None
    state_result: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    state_text: str = field(default="", repr=False)  # the trial's saved run metadata (JSON)
    #: The experiment directory's name of the sweep that ran it, when the sweep extends another
    #: (``tunefleet extend``; see :func:`read_ray_run_with_history`), else "".
    sweep: str = ""
    #: The old trial whose checkpoint this trial continued (``tunefleet extend``), else "".
    continues: str = ""

    def last_iteration(self) -> int:
        """The ``training_iteration`` of the last result the experiment state saved (0: none)."""
        last = _pick(self.state_text, ("last_result",)).get("last_result") if self.state_text else None
        iteration = last.get("training_iteration") if isinstance(last, dict) else None
        return int(iteration) if isinstance(iteration, int | float) else 0


@dataclass
class RayRunFiles:
    """What Ray Tune wrote into an experiment directory, as read by :func:`read_ray_run`.

    (Not the experiment file, :class:`tunefleet.config.ExperimentFile`: that is tunefleet's
    YAML; this is Ray's record of the run.)

    Attributes:
        path: The experiment directory.
        trials: Every trial, in Ray's order.
        metric: The metric given to ``TuneConfig`` (None when none was).
        start_time: When the experiment started (Unix seconds), None when unknown.
    """

    path: Path
    trials: list[TrialFiles]
    metric: str | None
    start_time: float | None


def read_ray_run(exp_dir: Path) -> RayRunFiles:
    """Read every trial Ray Tune recorded in an experiment directory.

    Trials come from the newest experiment state. Without one (an old or copied directory),
    every sub-folder holding a ``result.json`` or ``params.json`` is a trial.

    Raises:
        TunefleetError: the experiment state exists but is not the JSON Ray writes.
    """
    state_file = find_state_file(exp_dir)
    if state_file is not None:
        trials, metric, start_time = _read_state(state_file, exp_dir)
    else:
        trials, metric, start_time = _trials_from_folders(exp_dir), None, None
    with ThreadPoolExecutor(_READ_THREADS) as pool:
        for trial, rows in zip(trials, pool.map(_read_rows, trials), strict=True):
            trial.rows = rows
            if not rows and trial.state_text:
                # No result file (deleted, or Ray's loggers disabled): the state's last result.
                last = _pick(trial.state_text, ("last_result",)).get("last_result")
                trial.state_result = _result_row(last) if isinstance(last, dict) else {}
            trial.state_text = ""
    return RayRunFiles(path=exp_dir, trials=trials, metric=metric, start_time=start_time)


def objective_from_tuner_pkl(exp_dir: Path) -> tuple[str | None, str | None]:
    """``(metric, mode)`` of ``TuneConfig`` from ``tuner.pkl``, (None, None) when unreadable.

    Unpickling imports Ray; tuner.pkl is the user's own file, as trusted as the directory.
    """
    from tunefleet.ray_internals import objective_from_tuner_pkl as from_pickle

    return from_pickle(exp_dir / TUNER_PKL)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{prefix + "a/b": 1}``.

    Lists, empty mappings and other values stay whole: an empty ``model: {}`` is still a key.
    """
    if not any(isinstance(value, dict) for value in mapping.values()):
        # Most results have no nested value: one dict comprehension (10,000 trials load faster).
        return {f"{prefix}{key}": value for key, value in mapping.items()} if prefix else dict(mapping)
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# -- the experiment state ---------------------------------------------------------------------


def find_state_file(exp_dir: Path) -> Path | None:
    """The newest ``experiment_state-*.json`` (a resumed experiment has several), or None."""
    states = sorted(exp_dir.glob(STATE_GLOB))
    return states[-1] if states else None


def read_trial_states(exp_dir: Path) -> list[TrialFiles]:
    """Every trial of the newest experiment state, as Ray last saved it (rows not read); [] when
    there is no state.

    Raises:
        TunefleetError: the experiment state exists but is not the JSON Ray writes.
    """
    state_file = find_state_file(exp_dir)
    return [] if state_file is None else _read_state(state_file, exp_dir)[0]


def _read_state(state_file: Path, exp_dir: Path) -> tuple[list[TrialFiles], str | None, float | None]:
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        trials = [_trial_from_state(trial, metadata, exp_dir) for trial, metadata in state["trial_data"]]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TunefleetError(
            f"{state_file}: cannot read the experiment state ({type(exc).__name__}: {exc}); expected the "
            "JSON file Ray Tune writes (trial_data, runner_data, stats)"
        ) from None
    runner = state.get("runner_data")
    metric = runner.get("_metric") if isinstance(runner, dict) else None
    stats = state.get("stats")
    start = stats.get("start_time") if isinstance(stats, dict) else None
    return (
        trials,
        metric if isinstance(metric, str) else None,
        float(start) if isinstance(start, (int, float)) else None,
    )


_TRIAL_KEYS = ("trial_id", "status", "config", "experiment_tag", "relative_logdir")
_METADATA_KEYS = ("start_time", "num_failures", "error_filename")
_DECODER = json.JSONDecoder()


def _pick(text: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """Top-level ``keys`` of a JSON object text, decoding only their values.

    A trial's saved state is mostly hex-encoded pickles that are not needed here; decoding
    only these values is ~10x faster than parsing the whole text. Falls back to a full parse
    when a key is not found where expected.
    """
    picked: dict[str, Any] = {}
    for key in keys:
        start = text.find(f'"{key}": ')
        if start < 0:
            parsed = json.loads(text)
            return {k: parsed[k] for k in keys if k in parsed}
        picked[key] = _DECODER.raw_decode(text, start + len(key) + 4)[0]
    return picked


def _trial_from_state(trial_text: str, metadata_text: str, exp_dir: Path) -> TrialFiles:
    trial = _pick(trial_text, _TRIAL_KEYS)
    metadata = _pick(metadata_text, _METADATA_KEYS)
    relative = trial.get("relative_logdir")
    directory = exp_dir / relative if isinstance(relative, str) and relative else None
    error_file = directory / (metadata.get("error_filename") or ERROR_FILE) if directory else None
    config = trial.get("config")
    start = metadata.get("start_time")
    return TrialFiles(
        trial_id=str(trial["trial_id"]),
        status=str(trial.get("status", "UNKNOWN")),
        config=config if isinstance(config, dict) else {},
        directory=directory,
        tag=str(trial.get("experiment_tag") or ""),
        start_time=float(start) if isinstance(start, (int, float)) else None,
        num_failures=int(metadata.get("num_failures") or 0),
        error_file=error_file,
        # Read the file even if the state (saved periodically) predates the failure.
        error_text=_read_text(error_file) if error_file is not None else None,
        state_text=metadata_text,
    )


def _trials_from_folders(exp_dir: Path) -> list[TrialFiles]:
    trials = []
    for folder in sorted(p for p in exp_dir.iterdir() if p.is_dir()):
        if not ((folder / RESULT_JSON).is_file() or (folder / PARAMS_JSON).is_file()):
            continue
        params = _read_json_object(folder / PARAMS_JSON)
        error_file = folder / ERROR_FILE
        error_text = _read_text(error_file)
        trials.append(
            TrialFiles(
                trial_id=folder.name,  # replaced by the trial_id of its results, if any
                status="ERROR" if error_text is not None else "TERMINATED",
                config=params,
                directory=folder,
                error_file=error_file,
                error_text=error_text,
                num_failures=int(error_text is not None),
            )
        )
    return trials


def output_tail(directory: Path | None, lines: int = 10) -> str | None:
    """The last ``lines`` lines of each of a trial's output files, under a ``==> stdout <==``
    header as ``tail`` writes it; None when the trial printed nothing (or its folder is unknown)."""
    if directory is None:
        return None
    parts = []
    for name in (STDOUT_FILE, STDERR_FILE):
        kept = [line.rstrip() for line in _read_end(directory / name).splitlines()[-lines:]]
        if any(kept):
            parts.append("\n".join([f"==> {name} <==", *kept]))
    return "\n".join(parts) or None


# -- result files -----------------------------------------------------------------------------


def _read_rows(trial: TrialFiles) -> list[dict[str, Any]]:
    if trial.directory is None:
        return []
    rows = _read_result_json(trial.directory / RESULT_JSON)
    if rows is None:
        rows = _read_progress_csv(trial.directory / PROGRESS_CSV)
    if rows and trial.trial_id == trial.directory.name and "trial_id" in rows[0]:
        trial.trial_id = str(rows[0]["trial_id"])  # a trial found by folder
    if not trial.config and not trial.state_result:
        trial.config = _read_json_object(trial.directory / PARAMS_JSON)
    return _latest_report_per_iteration(rows)


def _latest_report_per_iteration(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A trial continued from a checkpoint (a retry, a resumed sweep) reports the iterations after
    that checkpoint again, appended to the same file: the later report of each one is its history."""
    latest: dict[Any, int] = {}
    for index, row in enumerate(rows):
        latest[row.get("training_iteration", ("row", index))] = index
    if len(latest) == len(rows):
        return rows
    return [rows[i] for i in sorted(latest.values())]


def _read_result_json(path: Path) -> list[dict[str, Any]] | None:
    """The rows of a result.json; None when the file is missing or empty."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not text.strip():
        return None
    try:
        # One parse of the whole file: far faster than one json.loads per line.
        parsed = json.loads("[" + text.strip().replace("\n", ",") + "]")
    except ValueError:
        parsed = list(_parse_lines_skipping_broken(path, text))
    return [_result_row(row) for row in parsed if isinstance(row, dict)]


def _parse_lines_skipping_broken(path: Path, text: str) -> Iterator[Any]:
    """Line by line, for a file cut short by a crash: keep what parses, warn about the rest.

    A last line without its newline that does not parse is being written (the sweep is running:
    Ray writes a result, then its newline): left out without a warning, it is whole next time.
    """
    lines = text.splitlines()
    being_written = len(lines) if not text.endswith("\n") else None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            if number != being_written:
                logger.warning("%s:%d: skipped a result line that is not JSON", path, number)


def _read_progress_csv(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
        # Only rows ending in a newline are whole: a sweep still running may be writing the last
        # one, and a row cut short would give cut (wrong) numbers.
        text = data[: data.rfind(b"\n") + 1].decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    return [{k: _csv_value(v) for k, v in row.items() if k and not k.startswith("config/")} for row in rows]


def _csv_value(text: str | None) -> Any:
    if text is None or text == "":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def _result_row(parsed: dict[str, Any]) -> dict[str, Any]:
    """A result as parsed from Ray's JSON (changed in place), flat: nested keys joined with ``/``;
    Ray's copy of the trial's ``config`` left out."""
    parsed.pop("config", None)
    return flatten(parsed)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_end(path: Path, size: int = 64 * 1024) -> str:
    """The last ``size`` bytes of a file as text ("" when it cannot be read): a trial may print a lot."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, 2) - size))
            return file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def is_nan(value: Any) -> bool:
    """Whether a reported value is a NaN: a float NaN of any library, or ``"null"``, which Ray's
    own JSON logger writes for a numpy NaN (``ray.air._internal.json.SafeFallbackEncoder``)."""
    if isinstance(value, str):
        return value == "null"
    number = real_value(value)
    return number is not None and math.isnan(number)
