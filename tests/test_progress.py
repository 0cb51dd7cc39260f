"""Live progress: a line per finished trial for small sweeps, status lines only for large ones."""

from __future__ import annotations

import io
import math
import pickle
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from rich.console import Console

from tunefleet.run.callbacks import ProgressCallback


def finished_lines(total: int) -> list[str]:
    out = io.StringIO()
    callback = ProgressCallback("score", "max", total, Console(file=out, force_terminal=False, width=200))
    trials = [
        SimpleNamespace(
            trial_id=f"t{i}", status="TERMINATED", last_result={"score": i, "training_iteration": 2}
        )
        for i in range(3)
    ]
    for trial in trials:
        callback.on_trial_result(0, trials, trial, trial.last_result)
        callback.on_trial_complete(0, trials, trial)
    callback.on_trial_error(0, trials, trials[0])
    callback.on_experiment_end(trials)
    return out.getvalue().splitlines()


def test_small_sweeps_print_a_line_per_finished_trial() -> None:
    lines = finished_lines(total=3)
    assert sum("finished: score=" in line for line in lines) == 3
    assert any("3/3 done" in line for line in lines)


def test_large_sweeps_print_status_and_failures_but_no_line_per_trial() -> None:
    lines = finished_lines(total=1000)
    assert not any("finished: score=" in line for line in lines)
    assert any("trial t0 failed" in line for line in lines)
    assert any("3/1000 done" in line and "best score=2" in line for line in lines)


def status_lines(callback: ProgressCallback) -> list[str]:
    return [line for line in callback.console.file.getvalue().splitlines() if " done, " in line]  # type: ignore[attr-defined]


def recording(total: int, mode: str = "max", clock: FakeClock | None = None) -> ProgressCallback:
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    callback = ProgressCallback("score", mode, total, console, clock=clock or FakeClock())
    callback.setup()
    return callback


class FakeClock:
    """A monotonic clock that moves only when told to (picklable, like the callback holding it)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def report(
    callback: ProgressCallback, trials: list[SimpleNamespace], trial: SimpleNamespace, value: Any
) -> None:
    iteration = trial.last_result.get("training_iteration", 0) + 1
    result = {"score": value, "training_iteration": iteration}
    callback.on_trial_result(0, trials, trial, result)
    trial.last_result = result  # Ray updates it after the callbacks have seen the result


def test_numpy_and_torch_metrics_are_shown_and_ranked() -> None:
    callback = recording(total=2)
    trials = [SimpleNamespace(trial_id=f"t{i}", status="RUNNING", last_result={}) for i in range(2)]
    report(callback, trials, trials[0], np.float32(0.25))
    report(callback, trials, trials[1], torch.tensor(0.75))
    for trial in trials:
        trial.status = "TERMINATED"
        callback.on_trial_complete(0, trials, trial)
    callback.on_experiment_end(trials)
    text = callback.console.file.getvalue()  # type: ignore[attr-defined]
    assert "trial t0 finished: score=0.25 after 1 iteration" in text
    assert "trial t1 finished: score=0.75 after 1 iteration" in text
    assert "best score=0.75 (t1, iteration 1)" in status_lines(callback)[-1]


def test_the_live_best_is_the_trial_the_final_table_ranks_first() -> None:
    # The final table ranks each trial by its last value (scope=last); so does the live line.
    callback = recording(total=3)
    trials = [SimpleNamespace(trial_id=f"t{i}", status="RUNNING", last_result={}) for i in range(3)]
    report(callback, trials, trials[0], 10.0)  # the best value ever reported...
    report(callback, trials, trials[0], 1.0)  # ...but t0 ended lower
    report(callback, trials, trials[1], 5.0)
    report(callback, trials, trials[1], 5.0)
    report(callback, trials, trials[2], 7.0)
    report(callback, trials, trials[2], math.nan)  # its last value is not ranked at all
    callback.on_experiment_end(trials)
    assert "best score=5 (t1, iteration 2)" in status_lines(callback)[-1]


def test_equal_last_values_rank_the_earlier_trial_first_as_the_final_table_does() -> None:
    callback = recording(total=2, mode="min")
    trials = [SimpleNamespace(trial_id=f"t{i}", status="RUNNING", last_result={}) for i in range(2)]
    report(callback, trials, trials[1], 2.0)
    report(callback, trials, trials[0], 2.0)
    callback.on_experiment_end(trials)
    assert "best score=2 (t0, iteration 1)" in status_lines(callback)[-1]


def test_a_resumed_sweep_counts_its_best_from_the_restored_trials_last_results() -> None:
    callback = recording(total=2)
    restored = SimpleNamespace(
        trial_id="t0", status="TERMINATED", last_result={"score": 3.0, "training_iteration": 4}
    )
    running = SimpleNamespace(
        trial_id="t1", status="RUNNING", last_result={"score": 1.0, "training_iteration": 2}
    )
    report(callback, [restored, running], running, 2.0)
    callback.on_experiment_end([restored, running])
    assert "best score=3 (t0, iteration 4)" in status_lines(callback)[-1]


def test_the_clock_of_a_resumed_sweep_counts_from_the_resume() -> None:
    # Ray keeps the callback pickled in tuner.pkl from the first run and restores it from there.
    first = ProgressCallback("score", "max", 1, Console(file=io.StringIO()), clock=FakeClock(now=100.0))
    first.setup()
    restored = pickle.loads(pickle.dumps(first))
    restored.console = Console(file=io.StringIO(), force_terminal=False, width=200)
    restored.clock.now = 100.0 + 3600  # the resume, an hour later
    restored.setup()  # what Ray's controller calls at the start of every run and resume
    restored.clock.now += 61
    restored.on_experiment_end([SimpleNamespace(trial_id="t0", status="TERMINATED", last_result={})])
    assert status_lines(restored)[-1].startswith("[01:01] 1/1 done")


def test_metric_names_and_trial_ids_print_exactly_and_counts_in_words() -> None:
    out = io.StringIO()
    metric = "loss[/x] [bohb]"
    callback = ProgressCallback(metric, "min", 2, Console(file=out, width=200))  # markup on: rich's default
    trial = SimpleNamespace(
        trial_id="t[/x]", status="ERROR", last_result={metric: 0.5, "training_iteration": 1}
    )

    callback.on_trial_result(0, [trial], trial, trial.last_result)
    callback.on_trial_complete(0, [trial], trial)
    callback.on_trial_error(0, [trial], trial)
    callback.on_experiment_end([trial])

    lines = out.getvalue().splitlines()
    assert f"  trial t[/x] finished: {metric}=0.5 after 1 iteration" in lines
    assert "  trial t[/x] failed (see analyze for the traceback)" in lines
    assert lines[-1].endswith(f"] 1/2 done, 0 running, 1 error | best {metric}=0.5 (t[/x], iteration 1)")


def test_a_multi_objective_sweep_shows_every_objective_and_ranks_by_pareto_front_then_the_first() -> None:
    from tunefleet.objectives import objectives_of

    objectives = objectives_of(["score", "loss"], ["max", "min"])
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    callback = ProgressCallback("score", "max", 4, console, clock=FakeClock(), objectives=objectives)
    callback.setup()
    values = {"t0": (0.7, 0.05), "t1": (0.9, 0.5), "t2": (0.95, 0.9), "t3": (0.8, 0.6)}
    trials = [SimpleNamespace(trial_id=t, status="TERMINATED", last_result={}) for t in values]
    for trial in trials:
        score, loss = values[trial.trial_id]
        trial.last_result = {"score": score, "loss": loss, "training_iteration": 1}
        callback.on_trial_result(0, trials, trial, trial.last_result)
        callback.on_trial_complete(0, trials, trial)
    callback.on_experiment_end(trials)

    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "trial t3 finished: score=0.8, loss=0.6 after 1 iteration" in text
    # t3 is dominated by t1; of the front t0, t1, t2, t2 has the best score.
    assert (
        "4/4 done, 0 running, 0 errors | Pareto front: 3 trials | best score=0.95, loss=0.9 (t2, iteration 1)"
        in status_lines(callback)[-1]
    )


def test_a_progress_callback_pickled_before_multi_objective_sweeps_restores_with_its_one_objective() -> None:
    callback = ProgressCallback("score", "min", 1, Console(file=io.StringIO()), clock=FakeClock())
    state = pickle.loads(pickle.dumps(callback)).__dict__
    del state["objectives"]  # as a tunefleet without multi-objective sweeps pickled it
    restored = ProgressCallback.__new__(ProgressCallback)
    restored.__setstate__(state)
    restored.console = Console(file=io.StringIO(), force_terminal=False, width=200)
    restored.setup()
    trial = SimpleNamespace(
        trial_id="t0", status="TERMINATED", last_result={"score": 2.0, "training_iteration": 1}
    )
    restored.on_experiment_end([trial])
    assert "best score=2 (t0, iteration 1)" in status_lines(restored)[-1]
