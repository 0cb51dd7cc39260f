"""MLflow, W&B and Aim together on one real sweep, stopped by its time budget and resumed to its
end: every trial is one run in each tracker, with its config as parameters and the same last
value of the metric as tunefleet's own result files. Offline: MLflow on a SQLite file, W&B in
offline mode, Aim in a local repository, all inside the test's storage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.loggers.trackers import TrackedRun, aim_runs, mlflow_runs, wandb_offline_runs
from tests.reliability.helpers import counter_experiment
from tunefleet.analysis import load_results
from tunefleet.config import load_experiment
from tunefleet.loggers.mlflow import default_tracking_uri
from tunefleet.run import resume_experiment, run_experiment

# Each resume starts every logger again (W&B: a queue and a logging actor per trial), so the sweep
# takes minutes; more than pytest's 600 s default on a loaded 2-core machine.
pytestmark = [pytest.mark.integrations, pytest.mark.timeout(1800)]

TRACKERS = ("mlflow", "wandb", "aim")


@pytest.fixture(scope="module")
def sweep(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The finished sweep's directory, and how many times it was resumed."""
    directory = tmp_path_factory.mktemp("trackers")
    path = counter_experiment(
        directory,
        num_samples=3,
        max_iterations=3,
        space={"seconds": 1.0},  # a trial trains for 3 s: the budget stops the sweep in the middle
        time_budget="1.5s",
        loggers=list(TRACKERS),  # and no tensorboard
    )
    outcome = run_experiment(load_experiment(path))
    assert outcome.interrupted, "the time budget should have stopped the first run"
    resumes = 0
    while outcome.interrupted and resumes < 20:
        outcome = resume_experiment(outcome.path)
        resumes += 1
    assert not outcome.interrupted and outcome.num_errors == 0
    return outcome.path, resumes


def _expected(directory: Path) -> dict[str, tuple[float, float]]:
    """trial id -> (x, the last score) from tunefleet's own result files."""
    results = load_results(directory)
    last = results.history().groupby("trial_id")["score"].last()
    return {trial: (config["x"], float(last[trial])) for trial, config in results.configs().items()}


def _check(runs: list[TrackedRun], expected: dict[str, tuple[float, float]], group: str) -> None:
    assert sorted(run.trial_id for run in runs) == sorted(expected)  # one run per trial, no more
    for run in runs:
        x, score = expected[run.trial_id]
        assert run.group == group
        assert float(run.params["x"]) == pytest.approx(x)
        assert math.isclose(run.last["score"], score, rel_tol=1e-9), run.trial_id
        assert sorted(set(run.steps)) == [1, 2, 3]


def test_mlflow_has_one_run_per_trial_with_its_config_and_last_score(sweep: tuple[Path, int]) -> None:
    directory, _ = sweep
    runs = mlflow_runs(default_tracking_uri(directory.parent), "reliability", "score")
    _check(runs, _expected(directory), f"reliability/{directory.name}")


def test_wandb_offline_has_one_run_per_trial_with_its_config_and_last_score(sweep: tuple[Path, int]) -> None:
    directory, resumes = sweep
    runs = wandb_offline_runs(directory.parent, "score")
    _check(runs, _expected(directory), f"reliability/{directory.name}")
    # Offline, a trial continued by a resume writes a second folder for its run id.
    folders = list((directory.parent / "wandb").glob("offline-run-*"))
    assert len(runs) <= len(folders) <= len(runs) * (1 + resumes)


def test_aim_has_one_run_per_trial_with_its_config_and_last_score(sweep: tuple[Path, int]) -> None:
    directory, _ = sweep
    runs = aim_runs(directory.parent, "reliability", "score")
    _check(runs, _expected(directory), f"reliability/{directory.name}")


def test_a_sweep_without_tensorboard_in_its_loggers_writes_no_event_files(sweep: tuple[Path, int]) -> None:
    directory, _ = sweep
    assert list(directory.rglob("result.json"))
    assert not list(directory.rglob("events.out.tfevents.*"))
