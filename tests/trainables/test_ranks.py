"""The training loop as one rank of a data-parallel trial, without Ray or a process group.

A :class:`~tunefleet.trainables.loop.Shard` says which rank a loop is; here its ``reduce_sum`` is
the identity (or records what it is given), so what each rank computes and saves is visible in
one process. The ranks together, in real processes, are ``test_data_parallel.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import Tensor

from tunefleet.trainables import CLASSIFICATION
from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.loop import Shard, TrainingLoop
from tunefleet.trainables.models import MLP
from tunefleet.trainables.tasks import MLPHyperparams

from .helpers import Blobs, assert_same_tensors


@dataclass(frozen=True)
class RecordingShard(Shard):
    """A rank whose all-reduce returns its input and keeps it, to look at."""

    reduced: list[Tensor] = field(default_factory=list, compare=False)

    def reduce_sum(self, tensor: Tensor) -> Tensor:
        self.reduced.append(tensor.clone())
        return tensor


def blobs(val: int = 60) -> DataSplits:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        Blobs(n, seed).as_tensors() for n, seed in ((240, 1), (val, 2), (60, 3))
    )
    return DataSplits(x_train, y_train, x_val, y_val, x_test, y_test)


def rank_loop(shard: Shard, data: DataSplits | None = None, **config: Any) -> TrainingLoop:
    hp = MLPHyperparams.from_config({"hidden": 8, "dropout": 0.3, "batch_size": 32, **config})
    return TrainingLoop(
        hp,
        data or blobs(),
        lambda: MLP(16, [hp.hidden] * hp.hidden_layers, 4, hp.activation, hp.dropout),
        CLASSIFICATION,
        torch.device("cpu"),
        shard=shard,
    )


def test_ranks_evaluate_even_parts_of_a_set_smaller_than_one_evaluation_batch() -> None:
    # 60 validation samples, one evaluation batch of up to 8192: both ranks get 30 of them.
    counted = []
    for rank in range(2):
        shard = RecordingShard(rank, 2)
        rank_loop(shard, steps_per_iteration=1).run_iteration()
        val_confusion = shard.reduced[1]  # after the training loss: confusion, then the loss sum
        counted.append(int(val_confusion.sum()))
    assert counted == [30, 30]


def test_a_rank_with_no_evaluation_sample_adds_zeros_of_the_right_shape() -> None:
    shard = RecordingShard(1, 2)
    result = rank_loop(shard, data=blobs(val=1), steps_per_iteration=1).run_iteration()
    val_confusion, val_loss_sum = shard.reduced[1:3]
    assert val_confusion.shape == (4, 4) and not val_confusion.any()
    assert val_loss_sum.item() == 0.0
    assert result["world_size"] == 2


def test_each_rank_draws_its_own_dropout_and_augmentation_streams() -> None:
    single, first, second = rank_loop(Shard()), rank_loop(Shard(0, 2)), rank_loop(Shard(1, 2))
    assert_same_tensors(first.model.state_dict(), second.model.state_dict())  # same initial weights
    # Rank 0 is a single-process trial's streams; rank 1 has its own.
    assert_same_tensors(first.rank_state(), single.rank_state())
    assert not torch.equal(first.rank_state()["trial"]["torch"], second.rank_state()["trial"]["torch"])
    assert not torch.equal(
        first.rank_state()["augmentation"]["state"], second.rank_state()["augmentation"]["state"]
    )


def test_a_checkpoint_restores_each_rank_its_own_streams_and_gives_new_ranks_new_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tunefleet.trainables.loop import with_rank_states

    ranks = [rank_loop(Shard(rank, 2), steps_per_iteration=2) for rank in range(2)]
    for loop in ranks:
        loop.run_iteration()
    state = with_rank_states(ranks[0].state_dict(), [loop.rank_state() for loop in ranks])

    for rank in range(2):  # the same two ranks again
        restored = rank_loop(Shard(rank, 2))
        restored.load_state_dict(state)
        assert_same_tensors(restored.rank_state(), ranks[rank].rank_state())
    with caplog.at_level(logging.WARNING):
        grown = rank_loop(Shard(2, 3))
        grown.load_state_dict(state, source="state.pt")
    assert "state.pt was saved by 2 process(es); rank 2 continues on new random streams" in caplog.text
    assert_same_tensors(grown.model.state_dict(), ranks[0].model.state_dict())
    assert grown.global_step == 2
    one = rank_loop(Shard())
    one.load_state_dict(state)
    assert_same_tensors(one.rank_state(), ranks[0].rank_state())


def test_a_batch_too_small_for_every_rank_to_have_every_micro_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 4"):
        rank_loop(Shard(0, 2), batch_size=3, grad_accumulation=2)
    rank_loop(Shard(0, 2), batch_size=4, grad_accumulation=2)
    rank_loop(Shard(), batch_size=1, grad_accumulation=2)  # one process: empty parts are skipped
