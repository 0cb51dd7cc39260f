"""Population Based Training: the paper's toy, exact exploits, explore in place, the lineage file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tunefleet.analysis import load_results
from tunefleet.run import RunOutcome
from tunefleet.rundir import LINEAGE_FILE, LINEAGE_KEYS

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _ray_perturbations(outcome: RunOutcome) -> int:
    """Exploits as Ray itself logged them (PopulationBasedTraining, log_config=True)."""
    return len((outcome.path / "pbt_global.txt").read_text().splitlines())


def test_sync_pbt_solves_the_paper_toy_and_logs_every_exploit(run_file: Callable[..., RunOutcome]) -> None:
    outcome = run_file(REPO / "experiments" / "pbt_toy.yaml")

    history = load_results(outcome.path).history()
    # Every member's whole history, although each was restarted from checkpoints ~25 times.
    assert history.groupby("trial_id")["training_iteration"].apply(list).map(list(range(1, 101)).__eq__).all()
    assert history["Q"].max() >= 1.19
    lines = (outcome.path / LINEAGE_FILE).read_text().splitlines()
    assert len(lines) == _ray_perturbations(outcome) > 0
    assert all(tuple(json.loads(line)) == LINEAGE_KEYS for line in lines)
    # The best trial's schedule: contiguous stretches from 0 to 100, ending with the trial itself.
    schedule = load_results(outcome.path).pbt_schedule()
    assert schedule["start_iteration"].iloc[0] == 0 and schedule["end_iteration"].iloc[-1] == 100
    assert (
        schedule["start_iteration"].iloc[1:].to_numpy() == schedule["end_iteration"].iloc[:-1].to_numpy()
    ).all()


def test_without_pbt_the_toy_population_plateaus(run_file: Callable[..., RunOutcome]) -> None:
    outcome = run_file(REPO / "experiments" / "pbt_toy_no_pbt.yaml")

    history = load_results(outcome.path).history()
    assert history["training_iteration"].max() == 100
    assert 0.38 < history["Q"].max() < 0.39  # 1.2 - 0.9**2 is the ceiling of each member


TRACED = """\
trainable: tests.schedulers.traced:TracedRegression
metric: val_loss
mode: min
num_samples: 4
max_iterations: 6
search: {algorithm: random, seed: 0}
space:
  lr: {loguniform: [1.0e-3, 1.0e-1]}
  batch_size: {choice: [16, 32, 64]}
  steps_per_iteration: 5
scheduler:
  type: pbt
  perturbation_interval: 2
  seed: 0
  mutations:
    lr: {loguniform: [1.0e-3, 1.0e-1]}
    batch_size: {choice: [16, 32, 64]}
checkpoint: {keep: 1}
"""


@pytest.fixture(scope="module")
def traced_run(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunOutcome, pd.DataFrame]:
    """4 members on 2 CPUs (they take turns), perturbed every 2 iterations, keeping 1 checkpoint."""
    from rich.console import Console

    from tunefleet.config import load_experiment
    from tunefleet.run import run_experiment

    directory = tmp_path_factory.mktemp("traced")
    (directory / "exp.yaml").write_text(TRACED)
    outcome = run_experiment(
        load_experiment(directory / "exp.yaml"),
        storage=str(directory / "results"),
        console=Console(file=open(directory / "progress.txt", "w")),  # noqa: SIM115
    )
    return outcome, load_results(outcome.path).history()


def test_every_member_finishes_although_keep_is_1(traced_run: tuple[RunOutcome, pd.DataFrame]) -> None:
    outcome, history = traced_run
    assert (outcome.num_trials, outcome.num_errors) == (4, 0)  # no exploit lost its checkpoint
    assert history.groupby("trial_id")["training_iteration"].max().eq(6).all()


def test_exploit_restores_the_source_optimizer_state_exactly(
    traced_run: tuple[RunOutcome, pd.DataFrame],
) -> None:
    outcome, history = traced_run
    lineage = load_results(outcome.path).pbt_lineage()
    assert len(lineage) == _ray_perturbations(outcome) >= 2  # one exploit at each of 2 and 4

    for record in lineage.itertuples():
        source = history[(history["trial_id"] == record.source_trial)]
        saved = source[source["training_iteration"] == record.source_iteration]["optimizer_digest"]
        target = history[history["trial_id"] == record.trial]
        after = target[target["training_iteration"] == record.source_iteration + 1].iloc[-1]
        # Adam's moments and step counts, bit for bit as the source had them at its checkpoint.
        assert after["restored_digest"] == saved.iloc[-1]
        # Explore: the new hyperparameters are in force from the first step after the exploit.
        assert after["lr"] == pytest.approx(record.new_config["lr"])


def test_explore_changes_hyperparameters_without_new_processes(
    traced_run: tuple[RunOutcome, pd.DataFrame],
) -> None:
    outcome, _ = traced_run
    # Ray records the worker's process id in every result.
    pids = {
        json.loads(line)["pid"]
        for result in outcome.path.glob("*/result.json")
        for line in result.read_text().splitlines()
    }
    # 4 members, 2 CPUs, every member paused and resumed at every perturbation: still only the
    # (at most two) worker processes the first trials started; Ray ends a process per pause otherwise.
    assert 1 <= len(pids) <= 2


def test_lineage_records_have_exactly_the_documented_keys(
    traced_run: tuple[RunOutcome, pd.DataFrame],
) -> None:
    outcome, _ = traced_run
    for line in (outcome.path / LINEAGE_FILE).read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        assert tuple(record) == LINEAGE_KEYS
        assert record["iteration"] == record["source_iteration"]  # synchronous PBT
        assert record["trial"] != record["source_trial"]
        assert set(record["old_config"]) == set(record["new_config"])
