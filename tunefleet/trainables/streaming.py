"""DataLoaders for :class:`~tunefleet.trainables.data.DatasetSplits`, with an exact data position.

Plain torch, no Ray. Randomness inside DataLoader worker processes (a random crop drawn from
torch's, numpy's or Python's global generator) cannot be checkpointed as worker state, so it is
made a pure function of the data position instead:

- the batch order is the trial's :class:`~tunefleet.trainables.batches.BatchOrder`; the loader
  walks a copy of it ahead of the training loop (prefetching), while the loop advances the
  original one batch at a time, so the original is always exactly what has been consumed;
- every training sample is loaded with the global generators seeded from (trial seed, epoch,
  position in the epoch) (:func:`~tunefleet.trainables.rng.sample_seed`), every evaluation batch
  from (trial seed, split, batch number).

Results therefore depend neither on ``num_workers``, nor on which worker loaded a sample, nor
on a restore in the middle of an epoch: a restored loader starts at the saved position of the
saved permutation. Loading in the training process itself (``num_workers=0``) puts the trial's
own generator state back after each batch, so it does not disturb dropout either.

One DataLoader, and one set of persistent worker processes, serves all three splits in one
stream of requests: each iteration's training batches, then the validation and test batches,
then the next iteration's (:meth:`StreamLoader.stream`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from tunefleet.trainables.batches import BatchOrder, eval_shard, micro_batches
from tunefleet.trainables.data import DatasetSplits
from tunefleet.trainables.rng import get_global_rngs, sample_seed, seed_sample_rngs, set_global_rngs

__all__ = ["LoadRequest", "SeededSamples", "StreamLoader"]

_EVAL_SPLITS = {"val": 1, "test": 2}


@dataclass(frozen=True)
class LoadRequest:
    """One batch to load: which split, which indices, and where their seeds come from.

    Attributes:
        split: ``train``, ``val`` or ``test``.
        indices: Indices into that split's dataset.
        epoch: The epoch of a training batch; for an evaluation batch, minus the split's number.
        start: Position of the first sample in the epoch's permutation (training), or of the
            batch in the evaluation set.
        per_sample: Seed each sample at its own position (training), or the batch once
            (evaluation, whose batches are fixed).
    """

    split: str
    indices: list[int]
    epoch: int
    start: int
    per_sample: bool


class SeededSamples(Dataset[tuple[Any, Any]]):
    """The three splits behind one DataLoader, each sample loaded with its seed.

    The DataLoader hands a whole :class:`LoadRequest` (what its batch sampler yields) to
    :meth:`__getitems__`, in a worker process or, without workers, in the training process.
    Seeds are derived there, not in the training process, which only says where the batch is.

    Args:
        splits: The datasets.
        seed_base: ``derive_seed(trial seed, SAMPLE_STREAM)``.
    """

    def __init__(self, splits: DatasetSplits, seed_base: int) -> None:
        self.splits = splits
        self.seed_base = seed_base

    def __getitem__(self, request: LoadRequest) -> tuple[Any, Any]:
        raise TypeError("SeededSamples loads whole LoadRequests through __getitems__")

    def __getitems__(self, request: LoadRequest) -> list[tuple[Any, Any]]:
        dataset = getattr(self.splits, request.split)
        transform = getattr(self.splits, f"{request.split}_transform")
        in_training_process = get_worker_info() is None
        # Only the CPU generators are seeded (and so saved); CUDA's is the trial's own.
        saved = get_global_rngs(torch.device("cpu")) if in_training_process else None
        try:
            if not request.per_sample:
                seed_sample_rngs(sample_seed(self.seed_base, request.epoch, request.start))
            samples = []
            for i, index in enumerate(request.indices):
                if request.per_sample:
                    seed_sample_rngs(sample_seed(self.seed_base, request.epoch, request.start + i))
                x, y = dataset[index]
                if transform is not None:
                    x = transform(x)
                samples.append((x, y))
            return samples
        finally:
            if saved is not None:
                set_global_rngs(saved, torch.device("cpu"))


class _Requests(Sampler[LoadRequest]):
    """The DataLoader's batch sampler: yields whatever requests were set before ``iter()``."""

    def __init__(self) -> None:
        self.source: Iterable[LoadRequest] = ()

    def __iter__(self) -> Iterator[LoadRequest]:
        return iter(self.source)


class StreamLoader:
    """A trial's DataLoader over :class:`DatasetSplits`, and its worker processes.

    Args:
        splits: The datasets.
        num_workers: Worker processes (0: load in this process). They persist between
            iterations until :meth:`close`.
        device: Where batches go; on CUDA they are pinned and copied without blocking.
        seed_base: ``derive_seed(trial seed, SAMPLE_STREAM)``.
        eval_batch_size: Samples per evaluation batch.
        rank: This process's rank in a multi-process trial.
        world_size: Processes of the trial.
    """

    def __init__(
        self,
        splits: DatasetSplits,
        num_workers: int,
        device: torch.device,
        seed_base: int,
        eval_batch_size: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.device = device
        self.seed_base = seed_base
        self.eval_batch_size = eval_batch_size
        self.rank, self.world_size = rank, world_size
        self._splits = splits
        self._requests = _Requests()
        self._loader: DataLoader[Any] | None = DataLoader(
            SeededSamples(splits, seed_base),
            batch_sampler=cast(Any, self._requests),  # yields LoadRequests, not index lists
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
            persistent_workers=num_workers > 0,
            # Iterators draw their workers' base seed from this generator, not from the global
            # one: creating an iterator must not shift the trial's dropout stream (and per-sample
            # seeding makes the base seed irrelevant anyway).
            generator=torch.Generator().manual_seed(0),
        )

    def _iterate(self, requests: Iterable[LoadRequest]) -> Iterator[tuple[Tensor, Tensor]]:
        if self._loader is None:
            raise RuntimeError("the loader is closed")
        self._requests.source = requests
        # With persistent workers this resets the one iterator: batches still in flight for an
        # earlier stream (before a restore) are drained and dropped.
        for x, y in self._loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def stream(
        self, order: BatchOrder, batch_size: int, parts: int, steps: int
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Every batch of this process from ``order``'s position on, in the order the loop uses
        them, without end: each iteration's ``steps`` training batches (as micro-batches), then
        the validation batches, then the test batches.

        One stream across iterations keeps the workers busy at every boundary: they load the next
        iteration's first batches while the loop evaluates, and nothing they load is dropped.
        ``order`` is copied; the caller advances its own order one batch per optimizer step.
        """
        ahead = order.clone()
        evaluation = [*self._eval_requests("val"), *self._eval_requests("test")]

        def requests() -> Iterator[LoadRequest]:
            while True:
                for _ in range(steps):
                    batch = ahead.next_batch(batch_size)
                    for part in micro_batches(batch, parts, self.rank, self.world_size):
                        yield LoadRequest("train", part.indices.tolist(), batch.epoch, part.start, True)
                yield from evaluation

        return self._iterate(requests())

    def eval_batch_count(self, split: str) -> int:
        """How many batches of the ``val`` or ``test`` set this process loads per evaluation
        (of its :func:`~tunefleet.trainables.batches.eval_shard`)."""
        return len(self._eval_requests(split))

    def _eval_requests(self, split: str) -> list[LoadRequest]:
        shard = eval_shard(len(getattr(self._splits, split)), self.rank, self.world_size)
        epoch = -_EVAL_SPLITS[split]
        return [
            LoadRequest(
                split, list(range(start, min(start + self.eval_batch_size, shard.stop))), epoch, start, False
            )
            for start in range(shard.start, shard.stop, self.eval_batch_size)
        ]

    def close(self) -> None:
        """Stops the worker processes now (idempotent)."""
        loader, self._loader = self._loader, None
        if loader is None:
            return
        # torch 2.13: persistent workers belong to the loader's private `_iterator` and stop
        # when it is garbage collected; a trial that ends (reset_config, stop) must not leave
        # them running until then, so they are shut down explicitly.
        iterator = getattr(loader, "_iterator", None)
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        loader._iterator = None
