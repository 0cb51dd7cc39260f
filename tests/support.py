"""Helpers shared by the whole suite: tiny trainables for tests of the tuning machinery (no torch:
fast and deterministic), the real command line in a subprocess, and what tests read printed output
with."""

from __future__ import annotations

import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from ray import tune
from rich.console import Console

#: The repository's root.
REPO = Path(__file__).resolve().parent.parent


def _optimum(config: dict[str, Any]) -> float:
    return -((math.log10(config["lr"]) + 2) ** 2) - (config.get("width", 64) - 64) ** 2 / 1e4


def quadratic(config: dict[str, Any]) -> None:
    """Function trainable: ``score`` approaches ``-(log10(lr) + 2)**2 - (width - 64)**2 / 1e4``."""
    for i in range(1, config.get("iterations", 3) + 1):
        tune.report({"score": _optimum(config) * (1 + 1 / i)})


quadratic.reported_metrics = frozenset({"score"})  # type: ignore[attr-defined]


def timed_quadratic(config: dict[str, Any]) -> None:
    """:func:`quadratic`, also reporting when the trial started and when it reported (``time.time()``).

    From these, a test sees which trials ran at the same time without judging any duration.
    """
    started = time.time()
    for i in range(1, config.get("iterations", 3) + 1):
        tune.report({"score": _optimum(config) * (1 + 1 / i), "started": started, "reported": time.time()})


timed_quadratic.reported_metrics = frozenset({"score", "started", "reported"})  # type: ignore[attr-defined]


class NoisyHyperparams(BaseModel):
    """The hyperparameters of :func:`noisy`, with defaults (its default configuration)."""

    model_config = ConfigDict(extra="forbid")

    x: float = 0.5
    seed: int = 0
    max_iterations: int = 2
    log: str | None = None  # a line "trial_id iteration seed" per iteration executed
    hold: str | None = None  # a file: trials with seed hold_seed wait for it before iteration 2
    hold_seed: int | None = None


def noisy(config: dict[str, Any]) -> None:
    """Function trainable whose results depend on its seed: ``score`` is ``-(x - 0.3)**2`` plus
    noise drawn from the seed and the iteration, ``test_score`` the same with other noise.

    It checkpoints every iteration; its config is validated strictly (an unknown key, such as the
    selection's tag, fails the trial). With ``hold``, a trial of seed ``hold_seed`` writes
    ``<hold>.<trial id>`` after iteration 1 and waits until the file ``hold`` exists.
    """
    hp = NoisyHyperparams.model_validate(config)
    trial_id = tune.get_context().get_trial_id()
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            start = json.loads(Path(directory, "state.json").read_text())["iteration"]
    for iteration in range(start + 1, hp.max_iterations + 1):
        if iteration == 2 and hp.hold is not None and hp.seed == hp.hold_seed:
            Path(f"{hp.hold}.{trial_id}").write_text("")
            while not Path(hp.hold).exists():
                time.sleep(0.05)
        if hp.log is not None:
            with open(hp.log, "a") as out:
                out.write(f"{trial_id} {iteration} {hp.seed}\n")
        noise = random.Random(hp.seed * 1000 + iteration)
        score = -((hp.x - 0.3) ** 2) + noise.gauss(0, 0.01)
        with tempfile.TemporaryDirectory() as directory:
            Path(directory, "state.json").write_text(json.dumps({"iteration": iteration}))
            tune.report(
                {"score": score, "test_score": score + noise.gauss(0, 0.01)},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )


noisy.Hyperparams = NoisyHyperparams  # type: ignore[attr-defined]
noisy.reported_metrics = frozenset({"score", "test_score"})  # type: ignore[attr-defined]


def rendered(summary: dict[str, Any], width: int = 200, tracebacks: bool = False) -> str:
    """What ``render_summary`` prints for ``summary`` (``tunefleet analyze``: with tracebacks), as
    plain text ``width`` columns wide.

    The console is rich's default one (markup on), as a library user would pass it.
    """
    from tunefleet.analysis import render_summary

    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    render_summary(summary, console, tracebacks=tracebacks)
    return console.export_text()


def tunefleet(
    *args: str, cwd: Path = REPO, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a fresh process (by default with its own embedded Ray)."""
    return subprocess.run(
        [sys.executable, "-m", "tunefleet.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


USER_MODULE = '''
"""A user's own trainables, next to the experiment file, not installed anywhere."""
from ray import tune

from tunefleet.trainables.tasks import LinearRegression


class MyRegression(LinearRegression):
    """Subclassing a built-in is enough to get every tunefleet knob."""


def score_fn(config):
    if config["x"] > 0.9:
        raise RuntimeError("deliberate failure for x > 0.9")
    for i in range(3):
        tune.report({"score": -(config["x"] - 0.3) ** 2})


score_fn.reported_metrics = {"score"}
'''
