"""Which samples each optimizer step sees: a position in the data that a checkpoint records.

Plain torch, no Ray, and the same for tensors and streamed datasets. Each epoch is a permutation
of the training set drawn from the trial's batch-order generator; a batch is the next slice of
it. Batches never wrap around: when fewer samples than a batch remain, the next batch starts a
new epoch (so every batch has the same size). :class:`BatchOrder` is that position (epochs
completed, the permutation, samples consumed from it, and the generator's state after drawing
it); every later batch follows from it, so a restored trial continues with the very batches it
would have seen.

A batch is then split for the process and for gradient accumulation (:func:`micro_batches`):
a multi-process (DDP) trial gives each rank a contiguous shard of the batch, and each shard is
cut into ``grad_accumulation`` micro-batches, each with the weight that makes the summed losses
the mean over the whole batch. An evaluation set is split the same way (:func:`eval_shard`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tunefleet.trainables.rng import BATCH_ORDER_STREAM, derive_seed

__all__ = ["Batch", "BatchOrder", "EvalShard", "MicroBatch", "eval_shard", "micro_batches"]


@dataclass(frozen=True)
class Batch:
    """The indices of one optimizer step's samples, and where they sit in the data.

    Attributes:
        indices: Training-set indices, on the order's device.
        epoch: Index of the epoch whose permutation they come from (0 for the first).
        start: Position of the first of them in that permutation.
    """

    indices: Tensor
    epoch: int
    start: int


@dataclass(frozen=True)
class MicroBatch:
    """A part of a batch that one forward/backward pass handles.

    Attributes:
        indices: Training-set indices (a view of the batch's).
        start: Position of the first of them in the epoch's permutation.
        weight: Factor of this part's mean loss: its share of the whole batch, times the number of
            processes (whose gradients DDP averages), so that the gradients add up to the mean
            over the whole batch.
    """

    indices: Tensor
    start: int
    weight: float


class BatchOrder:
    """Epoch-wise shuffled batches of a training set of ``num_samples``, and the position in them.

    Args:
        num_samples: Size of the training set.
        seed: The trial's seed; the permutations come from an independent stream of it.
        device: Where the permutation (and so the batches' indices) live: the data's device for
            tensors indexed in place, the CPU for datasets.

    Example:
        >>> order = BatchOrder(10, seed=0)
        >>> [len(order.next_batch(4).indices) for _ in range(3)], order.epochs_completed
        ([4, 4, 4], 1)
    """

    def __init__(self, num_samples: int, seed: int, device: torch.device | str = "cpu") -> None:
        self.num_samples = num_samples
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(derive_seed(seed, BATCH_ORDER_STREAM))
        self.epochs_completed = 0
        self.permutation = torch.empty(0, dtype=torch.long, device=self.device)
        self.position = 0

    @property
    def epochs(self) -> float:
        """Epochs of training data consumed, fractional."""
        return self.epochs_completed + self.position / self.num_samples

    def next_batch(self, batch_size: int) -> Batch:
        """The next ``batch_size`` indices (``batch_size <= num_samples``); a new epoch when needed."""
        if self.position + batch_size > len(self.permutation):
            if len(self.permutation):
                self.epochs_completed += 1
            # Drawn on the CPU from the trial's own generator: the same order on every device,
            # and untouched by dropout or anything else that uses the global RNG.
            order = torch.randperm(self.num_samples, generator=self.generator)
            self.permutation = order.to(self.device)
            self.position = 0
        start = self.position
        self.position += batch_size
        return Batch(self.permutation[start : self.position], self.epochs_completed, start)

    def clone(self) -> BatchOrder:
        """An independent copy at the same position (it draws the same batches from here on)."""
        twin = copy.copy(self)
        twin.generator = torch.Generator()
        twin.generator.set_state(self.generator.get_state())
        return twin

    def state_dict(self) -> dict[str, Any]:
        """The position as plain values (tensors on the CPU)."""
        return {
            "epochs_completed": self.epochs_completed,
            "permutation": self.permutation.cpu(),
            "position": self.position,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continues from a saved position.

        If the training set changed size since (a changed ``val_fraction``), the saved
        permutation no longer indexes it: the next batch starts a new epoch instead.
        """
        self.epochs_completed = state["epochs_completed"]
        self.generator.set_state(state["generator"])
        permutation: Tensor = state["permutation"]
        if len(permutation) in (0, self.num_samples):
            self.permutation = permutation.to(self.device)
            self.position = state["position"]
        else:
            self.permutation = torch.empty(0, dtype=torch.long, device=self.device)
            self.position = 0


def micro_batches(batch: Batch, parts: int, rank: int = 0, world_size: int = 1) -> list[MicroBatch]:
    """This process's micro-batches of ``batch``: its shard, cut into ``parts`` pieces.

    Pieces differ in size by at most one sample (empty ones are left out), and their weights
    ``len(piece) * world_size / len(batch)`` make the weighted sum of their mean losses, averaged
    over the processes, the mean loss of the whole batch: accumulation does not change the
    gradient, whatever ``batch_size`` and ``grad_accumulation``.

    Example:
        >>> batch = Batch(torch.arange(10), epoch=0, start=20)
        >>> [(m.start, len(m.indices), m.weight) for m in micro_batches(batch, 3)]
        [(20, 4, 0.4), (24, 3, 0.3), (27, 3, 0.3)]
    """
    total = len(batch.indices)
    shard_start = 0
    shards = batch.indices.tensor_split(world_size)
    for shard in shards[:rank]:
        shard_start += len(shard)
    result = []
    start = batch.start + shard_start
    for piece in shards[rank].tensor_split(parts):
        if len(piece):
            result.append(MicroBatch(piece, start, len(piece) * world_size / total))
            start += len(piece)
    return result


@dataclass(frozen=True)
class EvalShard:
    """The samples ``start:stop`` of an evaluation set that one process evaluates.

    Attributes:
        start, stop: The contiguous range of sample indices.
        counts: False for a stand-in (see :func:`eval_shard`): evaluated, but its sums are zeros.
    """

    start: int
    stop: int
    counts: bool = True


def eval_shard(size: int, rank: int = 0, world_size: int = 1) -> EvalShard:
    """This process's contiguous part of an evaluation set of ``size`` samples.

    Parts differ in size by at most one sample (the first ones are larger), so that the processes
    share the work evenly whatever the evaluation batch size. A process whose part is empty (a set
    of fewer samples than processes) evaluates the first sample as a stand-in that does not count:
    its metric sums then have the shapes of the others' (a confusion matrix is as wide as the
    model's output) for the all-reduce, and it adds zeros to them.

    Example:
        >>> [eval_shard(5, rank, 2) for rank in range(2)]
        [EvalShard(start=0, stop=3, counts=True), EvalShard(start=3, stop=5, counts=True)]
        >>> eval_shard(1, 1, 2)
        EvalShard(start=0, stop=1, counts=False)
    """
    base, extra = divmod(size, world_size)
    start = rank * base + min(rank, extra)
    stop = start + base + (1 if rank < extra else 0)
    if start == stop and size > 0:
        return EvalShard(0, 1, counts=False)
    return EvalShard(start, stop)
