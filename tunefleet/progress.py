"""Live progress of a sweep in the terminal: trials done/running, errors and the best so far."""

from __future__ import annotations

import math
import time
from typing import Any

from ray.tune import Callback
from rich.console import Console

from tunefleet.console import echo, make_console, plural

__all__ = ["ProgressCallback"]


class ProgressCallback(Callback):
    """Prints one line per finished trial and a status line at most every ``interval_s``.

    Sweeps of more than ``max_trial_lines`` trials get only the status lines (and a line per
    failed trial): thousands of lines would bury the status (each line also costs the driver
    about 0.1 ms of CPU, see BENCHMARKS.md).

    Runs in the driver process (Ray Tune calls callbacks from its control loop).
    """

    def __init__(
        self,
        metric: str,
        mode: str,
        total: int,
        console: Console | None = None,
        interval_s: float = 15.0,
        max_trial_lines: int = 100,
    ) -> None:
        self.metric = metric
        self.mode = mode
        self.total = total
        self.console = console or make_console(stderr=True)
        self.interval_s = interval_s
        self.trial_lines = total <= max_trial_lines
        self._start = time.monotonic()
        self._last_status = 0.0
        self._best: tuple[float, str, int] | None = None  # (value, trial_id, iteration)

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (callbacks included) into the experiment directory so that
        # the sweep can be restored; a console holds locks and a terminal, so it stays behind.
        state = self.__dict__.copy()
        state["console"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.console = make_console(stderr=True)

    def _better(self, value: float) -> bool:
        if self._best is None:
            return True
        return value > self._best[0] if self.mode == "max" else value < self._best[0]

    def _status(self, trials: list[Any]) -> str:
        counts: dict[str, int] = {}
        for trial in trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        finished = counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
        elapsed = time.monotonic() - self._start
        line = (
            f"[{int(elapsed // 60):02d}:{int(elapsed % 60):02d}] {finished}/{self.total} done, "
            f"{counts.get('RUNNING', 0)} running, {plural(counts.get('ERROR', 0), 'error')}"
        )
        if self._best is not None:
            value, trial_id, iteration = self._best
            line += f" | best {self.metric}={value:.4g} ({trial_id}, iteration {iteration})"
        return line

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any
    ) -> None:
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and not math.isnan(value) and self._better(value):
            self._best = (float(value), trial.trial_id, int(result.get("training_iteration", 0)))
        now = time.monotonic()
        if now - self._last_status >= self.interval_s:
            self._last_status = now
            echo(self.console, self._status(trials), highlight=False, soft_wrap=True)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if not self.trial_lines:
            return
        last = trial.last_result or {}
        value = last.get(self.metric)
        shown = f"{value:.4g}" if isinstance(value, (int, float)) else "n/a"
        echo(
            self.console,
            f"  trial {trial.trial_id} finished: {self.metric}={shown} "
            f"after {plural(last.get('training_iteration', 0), 'iteration')}",
            highlight=False,
            soft_wrap=True,
        )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        echo(self.console, f"  trial {trial.trial_id} failed (see analyze for the traceback)", style="red")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        echo(self.console, self._status(trials), highlight=False, soft_wrap=True)
