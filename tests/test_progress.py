"""Live progress: a line per finished trial for small sweeps, status lines only for large ones."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from tunefleet.progress import ProgressCallback


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
