"""Helpers of the analysis tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml


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
