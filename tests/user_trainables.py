"""User trainables of every shape Ray Tune accepts, written as a user would (no torch, no tunefleet).

Every one reports ``score`` (peaks at x = 0.3, grows a little per iteration) and prints one line per
iteration to stdout, and one line to stderr when it starts, naming its ``x``: a trial's output
files must hold its own lines and no other trial's, also when its process ran other trials before.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune


def _score(config: dict[str, Any], iteration: int) -> float:
    return -((config["x"] - 0.3) ** 2) + 0.01 * iteration


def _started(config: dict[str, Any]) -> None:
    print(f"starting x={config['x']!r}", file=sys.stderr, flush=True)


def _stepped(config: dict[str, Any], iteration: int) -> None:
    print(f"x={config['x']!r} iteration {iteration}")


def function_trainable(config: dict[str, Any]) -> None:
    """A function that reports and never checkpoints."""
    _started(config)
    for iteration in range(1, 101):
        _stepped(config, iteration)
        tune.report({"score": _score(config, iteration)})


def sleepy_function(config: dict[str, Any]) -> None:
    """:func:`function_trainable` taking ``sleep_s`` seconds per iteration: a sweep slow enough to be
    watched while it runs (tests/test_dashboard_browser.py)."""
    _started(config)
    for iteration in range(1, 101):
        time.sleep(config["sleep_s"])
        _stepped(config, iteration)
        tune.report({"score": _score(config, iteration)})


def checkpointing_function(config: dict[str, Any]) -> None:
    """A function that checkpoints every iteration and continues from its checkpoint."""
    _started(config)
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            start = json.loads(Path(directory, "state.json").read_text())["iteration"]
    for iteration in range(start + 1, 101):
        _stepped(config, iteration)
        with tempfile.TemporaryDirectory() as directory:
            Path(directory, "state.json").write_text(json.dumps({"iteration": iteration}))
            tune.report(
                {"score": _score(config, iteration)}, checkpoint=tune.Checkpoint.from_directory(directory)
            )


class MinimalTrainable(tune.Trainable):
    """The least the class API needs: ``setup`` and ``step``, no checkpoints, no ``reset_config``."""

    def setup(self, config: dict[str, Any]) -> None:
        _started(config)

    def step(self) -> dict[str, Any]:
        _stepped(self.config, self.iteration + 1)
        return {"score": _score(self.config, self.iteration + 1)}


class PlainTrainable(tune.Trainable):
    """The class API without ``reset_config``: setup, step, save_checkpoint, load_checkpoint."""

    def setup(self, config: dict[str, Any]) -> None:
        _started(config)
        self.steps = 0

    def step(self) -> dict[str, Any]:
        self.steps += 1
        _stepped(self.config, self.steps)
        return {"score": _score(self.config, self.steps)}

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        Path(checkpoint_dir, "state.json").write_text(json.dumps({"iteration": self.steps}))

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        self.steps = json.loads(Path(checkpoint_dir, "state.json").read_text())["iteration"]


class ResettingTrainable(PlainTrainable):
    """Resets itself for a new config, so Tune may run the next trial in its process."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.setup(new_config)
        return True


class RefusingTrainable(PlainTrainable):
    """Implements ``reset_config`` but declines every reset (``False``: start me afresh)."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        return False


def function_needing_data(config: dict[str, Any], data: list[int]) -> None:
    """A function with a large object besides its config, handed over by ``tune.with_parameters``."""
    assert data == DATA
    function_trainable(config)


class ClassNeedingData(PlainTrainable):
    """A class whose ``setup`` takes a large object besides its config (``tune.with_parameters``)."""

    def setup(self, config: dict[str, Any], data: list[int]) -> None:  # type: ignore[override]
        assert data == DATA
        super().setup(config)


DATA = list(range(1000))

# What a YAML names: `trainable: tests.user_trainables:function_with_data`.
function_with_data = tune.with_parameters(function_needing_data, data=DATA)
class_with_data = tune.with_parameters(ClassNeedingData, data=DATA)


def reports_accuracy(config: dict[str, Any]) -> None:
    """Reports ``accuracy``, never ``score``: a mismatch with an experiment tuning ``score``."""
    for iteration in range(1, 101):
        tune.report({"accuracy": 0.5 + 0.001 * iteration})
