"""Live progress of a sweep in the terminal: trials done/running, errors and the best trial so far."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from rich.console import Console

from tunefleet.console import echo, make_console, plural
from tunefleet.scalars import real_value

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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metric = metric
        self.mode = mode
        self.total = total
        self.console = console or make_console(stderr=True)
        self.interval_s = interval_s
        self.trial_lines = total <= max_trial_lines
        self.clock = clock
        self._start = clock()
        self._last_status = -math.inf
        # trial_id -> (its last reported value of the metric, None if not a number; iteration)
        self._last: dict[str, tuple[float | None, int]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (callbacks included) into the experiment directory so that
        # the sweep can be restored; a console holds locks and a terminal, so it stays behind.
        state = self.__dict__.copy()
        state["console"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.console = make_console(stderr=True)

    def setup(self, *args: Any, **info: Any) -> None:
        # Ray restores this callback from tuner.pkl, pickled when the sweep first started, so the
        # clock starts again here, at the start of every run and resume.
        self._start = self.clock()
        self._last_status = -math.inf
        self._last = {}

    def _best(self, trials: list[Any]) -> tuple[float, str, int] | None:
        """(value, trial_id, iteration) of the best trial, ranked as the final table ranks them:
        by each trial's last reported value, unranked when that is not a finite number, the
        earlier trial first among equals."""
        best: tuple[float, str, int] | None = None
        for trial in trials:
            value, iteration = self._last.get(trial.trial_id) or self._last_of(trial.last_result or {})
            if value is None or not math.isfinite(value):
                continue
            if best is None or (value > best[0] if self.mode == "max" else value < best[0]):
                best = (value, trial.trial_id, iteration)
        return best

    def _last_of(self, result: dict[str, Any]) -> tuple[float | None, int]:
        # Trials restored by a resume have reported nothing to this driver: their last result.
        return real_value(result.get(self.metric)), int(result.get("training_iteration", 0))

    def _status(self, trials: list[Any]) -> str:
        counts: dict[str, int] = {}
        for trial in trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        finished = counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
        elapsed = self.clock() - self._start
        line = (
            f"[{int(elapsed // 60):02d}:{int(elapsed % 60):02d}] {finished}/{self.total} done, "
            f"{counts.get('RUNNING', 0)} running, {plural(counts.get('ERROR', 0), 'error')}"
        )
        best = self._best(trials)
        if best is not None:
            value, trial_id, iteration = best
            line += f" | best {self.metric}={value:.4g} ({trial_id}, iteration {iteration})"
        return line

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any
    ) -> None:
        if result.get(self.metric) is not None:  # what the final table counts as reported
            self._last[trial.trial_id] = self._last_of(result)
        now = self.clock()
        if now - self._last_status >= self.interval_s:
            self._last_status = now
            echo(self.console, self._status(trials), highlight=False, soft_wrap=True)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if not self.trial_lines:
            return
        last = trial.last_result or {}
        value = real_value(last.get(self.metric))
        shown = "n/a" if value is None else f"{value:.4g}"
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
