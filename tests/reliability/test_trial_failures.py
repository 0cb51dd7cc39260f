"""Failures inside a sweep: a trial that raises is retried from its checkpoint, a NaN stops a
trial as diverged, an impossible allocation fails only its trial; the sweep itself goes on."""

from __future__ import annotations

import json
import math

import pytest

from tests.reliability.conftest import counter_experiment, executed, iterations_by_trial
from tests.support import rendered
from tunefleet.analysis import load_results
from tunefleet.config import load_experiment
from tunefleet.runner import run_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faulty_sweep(ray_local: None, tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("faults")
    path = counter_experiment(
        directory,
        num_samples=1,
        search={"algorithm": "grid"},
        space={
            "x": 0.5,
            "fault": {"grid": ["none", "raise_once", "nan", "numpy_nan", "oom"]},
            "fault_at": 2,
        },
        failure={"max_failures": 1},
    )
    outcome = run_experiment(load_experiment(path))
    results = load_results(outcome.path)
    trials = results.trials().set_index("config/fault")
    return outcome, results, trials, directory / "runs.log"


def test_the_sweep_survives_every_fault_and_only_the_hopeless_trial_errors(faulty_sweep) -> None:
    outcome, _, trials, _ = faulty_sweep
    assert outcome.num_trials == 5 and outcome.num_errors == 1 and not outcome.interrupted
    assert trials["status"].to_dict() == {
        "none": "TERMINATED",
        "raise_once": "TERMINATED",
        "nan": "TERMINATED",
        "numpy_nan": "TERMINATED",
        "oom": "ERROR",
    }


def test_a_trial_that_raises_is_retried_from_its_last_checkpoint(faulty_sweep) -> None:
    _, results, trials, log = faulty_sweep
    trial_id = trials.loc["raise_once", "trial_id"]
    # Iteration 1 was checkpointed, so the retry starts at 2 (run twice: once failing).
    assert [i for t, i in executed(log) if t == trial_id] == [1, 2, 2, 3, 4]
    assert iterations_by_trial(results.history())[trial_id] == [1, 2, 3, 4]
    error = results.errors().set_index("trial_id").loc[trial_id]
    assert error["num_failures"] == 1 and error["status"] == "TERMINATED"
    assert "injected failure at iteration 2" in error["error"]
    assert "faulty.py" in error["traceback"]


@pytest.mark.parametrize("fault", ["nan", "numpy_nan"])
def test_a_nan_metric_stops_its_trial_cleanly_without_retries(faulty_sweep, fault: str) -> None:
    # A NaN computed by numpy is as much a NaN as Python's.
    _, results, trials, log = faulty_sweep
    trial_id = trials.loc[fault, "trial_id"]
    assert [i for t, i in executed(log) if t == trial_id] == [1, 2]
    assert iterations_by_trial(results.history())[trial_id] == [1, 2]
    assert trial_id not in set(results.errors()["trial_id"])
    assert math.isnan(trials.loc[fault, "value"])


def test_numpy_scores_are_written_to_the_result_files_as_numbers(faulty_sweep) -> None:
    _, results, trials, _ = faulty_sweep
    trial_dir = results.path / f"counter_{trials.loc['numpy_nan', 'trial_id']}"
    scores = [json.loads(line)["score"] for line in (trial_dir / "result.json").read_text().splitlines()]
    assert scores[0] == pytest.approx(0.01 - 0.04) and math.isnan(scores[1])  # not Ray's "null"


def test_the_diverged_trials_are_marked_so_in_the_analysis(faulty_sweep) -> None:
    _, results, trials, _ = faulty_sweep
    assert trials["diverged"].to_dict() == {
        "none": False,
        "raise_once": False,
        "nan": True,
        "numpy_nan": True,
        "oom": False,
    }
    summary = results.summary()
    assert summary["num_diverged"] == 2 and summary["num_unfinished"] == 0
    assert "5 trials (4 TERMINATED, 1 ERROR; 2 diverged)" in rendered(summary)


def test_a_failed_trial_shows_the_end_of_what_it_printed_next_to_its_error(faulty_sweep) -> None:
    _, results, trials, _ = faulty_sweep
    errors = results.errors().set_index("trial_id")
    oom, raise_once = trials.loc["oom", "trial_id"], trials.loc["raise_once", "trial_id"]
    # Both tries of the trial that failed twice, then the retried one, continued from iteration 2.
    printed = {
        trial_id: errors.loc[trial_id, "output"].split("\n==> stderr <==")[0]
        for trial_id in (oom, raise_once)
    }
    started = f"trial {oom} starts at iteration 1\nallocating a petabyte"
    assert printed[oom] == f"==> stdout <==\n{started}\n{started}"
    assert printed[raise_once] == (
        f"==> stdout <==\ntrial {raise_once} starts at iteration 1\niteration 1\niteration 2\n"
        f"trial {raise_once} starts at iteration 2\niteration 2\niteration 3\niteration 4"
    )
    shown = rendered(results.summary(), tracebacks=True)
    assert f"{oom}: RuntimeError:" in shown
    assert shown.index("      allocating a petabyte") > shown.index(f"{oom}: RuntimeError:")


def test_an_impossible_allocation_fails_its_trial_with_the_allocator_message(faulty_sweep) -> None:
    _, results, trials, _ = faulty_sweep
    trial_id = trials.loc["oom", "trial_id"]
    error = results.errors().set_index("trial_id").loc[trial_id]
    assert error["status"] == "ERROR" and error["num_failures"] == 2  # tried, retried once
    assert "can't allocate memory" in error["error"]


def test_summary_lists_the_failures_with_their_messages(faulty_sweep) -> None:
    _, results, trials, _ = faulty_sweep
    errors = {e["trial_id"]: e for e in results.summary()["errors"]}
    assert set(errors) == {trials.loc["raise_once", "trial_id"], trials.loc["oom", "trial_id"]}
    assert all(e["error"] for e in errors.values())


def test_untouched_trials_run_to_the_end(faulty_sweep) -> None:
    _, results, trials, _ = faulty_sweep
    assert iterations_by_trial(results.history())[trials.loc["none", "trial_id"]] == [1, 2, 3, 4]
