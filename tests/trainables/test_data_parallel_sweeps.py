"""Sweeps of data-parallel trials on the suite's local Ray (2 CPUs): each trial is two one-CPU
ranks and reserves no CPU for its own process, so trials run one at a time in the same ranks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tunefleet.analysis import load_results
from tunefleet.config import load_experiment
from tunefleet.run.sweep import RunOutcome, run_experiment

pytestmark = pytest.mark.slow


def run(directory: Path, experiment: str) -> RunOutcome:
    (directory / "exp.yaml").write_text(experiment)
    return run_experiment(
        load_experiment(directory / "exp.yaml"),
        storage=str(directory / "results"),
        console=Console(file=open(directory / "progress.txt", "w")),
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


ASHA = """\
trainable: tests.trainables.ranked:ProcessReportingBlobs
metric: val_loss
mode: min
num_samples: 4
max_iterations: 3
search: {algorithm: random, seed: 0}
space:
  lr: {loguniform: [1.0e-3, 1.0e-1]}
  hidden: 8
  batch_size: 32
  steps_per_iteration: 3
  num_workers: 1
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
resources: {workers: {count: 2, cpu: 1}}
"""


def test_an_asha_sweep_of_two_rank_trials_completes_and_leaves_no_process(
    ray_local: None, tmp_path: Path
) -> None:
    outcome = run(tmp_path, ASHA)
    assert (outcome.num_trials, outcome.num_errors) == (4, 0)
    history = load_results(outcome.path).history()
    assert set(history["world_size"]) == {2}
    assert history.groupby("trial_id")["training_iteration"].max().min() >= 1
    # Each result names 2 ranks and their DataLoader worker (num_workers: 1 per rank).
    reported = [row.split() for row in history["processes"]]
    assert {len(pids) for pids in reported} == {4}
    ranks = {pids[0] for pids in reported} | {pids[2] for pids in reported}
    assert len(ranks) == 2  # trials reused the ranks of the first
    pids = {int(pid) for pids in reported for pid in pids}
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in pids if alive(pid)] == []  # ranks and DataLoader workers all ended


PBT = """\
trainable: tests.trainables.ranked:TracedRanks
metric: val_loss
mode: min
num_samples: 2
max_iterations: 3
search: {algorithm: random, seed: 0}
space:
  lr: {loguniform: [1.0e-3, 1.0e-1]}
  steps_per_iteration: 5
scheduler:
  type: pbt
  perturbation_interval: 1
  seed: 0
  mutations:
    lr: {loguniform: [1.0e-3, 1.0e-1]}
checkpoint: {keep: 1}
resources: {workers: {count: 2, cpu: 1}}
"""


def test_a_pbt_exploit_copies_every_ranks_state_and_the_new_lr_applies_on_every_rank(
    ray_local: None, tmp_path: Path
) -> None:
    outcome = run(tmp_path, PBT)
    assert (outcome.num_trials, outcome.num_errors) == (2, 0)
    results = load_results(outcome.path)
    history, lineage = results.history(), results.pbt_lineage()
    assert len(lineage) >= 1
    assert (history["state_rank0"] == history["state_rank1"]).all()  # the ranks never drift apart

    def row(trial: str, iteration: int) -> Any:
        rows = history[(history["trial_id"] == trial) & (history["training_iteration"] == iteration)]
        return rows.iloc[-1]

    for record in lineage.itertuples():
        donor = row(record.source_trial, record.source_iteration)
        after = row(record.trial, record.source_iteration + 1)
        # Every rank restored the donor's weights and Adam moments, bit for bit...
        assert after["restored_rank0"] == after["restored_rank1"] == donor["state_rank0"]
        # ...and trains with the explored lr.
        assert after["lr_rank0"] == after["lr_rank1"] == pytest.approx(record.new_config["lr"])


def test_a_rank_that_never_joins_fails_its_trial_naming_the_rank_and_its_node(
    ray_local: None, tmp_path: Path
) -> None:
    from ray import tune

    from .ranked import LateRankBlobs

    started = time.monotonic()
    tuner = tune.Tuner(
        tune.with_resources(LateRankBlobs, tune.PlacementGroupFactory([{}, {"CPU": 1}, {"CPU": 1}])),
        param_space={"hidden": 8, "steps_per_iteration": 2},
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop={"training_iteration": 1}, verbose=0),
    )
    (error,) = tuner.fit().errors
    assert "rank 1 on node 127.0.0.1" in str(error) and "did not join the process group" in str(error)
    assert time.monotonic() - started < 120  # the sweep ended: nothing waited for the rank
