"""What the driver does while a sweep runs, as Ray Tune callbacks and stopper.

- :class:`ProgressCallback`: live progress in the terminal (trials done/running, errors, the best
  trial so far, ranked as the final table ranks it);
- :class:`TimeBudget`: ``time_budget``, a stop that leaves the sweep resumable;
- :class:`StopDiverged`: the per-trial budget, and a stop for trials whose metric went NaN/inf.

Ray's result loggers, replaced because of how they restore files, are in
:mod:`tunefleet.ray_internals` with the other changes to Ray's internals.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from ray.tune import Callback, Stopper
from rich.console import Console

from tunefleet.console import echo, make_console, plural
from tunefleet.divergence import is_diverged
from tunefleet.objectives import Objective, non_dominated_sort
from tunefleet.scalars import real_value

__all__ = ["ProgressCallback", "StopDiverged", "TimeBudget"]

logger = logging.getLogger(__name__)


class ProgressCallback(Callback):
    """Prints one line per finished trial and a status line at most every ``interval_s``.

    Sweeps of more than ``max_trial_lines`` trials get only the status lines (and a line per
    failed trial): thousands of lines would bury the status (each line also costs the driver
    about 0.1 ms of CPU, see BENCHMARKS.md).

    A multi-objective sweep (``objectives``, several) shows every objective, and its best trial
    is the one on the Pareto front that is best on the first objective; the status line also
    counts the trials on the front.

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
        objectives: Sequence[Objective] = (),
    ) -> None:
        self.metric = metric
        self.mode = mode
        self.objectives = tuple(objectives) or (Objective(metric, mode),)  # type: ignore[arg-type]
        self.total = total
        self.console = console or make_console(stderr=True)
        self.interval_s = interval_s
        self.trial_lines = total <= max_trial_lines
        self.clock = clock
        self._start = clock()
        self._last_status = -math.inf
        # trial_id -> (its last reported value of each objective, None if not a number; iteration)
        self._last: dict[str, tuple[tuple[float | None, ...], int]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (callbacks included) into the experiment directory so that
        # the sweep can be restored; a console holds locks and a terminal, so it stays behind.
        state = self.__dict__.copy()
        state["console"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "objectives" not in state:  # pickled by a tunefleet before multi-objective sweeps
            self.objectives = (Objective(self.metric, self.mode),)  # type: ignore[arg-type]
        self.console = make_console(stderr=True)

    def setup(self, *args: Any, **info: Any) -> None:
        # Ray restores this callback from tuner.pkl, pickled when the sweep first started, so the
        # clock starts again here, at the start of every run and resume.
        self._start = self.clock()
        self._last_status = -math.inf
        self._last = {}

    def _finite_last(self, trials: list[Any]) -> list[tuple[tuple[float, ...], str, int]]:
        """(values, trial_id, iteration) of every trial whose last values are all finite numbers."""
        found = []
        for trial in trials:
            values, iteration = self._last.get(trial.trial_id) or self._last_of(trial.last_result or {})
            if all(v is not None and math.isfinite(v) for v in values):
                found.append((cast("tuple[float, ...]", values), trial.trial_id, iteration))
        return found

    def _best(self, trials: list[Any]) -> tuple[tuple[float, ...], str, int, int] | None:
        """(values, trial_id, iteration, trials on the Pareto front) of the best trial, ranked as
        the final table ranks them: by each trial's last reported values, unranked when one is not
        a finite number, by Pareto front first when there are several objectives, then by the
        first objective, the earlier trial first among equals."""
        finite = self._finite_last(trials)
        if not finite:
            return None
        candidates, front_size = finite, 1
        if len(self.objectives) > 1:
            front = non_dominated_sort([values for values, _, _ in finite], self.objectives)[0]
            candidates, front_size = [finite[i] for i in front], len(front)
        first = self.objectives[0]
        best = candidates[0]
        for entry in candidates[1:]:
            if (entry[0][0] - best[0][0]) * first.sign < 0:
                best = entry
        return (*best, front_size)

    def _last_of(self, result: dict[str, Any]) -> tuple[tuple[float | None, ...], int]:
        # Trials restored by a resume have reported nothing to this driver: their last result.
        values = tuple(real_value(result.get(o.metric)) for o in self.objectives)
        return values, int(result.get("training_iteration", 0))

    def _shown(self, values: Sequence[float | None]) -> str:
        return ", ".join(
            f"{o.metric}={'n/a' if v is None else f'{v:.4g}'}"
            for o, v in zip(self.objectives, values, strict=True)
        )

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
            values, trial_id, iteration, front_size = best
            if len(self.objectives) > 1:
                line += f" | Pareto front: {plural(front_size, 'trial')}"
            line += f" | best {self._shown(values)} ({trial_id}, iteration {iteration})"
        return line

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any
    ) -> None:
        if result.get(self.objectives[0].metric) is not None:  # what the final table counts as reported
            self._last[trial.trial_id] = self._last_of(result)
        now = self.clock()
        if now - self._last_status >= self.interval_s:
            self._last_status = now
            echo(self.console, self._status(trials), highlight=False, soft_wrap=True)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if not self.trial_lines:
            return
        last = trial.last_result or {}
        values, _ = self._last_of(last)
        echo(
            self.console,
            f"  trial {trial.trial_id} finished: {self._shown(values)} "
            f"after {plural(last.get('training_iteration', 0), 'iteration')}",
            highlight=False,
            soft_wrap=True,
        )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        echo(self.console, f"  trial {trial.trial_id} failed (see analyze for the traceback)", style="red")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        echo(self.console, self._status(trials), highlight=False, soft_wrap=True)


class TimeBudget(Callback):
    """Stops the sweep once ``seconds`` of wall time have passed, the way a first Ctrl-C does.

    Ray Tune's ``TuneConfig.time_budget_s`` would mark every running trial TERMINATED, so a
    resume would never finish them. This sends the driver SIGUSR1 instead, which Ray Tune
    handles like Ctrl-C: a final snapshot, running trials left resumable. The budget counts
    from the first result of each ``run`` or ``resume`` (starting Ray and the trials'
    processes is not counted), so every resume makes progress.

    Args:
        seconds: The budget.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline: float | None = None
        self._stopping = False

    def setup(self, *args: Any, **info: Any) -> None:
        self._deadline = None
        self._stopping = False

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any
    ) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.seconds

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self._stopping or self._deadline is None or time.monotonic() < self._deadline:
            return
        self._stopping = True
        if not callable(signal.getsignal(signal.SIGUSR1)):
            # Ray installs its handler only when the sweep runs in the main thread.
            logger.warning("time_budget reached, but the sweep cannot be stopped from this thread")
            return
        logger.warning("time_budget of %gs reached: stopping the sweep (it can be resumed)", self.seconds)
        os.kill(os.getpid(), signal.SIGUSR1)


class StopDiverged(Stopper):
    """Stops a trial (cleanly, as TERMINATED) once a result of it diverged.

    Args:
        metric: The tuned metric, or every metric of a multi-objective sweep (a trial diverged
            when one of them did).
        max_iterations: Also stop at this ``training_iteration`` (the sweep's budget per trial).
    """

    def __init__(self, metric: str | Sequence[str], max_iterations: int) -> None:
        self.metric = metric
        self.max_iterations = max_iterations

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if result.get("training_iteration", 0) >= self.max_iterations:
            return True
        metrics = [self.metric] if isinstance(self.metric, str) else self.metric
        return any(is_diverged(result, metric) for metric in metrics)

    def stop_all(self) -> bool:
        return False
