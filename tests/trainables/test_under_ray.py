"""The trainable inside a real Tune run: actor reuse, CPU threads, checkpoints through Ray storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tunefleet.trainables import DigitsMLP

from .helpers import StreamedBlobs


class ThreadReportingDigits(DigitsMLP):
    """DigitsMLP that also reports the torch threads and process it ran with."""

    def step(self) -> dict[str, Any]:
        import os

        return {**super().step(), "torch_threads": torch.get_num_threads(), "actor_pid": os.getpid()}


@pytest.mark.slow
def test_tune_reuses_actors_and_limits_threads_to_assigned_cpus(ray_local: None, tmp_path: Path) -> None:
    from ray import tune

    config = {"hidden": 16, "steps_per_iteration": 10, "max_iterations": 2, "dropout": 0.2}
    tuner = tune.Tuner(
        tune.with_resources(ThreadReportingDigits, {"cpu": 1}),
        # Two identical trials in sequence: the second runs in the first one's actor after
        # reset_config, and must reproduce it exactly.
        param_space={**config, "lr": tune.grid_search([3e-3, 3e-3])},
        tune_config=tune.TuneConfig(
            metric="val_loss", mode="min", reuse_actors=True, max_concurrent_trials=1
        ),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path),
            stop={"training_iteration": 2},
            checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1),
            verbose=0,
        ),
    )
    results = tuner.fit()
    assert not results.errors
    first, second = results[0].metrics, results[1].metrics
    assert first is not None and second is not None
    assert first["actor_pid"] == second["actor_pid"]
    assert first["torch_threads"] == second["torch_threads"] == 1
    assert first["val_loss"] == second["val_loss"] and first["global_step"] == 20
    assert set(first) >= DigitsMLP.reported_metrics()
    checkpoint = results[0].checkpoint
    assert checkpoint is not None
    with checkpoint.as_directory() as directory:
        assert (Path(directory) / "state.pt").is_file()


class WorkerReportingBlobs(StreamedBlobs):
    """StreamedBlobs that also reports how many DataLoader workers its trial got."""

    def step(self) -> dict[str, Any]:
        loader = self.loop._loader
        workers = loader._loader.num_workers if loader is not None and loader._loader is not None else -1
        return {**super().step(), "loader_workers": workers}


@pytest.mark.slow
def test_streamed_trial_gets_dataloader_workers_from_its_cpus(ray_local: None, tmp_path: Path) -> None:
    from ray import tune

    config = {"hidden": 8, "steps_per_iteration": 3, "batch_size": 32, "dropout": 0.2}
    tuner = tune.Tuner(
        tune.with_resources(WorkerReportingBlobs, {"cpu": 2}),
        param_space=config,
        tune_config=tune.TuneConfig(metric="val_loss", mode="min", reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop={"training_iteration": 2}, verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    metrics = results[0].metrics
    assert metrics is not None
    assert metrics["loader_workers"] == 1  # 2 CPUs: one trains, one loads
    assert metrics["global_step"] == 6 and 0 <= metrics["val_accuracy"] <= 1
