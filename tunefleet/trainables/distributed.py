"""One rank of a data-parallel trial: the training loop with DistributedDataParallel.

Plain ``torch.distributed``, no Ray: the process group is already up (``tunefleet.trainables.
workers`` starts the processes and joins them). A rank is a :class:`~tunefleet.trainables.loop.
TrainingLoop` whose :class:`~tunefleet.trainables.loop.Shard` all-reduces over the group and whose
training forward pass goes through ``DistributedDataParallel``:

- every rank builds the same model from the trial's seed (DDP also broadcasts rank 0's weights
  and buffers when it wraps the model), and draws the same batch order; it trains on its shard of
  each batch (``micro_batches``) and DDP averages the gradients, which the micro-batch weights turn
  into the gradient of the whole batch: ``batch_size`` is the samples per optimizer step of the
  whole trial, whatever the number of ranks;
- gradient accumulation synchronises once per optimizer step (``no_sync`` on every micro-batch
  but the last);
- the optimizer steps on identical gradients, so weights, optimizer state, schedule and gradient
  scaler stay identical on every rank: rank 0's state is the trial's, plus each rank's random
  streams (:func:`~tunefleet.trainables.loop.with_rank_states`);
- evaluation uses the plain module on the rank's part of each evaluation set; metric sums are
  all-reduced once per set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from tunefleet.trainables.loop import Shard, TrainingLoop

__all__ = ["DataParallelLoop", "ProcessGroupShard", "on_cpu"]


@dataclass(frozen=True)
class ProcessGroupShard(Shard):
    """A rank of the default ``torch.distributed`` process group."""

    @classmethod
    def current(cls) -> ProcessGroupShard:
        """This process's rank and the group's size."""
        return cls(dist.get_rank(), dist.get_world_size())

    def reduce_sum(self, tensor: Tensor) -> Tensor:
        summed = tensor.detach().clone()
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        return summed


class DataParallelLoop(TrainingLoop):
    """:class:`TrainingLoop` on one rank of a data-parallel trial (see the module docstring).

    Takes :class:`TrainingLoop`'s arguments; ``shard`` defaults to this process's rank of the
    default process group. ``hp.sync_batchnorm`` turns BatchNorm layers into SyncBatchNorm
    (statistics over the whole batch instead of each rank's shard; GPU ranks only).
    """

    def __init__(self, *args: Any, shard: Shard | None = None, **kwargs: Any) -> None:
        self._ddp: DistributedDataParallel | None = None
        super().__init__(*args, shard=shard or ProcessGroupShard.current(), **kwargs)

    def _prepare_model(self, model: nn.Module) -> nn.Module:
        if not self.hp.sync_batchnorm or self.shard.world_size == 1:
            return model
        if self.device.type != "cuda":
            # torch 2.13's SyncBatchNorm refuses CPU tensors in its forward pass.
            raise ValueError(
                "sync_batchnorm: true needs GPU workers (torch's SyncBatchNorm runs on GPUs only); "
                "set it to false, or give the workers GPUs (resources.workers.gpu: 1)"
            )
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def _wrap_for_training(self, model: nn.Module) -> Callable[[Tensor], Tensor]:
        self._ddp = DistributedDataParallel(
            model,
            device_ids=[self.device] if self.device.type == "cuda" else None,
            # Every micro-batch runs the whole model; unused parameters would be a model bug.
            find_unused_parameters=False,
        )
        return self._ddp

    def _accumulating(self, last: bool) -> contextlib.AbstractContextManager[Any]:
        if last or self._ddp is None:
            return contextlib.nullcontext()
        return self._ddp.no_sync()

    def close(self) -> None:
        super().close()
        self._ddp = None  # its reducer holds the gradient buckets


def on_cpu(value: Any) -> Any:
    """``value`` (nested dicts, lists, tuples) with every tensor copied to the CPU.

    A rank's state crosses to the trial's own process, which has no GPU.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: on_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(on_cpu(v) for v in value)
    return value
