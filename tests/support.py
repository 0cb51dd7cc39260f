"""Helpers shared by the whole suite: tiny trainables for tests of the tuning machinery (no torch:
fast and deterministic), the real command line in a subprocess, and what tests read printed output
with."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
