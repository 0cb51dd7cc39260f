"""A trial that continues another sweep's checkpoint (``tunefleet extend``), in process, without Ray.

The trainable restores the checkpoint its config names before its first step: iteration numbers
continue from the checkpoint's, and training continues bit-identically (no retraining from 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tunefleet.ray_internals import continue_checkpoints
from tunefleet.rundir import CHECKPOINT_ITERATION_FILE, CONTINUES_KEY, TrialFiles, last_checkpoint
from tunefleet.trainables.tasks import LinearRegression

CONFIG = {"lr": 0.01, "steps_per_iteration": 3, "max_iterations": 4}


@pytest.fixture
def continuing() -> Any:
    return continue_checkpoints(LinearRegression, CONTINUES_KEY, CHECKPOINT_ITERATION_FILE)


def test_a_checkpoint_records_the_iteration_it_was_saved_at(continuing: Any, tmp_path: Path) -> None:
    trainable = continuing(config=dict(CONFIG))
    trainable.train()
    trainable.train()
    saved = trainable.save(str(tmp_path / "checkpoint_000000"))
    marker = json.loads((Path(saved.checkpoint.path) / CHECKPOINT_ITERATION_FILE).read_text())
    assert marker["training_iteration"] == 2
    found = last_checkpoint(TrialFiles("t", "TERMINATED", dict(CONFIG), tmp_path))
    assert found is not None and found.training_iteration == 2
    trainable.stop()


def test_a_trial_naming_a_checkpoint_continues_it_at_the_next_iteration(
    continuing: Any, tmp_path: Path
) -> None:
    old = continuing(config=dict(CONFIG))
    old.train()
    old.train()
    old.save(str(tmp_path / "checkpoint_000000"))
    found = last_checkpoint(TrialFiles("t", "TERMINATED", dict(CONFIG), tmp_path))
    assert found is not None
    continues = {
        "trial_id": "t",
        "checkpoint": str(found.path),
        "training_iteration": found.training_iteration,
        "time_total_s": found.time_total_s,
    }
    new = continuing(config={**CONFIG, CONTINUES_KEY: continues})

    first = new.train()
    reference = old.train()  # the old trial, had it simply run on

    assert first["training_iteration"] == 3
    assert first["global_step"] == reference["global_step"] == 3 * CONFIG["steps_per_iteration"]
    assert first["val_loss"] == reference["val_loss"]  # bit-identical: the same state, the same batches
    for a, b in zip(new.model.parameters(), old.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # Reused for another trial (Ray's reset): a continued trial there too, at the right iteration.
    assert new.reset({**CONFIG, CONTINUES_KEY: continues})
    assert new.train()["training_iteration"] == 3
    assert new.reset(dict(CONFIG))
    assert new.train()["training_iteration"] == 1
    old.stop()
    new.stop()
