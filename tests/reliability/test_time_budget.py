"""``time_budget`` stops a sweep the way Ctrl-C does: saved, and resumable to its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import counter_experiment, executed, iterations_by_trial
from tests.support import rendered
from tunefleet.analysis import load_results
from tunefleet.config import load_experiment
from tunefleet.run import resume_experiment, run_experiment
from tunefleet.rundir import resume_command

pytestmark = pytest.mark.slow


def test_a_sweep_out_of_time_stops_and_resumes_to_the_end(ray_local: None, tmp_path: Path) -> None:
    path = counter_experiment(
        tmp_path,
        num_samples=2,
        search={"max_concurrent": 1},
        space={"seconds": 1.0},
        time_budget="2s",  # from the first result; a trial trains for 4 s
    )
    outcome = run_experiment(load_experiment(path))
    assert outcome.interrupted and outcome.num_unfinished >= 1 and outcome.num_errors == 0
    # `tunefleet analyze` of the stopped sweep says what is unfinished and how to go on.
    stopped = load_results(outcome.path).summary()
    assert stopped["num_unfinished"] >= 1 and stopped["resume_command"] == resume_command(outcome.path)
    assert "Resume with:\n  tunefleet resume" in rendered(stopped)
    stops = 1
    while outcome.interrupted and stops < 20:  # each resume gets the budget again
        outcome = resume_experiment(outcome.path)
        stops += outcome.interrupted
    assert not outcome.interrupted and outcome.num_errors == 0
    finished = load_results(outcome.path).summary()
    assert finished["num_unfinished"] == 0 and finished["resume_command"] is None
    assert "Resume with" not in rendered(finished)
    history = iterations_by_trial(load_results(outcome.path).history())
    assert len(history) == 2 and all(h == [1, 2, 3, 4] for h in history.values())
    # Stopped trials continued from their checkpoints: only the iteration each was in the
    # middle of when the sweep stopped ran again.
    runs = executed(tmp_path / "runs.log")
    assert set(runs) == {(t, i) for t in history for i in range(1, 5)}
    assert len(runs) <= 8 + 2 * stops
