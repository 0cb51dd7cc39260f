"""A data-parallel trial: two rank processes on the suite's local Ray, joined by gloo.

One trainable of two ranks serves every test (starting ranks costs seconds); tests move it to
their config with ``reset_config``, which keeps the ranks, as Tune does when it reuses a trial's
process. The data: 240 streamed samples with a random per-sample augmentation and dropout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tunefleet.trainables.distributed import on_cpu

from .helpers import StreamedBlobs, assert_same_tensors, deterministic_metrics
from .ranked import TwoRankBlobs, processes, state_digest

CONFIG: dict[str, Any] = {
    "hidden": 16,
    "dropout": 0.3,
    "optimizer": "adam",
    "lr": 0.01,
    "batch_size": 32,
    "steps_per_iteration": 5,
    "max_iterations": 4,
}


@pytest.fixture(scope="module")
def two_ranks(ray_local: None) -> Iterator[TwoRankBlobs]:
    trainable = TwoRankBlobs(config=dict(CONFIG))
    yield trainable
    trainable.stop()


def trial_state(trainable: TwoRankBlobs) -> list[dict[str, Any]]:
    """Every rank's whole state (weights, optimizer, schedule, position, its random streams)."""
    return trainable.on_every_rank(lambda loop: on_cpu(loop.state_dict()))


def restart(trainable: TwoRankBlobs, config: dict[str, Any]) -> None:
    assert trainable.reset(dict(config))  # what Tune calls on a reused process


def test_a_restored_two_rank_trial_continues_exactly_on_every_rank(
    two_ranks: TwoRankBlobs, tmp_path: Path
) -> None:
    restart(two_ranks, CONFIG)
    ranks = two_ranks.on_every_rank(processes)
    straight = [two_ranks.train() for _ in range(2)]
    checkpoint = two_ranks.save(str(tmp_path / "checkpoint"))
    straight += [two_ranks.train() for _ in range(2)]
    final = trial_state(two_ranks)

    restart(two_ranks, CONFIG)  # a new trial in the same processes, then the checkpoint
    assert two_ranks.on_every_rank(processes) == ranks  # the ranks were kept
    two_ranks.restore(checkpoint)
    resumed = [two_ranks.train() for _ in range(2)]

    assert [deterministic_metrics(two_ranks, r) for r in resumed] == [
        deterministic_metrics(two_ranks, r) for r in straight[2:]
    ]
    assert [r["world_size"] for r in straight + resumed] == [2] * 6
    for rank, state in enumerate(trial_state(two_ranks)):  # optimizer state and streams included
        assert_same_tensors(state, final[rank], f"rank {rank}")
    # The ranks hold the same weights and optimizer state, but draw different dropout masks.
    assert_same_tensors(final[0]["model"], final[1]["model"])
    assert_same_tensors(final[0]["optimizer"], final[1]["optimizer"])
    assert not torch.equal(final[0]["rng"]["trial"]["torch"], final[1]["rng"]["trial"]["torch"])


def test_two_ranks_train_like_one_process_on_the_same_global_batch(two_ranks: TwoRankBlobs) -> None:
    # No dropout: with it each rank draws its own masks. The per-sample augmentation depends on
    # the sample's place in the data only, so the ranks see exactly the samples one process sees.
    config = {**CONFIG, "dropout": 0.0, "optimizer": "momentum", "lr": 0.05}
    restart(two_ranks, config)
    one = StreamedBlobs(config=dict(config))
    for _ in range(2):
        ranked, single = two_ranks.train(), one.train()
    weights = two_ranks.on_every_rank(lambda loop: on_cpu(loop.model.state_dict()))[0]
    # Not bit for bit: DDP sums the two halves' gradients where one process sums the whole
    # batch's in another order, and the rounding differences grow over 10 momentum steps. Float32
    # rounding is ~1e-7 relative; 1e-5 leaves room for that growth and nothing else.
    for name, value in one.model.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6, msg=name)
    for metric in ("train_loss", "val_loss", "test_loss"):
        assert ranked[metric] == pytest.approx(single[metric], rel=1e-5), metric
    assert ranked["val_accuracy"] == single["val_accuracy"]
    assert (ranked["world_size"], single["world_size"]) == (2, 1)
    one.stop()


def test_every_rank_restores_a_checkpoint_into_the_state_it_was_saved_in(
    two_ranks: TwoRankBlobs, tmp_path: Path
) -> None:
    restart(two_ranks, CONFIG)
    two_ranks.train()
    saved = two_ranks.on_every_rank(state_digest)
    checkpoint = two_ranks.save(str(tmp_path / "checkpoint"))
    restart(two_ranks, {**CONFIG, "lr": 0.003})  # a PBT exploit: new hyperparameters, then the state
    two_ranks.restore(checkpoint)
    assert two_ranks.on_every_rank(state_digest) == saved
    assert two_ranks.on_every_rank(lambda loop: loop.optimizer.param_groups[0]["lr"]) == [0.003, 0.003]


def test_a_batch_too_small_for_two_ranks_fails_the_trial_saying_why(two_ranks: TwoRankBlobs) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        restart(two_ranks, {**CONFIG, "batch_size": 1})
