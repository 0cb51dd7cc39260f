"""Data-parallel trainables for the tests: what they report shows every rank, not only rank 0.

Importable on Ray's workers as ``tests.trainables.ranked`` (the suite's local Ray puts the
repository on their path). The functions passed to ``on_every_rank`` run in the rank processes.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import torch

from tests.schedulers.traced import optimizer_digest
from tunefleet.trainables.loop import TrainingLoop
from tunefleet.trainables.tasks import LinearRegression
from tunefleet.trainables.workers import RankContext, RankProcess, WorkerSpec

from .helpers import StreamedBlobs


def weights_digest(loop: TrainingLoop) -> str:
    """A fingerprint of a rank's weights and buffers, bit for bit."""
    digest = hashlib.sha256()
    for name, value in sorted(loop.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def state_digest(loop: TrainingLoop) -> str:
    """Weights and optimizer state of a rank."""
    return weights_digest(loop) + optimizer_digest(loop.optimizer)


def processes(loop: TrainingLoop) -> list[int]:
    """This rank's process and its DataLoader workers' processes."""
    loader = loop._loader._loader if loop._loader is not None else None
    workers = getattr(getattr(loader, "_iterator", None), "_workers", [])
    return [os.getpid(), *(w.pid for w in workers)]


class LateRank(RankProcess):
    """Rank 1 never arrives at the rendezvous."""

    def join(self, context: RankContext, *args: Any, **kwargs: Any) -> None:
        if context.rank == 1:
            time.sleep(3600)
        super().join(context, *args, **kwargs)


class LateRankBlobs(StreamedBlobs):
    """A trial whose rank 1 never joins its process group (which gives it 2 s)."""

    _rank_process = LateRank
    worker_join_timeout_s = 2.0


class TwoRankBlobs(StreamedBlobs):
    """Streamed, augmented blobs over two one-CPU ranks, also outside Tune."""

    workers_outside_tune = WorkerSpec(count=2, cpus=1)


class OneGpuRankBlobs(StreamedBlobs):
    """Streamed blobs on one rank with a GPU (nccl), also outside Tune."""

    workers_outside_tune = WorkerSpec(count=1, cpus=1, gpus=1)


class ProcessReportingBlobs(StreamedBlobs):
    """Streamed blobs reporting every rank's process and DataLoader workers (``"pid pid ..."``)."""

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        return super().reported_metrics() | {"processes"}

    def step(self) -> dict[str, Any]:
        result = super().step()
        pids = [pid for ranks in self.on_every_rank(processes) for pid in ranks]
        return {**result, "processes": " ".join(map(str, pids))}


class TracedRanks(LinearRegression):
    """LinearRegression reporting, for every rank, its lr and its weights and optimizer state
    after the step (``lr_rank<r>``, ``state_rank<r>``) and right after the last restore
    (``restored_rank<r>``, "" when it did not restore)."""

    RANKS = 2

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        per_rank = {f"{name}_rank{r}" for name in ("lr", "state", "restored") for r in range(cls.RANKS)}
        return super().reported_metrics() | per_rank

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._restored_states = [""] * self.RANKS
        return super().reset_config(new_config)

    def load_checkpoint(self, checkpoint: Any) -> None:
        super().load_checkpoint(checkpoint)
        self._restored_states = self.on_every_rank(state_digest)

    def step(self) -> dict[str, Any]:
        restored, self._restored_states = (
            getattr(self, "_restored_states", [""] * self.RANKS),
            [""] * self.RANKS,
        )
        result = super().step()
        lrs = self.on_every_rank(lambda loop: float(loop.optimizer.param_groups[0]["lr"]))
        states = self.on_every_rank(state_digest)
        for rank in range(self.RANKS):
            result |= {f"lr_rank{rank}": lrs[rank], f"state_rank{rank}": states[rank]}
            result[f"restored_rank{rank}"] = restored[rank]
        return result


def device_and_backend(loop: TrainingLoop) -> tuple[str, str]:
    """Where a rank's model is, and its process group's backend."""
    return str(next(loop.model.parameters()).device), str(torch.distributed.get_backend())


class DeviceReportingBlobs(StreamedBlobs):
    """Streamed blobs reporting where its ranks train and their process group's backend."""

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        return super().reported_metrics() | {"device", "backend"}

    def step(self) -> dict[str, Any]:
        result = super().step()
        ((device, backend),) = set(self.on_every_rank(device_and_backend))
        return {**result, "device": device, "backend": backend}
