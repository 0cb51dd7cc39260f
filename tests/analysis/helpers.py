"""Helpers of the analysis tests."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunefleet.rundir import EXPERIMENT_FILE, PARAMS_JSON, RESULT_JSON


def copy_without(source: Path, target: Path, *names: str) -> Path:
    """Copy an experiment directory, leaving out the named top-level files (e.g. tunefleet.yaml)."""
    shutil.copytree(source, target)
    for name in names:
        (target / name).unlink()
    return target


# Any attribute or CSS url() that would fetch something from elsewhere.
EXTERNAL = re.compile(
    r"""(?:src|href|action|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.I
)


class HandWrittenSweep:
    """An experiment directory in Ray Tune 2.60's format, written by hand (no Ray), that a test
    grows as a running sweep would: ``tunefleet.yaml`` (``score``, max), the experiment state
    listing every trial, and each trial's ``result.json``.

    The files are what a real sweep writes (tests/analysis/test_experiment.py checks the reader
    against Ray's own), cut to the keys tunefleet reads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.trials: dict[str, dict[str, Any]] = {}
        path.mkdir(parents=True)
        settings = {"name": path.name, "trainable": "scripted", "metric": "score", "mode": "max"}
        (path / "tunefleet.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")

    def add_trial(self, trial_id: str, scores: list[float], status: str = "RUNNING") -> None:
        """A trial with a result per score (none: it has not reported yet), in the state at once."""
        folder = self.path / f"train_fn_{trial_id}"
        folder.mkdir()
        self.trials[trial_id] = {"status": status, "config": {"lr": 0.01 * (len(self.trials) + 1)}}
        for score in scores:
            self.report(trial_id, score)
        self.save_state()

    def report(self, trial_id: str, score: float) -> None:
        """Append a result to the trial's result.json (the state is not saved: Ray saves it later)."""
        trial = self.trials[trial_id]
        trial["iteration"] = trial.get("iteration", 0) + 1
        result = {
            "score": score,
            "training_iteration": trial["iteration"],
            "time_total_s": 0.5 * trial["iteration"],
            "trial_id": trial_id,
            "timestamp": 1796022898 + trial["iteration"],
            "config": trial["config"],
        }
        with (self.path / f"train_fn_{trial_id}" / "result.json").open("a", encoding="utf-8") as file:
            file.write(json.dumps(result) + "\n")

    def save_state(self, **statuses: str) -> None:
        """Write the experiment state, as Ray saves it every few seconds, with new ``statuses``."""
        for trial_id, status in statuses.items():
            self.trials[trial_id]["status"] = status
        data = [
            [
                json.dumps(
                    {
                        "trial_id": trial_id,
                        "status": trial["status"],
                        "config": trial["config"],
                        "experiment_tag": f"{index}_lr={trial['config']['lr']:g}",
                        "relative_logdir": f"train_fn_{trial_id}",
                    },
                    indent=2,
                ),
                json.dumps(
                    {
                        "start_time": 1796022897.0,
                        "num_failures": 0,
                        "error_filename": None,
                        "last_result": {},
                    },
                    indent=2,
                ),
            ]
            for index, (trial_id, trial) in enumerate(self.trials.items())
        ]
        state = {
            "trial_data": data,
            "runner_data": {"_metric": "score"},
            "stats": {"start_time": 1796022896.0},
        }
        (self.path / "experiment_state-2026-11-30_07-14-47.json").write_text(
            json.dumps(state), encoding="utf-8"
        )


@dataclass(frozen=True)
class ScriptedTrial:
    """One trial of a synthetic experiment directory (see :func:`write_sweep`).

    ``rows`` are the results it reported, in order; result ``i`` comes ``seconds * (i + 1)`` after
    its start, ``start`` seconds after the experiment's.
    """

    trial_id: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    start: float
    seconds: float = 10.0
    status: str = "TERMINATED"


#: When the synthetic experiments started (Unix seconds).
SWEEP_START = 1_800_000_000.0


def write_sweep(
    directory: Path,
    trials: list[ScriptedTrial],
    settings: dict[str, Any] | None,
    ray_bookkeeping: bool = True,
) -> Path:
    """An experiment directory as Ray Tune 2.60 writes it (experiment state, one folder per trial
    with result.json and params.json), without running Ray; ``settings`` becomes tunefleet.yaml.
    Without ``ray_bookkeeping`` the results lack ``time_this_iter_s`` (as another writer's may)."""
    directory.mkdir(parents=True)
    trial_data = []
    for trial in trials:
        folder = f"{trial.trial_id}_{'_'.join(f'{k}={v}' for k, v in trial.config.items())}"
        (directory / folder).mkdir()
        (directory / folder / PARAMS_JSON).write_text(json.dumps(trial.config))
        lines = [
            json.dumps(
                {
                    **row,
                    "training_iteration": i,
                    "time_total_s": trial.seconds * i,
                    **({"time_this_iter_s": trial.seconds} if ray_bookkeeping else {}),
                    "timestamp": int(SWEEP_START + trial.start + trial.seconds * i),
                    "trial_id": trial.trial_id,
                    "config": trial.config,
                }
            )
            for i, row in enumerate(trial.rows, start=1)
        ]
        (directory / folder / RESULT_JSON).write_text("".join(line + "\n" for line in lines))
        state = {
            "trial_id": trial.trial_id,
            "status": trial.status,
            "config": trial.config,
            "experiment_tag": folder,
            "relative_logdir": folder,
        }
        metadata = {"start_time": SWEEP_START + trial.start, "num_failures": int(trial.status == "ERROR")}
        trial_data.append([json.dumps(state), json.dumps({**metadata, "last_result": {}})])
    experiment_state = {
        "trial_data": trial_data,
        "runner_data": {"_metric": None},
        "stats": {"start_time": SWEEP_START},
    }
    (directory / "experiment_state-2026-11-30_08-00-00.json").write_text(json.dumps(experiment_state))
    if settings is not None:
        (directory / EXPERIMENT_FILE).write_text(yaml.safe_dump(settings, sort_keys=False))
    return directory
