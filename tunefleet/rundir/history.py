"""An extended sweep's trials with those of the sweeps it extends, and the checkpoints it continues.

``tunefleet extend OLD`` runs a new sweep in a new directory that records ``extended_from: OLD``
(:func:`~tunefleet.rundir.tunefleet_files.read_extension`); the old directory is never written.
Reading the new one with :func:`read_ray_run_with_history` gives the old sweeps' trials first,
each trial marked with the sweep that ran it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunefleet.rundir.names import CHECKPOINT_ITERATION_FILE, CONTINUES_KEY
from tunefleet.rundir.ray_files import RayRunFiles, TrialFiles, read_ray_run
from tunefleet.rundir.tunefleet_files import read_extension

__all__ = ["TrialCheckpoint", "last_checkpoint", "read_ray_run_with_history"]


def read_ray_run_with_history(exp_dir: Path) -> RayRunFiles:
    """:func:`read_ray_run`, plus the trials of every sweep this one extends, oldest sweep first.

    Each trial's ``sweep`` is the name of the directory of the sweep that ran it, and ``continues``
    the old trial whose checkpoint it continued (its config's reserved key is taken out). A sweep
    that extends none is read as :func:`read_ray_run` reads it. An old directory that is gone is
    skipped: the extended sweep's own trials are still there.
    """
    run = read_ray_run(exp_dir)
    if read_extension(exp_dir) is None:
        return run
    runs = [run]
    seen = {exp_dir.resolve()}
    extension = read_extension(exp_dir)
    while extension is not None:
        older = Path(extension["extended_from"]).expanduser().resolve()
        if older in seen or not older.is_dir():
            break
        seen.add(older)
        runs.insert(0, read_ray_run(older))
        extension = read_extension(older)
    trials: list[TrialFiles] = []
    for each in runs:
        for trial in each.trials:
            trial.sweep = each.path.name
            continued = trial.config.pop(CONTINUES_KEY, None)
            trial.continues = str(continued["trial_id"]) if isinstance(continued, dict) else ""
        trials += each.trials
    starts = [r.start_time for r in runs if r.start_time is not None]
    return RayRunFiles(path=run.path, trials=trials, metric=run.metric, start_time=min(starts, default=None))


@dataclass(frozen=True)
class TrialCheckpoint:
    """A checkpoint a trial saved, and the iteration it was saved at."""

    path: Path
    training_iteration: int
    time_total_s: float


def last_checkpoint(trial: TrialFiles) -> TrialCheckpoint | None:
    """The newest checkpoint of ``trial`` still on disk that says its iteration, or None.

    A checkpoint says it in :data:`~tunefleet.rundir.names.CHECKPOINT_ITERATION_FILE` (written as
    it is saved, see ``tunefleet.ray_internals.continue_checkpoints``); one saved by an older
    tunefleet is matched to the result that reported it (``checkpoint_dir_name``).
    """
    if trial.directory is None or not trial.directory.is_dir():
        return None
    found: list[TrialCheckpoint] = []
    for folder in trial.directory.glob("checkpoint_*"):
        marker = folder / CHECKPOINT_ITERATION_FILE
        if not marker.is_file():
            continue
        try:
            done: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
            found.append(
                TrialCheckpoint(folder, int(done["training_iteration"]), float(done["time_total_s"]))
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    for row in trial.rows:
        name = row.get("checkpoint_dir_name")
        known = any(c.path.name == name for c in found)
        if isinstance(name, str) and (trial.directory / name).is_dir() and not known:
            iteration = int(row.get("training_iteration") or 0)
            elapsed = float(row.get("time_total_s") or 0)
            found.append(TrialCheckpoint(trial.directory / name, iteration, elapsed))
    return max(found, key=lambda c: c.training_iteration, default=None)
