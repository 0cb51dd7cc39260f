"""Helpers of the reliability tests: experiments of the misbehaving ``faulty.counter`` trainable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml


def counter_experiment(directory: Path, **overrides: Any) -> Path:
    """Write an experiment of ``tests.reliability.faulty:counter`` into ``directory``.

    Its trials log every iteration they execute to ``directory/runs.log``.
    """
    data: dict[str, Any] = {
        "name": "reliability",
        "trainable": "tests.reliability.faulty:counter",
        "metric": "score",
        "mode": "max",
        "num_samples": 4,
        "max_iterations": 4,
        "search": {"algorithm": "random", "seed": 0, "max_concurrent": 2},
        "space": {"x": {"uniform": [0.0, 1.0]}, "log": str(directory / "runs.log")},
        "storage": str(directory / "results"),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = directory / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def executed(log: Path) -> list[tuple[str, int]]:
    """``(trial_id, iteration)`` for every iteration the trials executed, in order."""
    if not log.exists():
        return []
    return [(t, int(i)) for t, i, *_ in (line.split() for line in log.read_text().splitlines() if line)]


def iterations_by_trial(history: pd.DataFrame) -> dict[str, list[int]]:
    """The ``training_iteration`` sequence of each trial in a results history."""
    return {
        str(trial): [int(i) for i in rows["training_iteration"]]
        for trial, rows in history.groupby("trial_id", sort=False)
    }
