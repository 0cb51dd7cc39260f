"""Helpers of the analysis tests."""

from __future__ import annotations

import json
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
