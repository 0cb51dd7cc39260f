"""A trial's data-parallel workers: ranks on a real local Ray joined by a real gloo process group."""

from __future__ import annotations

import time

import pytest

from tunefleet.trainables.workers import RankContext, WorkerGroup, WorkerGroupError

from .ranked import LateRank


class SumOfRanks:
    """Hosted on every rank: all-reduces its rank, so each rank sees the sum over the group."""

    def __init__(self, context: RankContext) -> None:
        self.context = context

    def reduce(self, offset: float) -> tuple[int, float, str]:
        import torch
        import torch.distributed as dist

        value = torch.tensor([float(self.context.rank) + offset])
        dist.all_reduce(value)
        return self.context.rank, float(value.item()), self.context.device


@pytest.mark.usefixtures("ray_local")
def test_two_ranks_join_one_process_group_and_all_reduce() -> None:
    group = WorkerGroup(SumOfRanks, count=2, cpus=1)
    group.start()
    try:
        assert group.run("reduce", 10.0) == [(0, 21.0, "cpu"), (1, 21.0, "cpu")]
        assert [(c.rank, c.world_size, c.local_rank, c.backend) for c in group.contexts] == [
            (0, 2, 0, "gloo"),
            (1, 2, 1, "gloo"),
        ]
    finally:
        group.shutdown()


@pytest.mark.usefixtures("ray_local")
def test_a_rank_that_never_joins_fails_the_start_naming_the_rank_and_its_node() -> None:
    group = WorkerGroup(SumOfRanks, count=2, cpus=1, rank_class=LateRank, join_timeout_s=3)
    started = time.monotonic()
    with pytest.raises(
        WorkerGroupError, match=r"rank 1 on node 127\.0\.0\.1 .*did not join the process group"
    ):
        group.start()
    assert time.monotonic() - started < 60
