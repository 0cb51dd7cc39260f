"""A trial's own data-parallel workers: N Ray actors in the trial's placement group, one process group.

Why a trial owns its workers instead of running Ray Train's ``TorchTrainer`` (see
``shared/notes/ray-train-tune.md``): in Ray 2.60 ``Tuner(TorchTrainer)`` is refused (Train V2), and
the documented V2 pattern (a function trial that calls ``TorchTrainer.fit()``) never gives Tune a
checkpoint, so PBT cannot exploit, and Tune does not account for the workers' resources. A class
trainable that starts its workers in its own placement group keeps all of it: Tune reserves every
bundle, stops and pauses the trial natively, ``save()`` runs between two ``step()`` calls (a PBT
clone is exactly the state behind the reported metric), and ``reset_config`` keeps the workers
across trials. This module is the part that owns processes: start the ranks on bundles of the
trial's placement group, join them into one ``torch.distributed`` process group (with a timeout
that names the rank that did not join), run methods on every rank, and take it all down.

Each rank hosts one object built by a factory *after* the process group exists (so that it can
use collectives and its GPU from the start); :meth:`WorkerGroup.run` calls a method of it on every
rank at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ray

__all__ = ["RankContext", "RankProcess", "WorkerGroup", "WorkerGroupError", "WorkerSpec"]

logger = logging.getLogger(__name__)

#: Seconds to wait for every rank's process to start (the placement group already holds its resources).
START_TIMEOUT_S = 300.0
#: Seconds every rank gets to join the process group once all have started.
JOIN_TIMEOUT_S = 60.0
#: Seconds a collective (all-reduce...) may take before it fails the trial instead of hanging.
COLLECTIVE_TIMEOUT_S = 1800.0


class WorkerGroupError(RuntimeError):
    """A rank did not start, did not join the process group, or died; the message names it."""


@dataclass(frozen=True)
class WorkerSpec:
    """A trial's data-parallel workers: how many, each one's CPUs and GPUs, and the index of the
    first one's bundle in the trial's placement group.

    Example:
        >>> from ray import tune
        >>> WorkerSpec.of_trial(tune.PlacementGroupFactory([{}, {"CPU": 1}, {"CPU": 1}]))
        WorkerSpec(count=2, cpus=1.0, gpus=0.0, first_bundle=0)
        >>> WorkerSpec.of_trial(tune.PlacementGroupFactory([{"CPU": 1}])) is None
        True
    """

    count: int
    cpus: float = 1
    gpus: float = 0
    first_bundle: int = 0

    @classmethod
    def of_trial(cls, resources: Any) -> WorkerSpec | None:
        """The workers of a trial with these resources (a ``tune.PlacementGroupFactory``): the
        bundles after the trial's own; None when there are none.

        Ray drops an empty first bundle (a trial that reserves nothing for itself, e.g.
        ``resources.cpu: 0``): the trial's process then shares the first worker's bundle, and the
        workers' bundles start at 0 instead of 1.

        Raises:
            ValueError: The worker bundles differ (ranks are alike).
        """
        if resources is None:
            return None
        own = 0 if resources.head_bundle_is_empty else 1
        workers = resources.bundles[own:]
        if not workers:
            return None
        if any(bundle != workers[0] for bundle in workers):
            raise ValueError(f"the data-parallel workers' bundles differ: {workers}; ranks need equal ones")
        return cls(len(workers), workers[0].get("CPU", 0.0), workers[0].get("GPU", 0.0), own)


@dataclass(frozen=True)
class RankContext:
    """Where one rank runs and who its peers are (what ``torchrun`` puts in the environment).

    Attributes:
        rank: The global rank, 0..world_size-1.
        world_size: The number of ranks.
        local_rank: The rank among the ranks on the same node.
        local_world_size: How many ranks run on this node.
        node_rank: The node's index among the group's nodes (in order of first rank).
        device: ``cuda:<i>`` for a rank Ray gave a GPU (index into the node's visible GPUs),
            else ``cpu``.
        backend: ``nccl`` when the ranks have GPUs, else ``gloo``.
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    node_rank: int
    device: str
    backend: str


def _loopback_interface() -> str | None:
    """The name of the network interface holding 127.0.0.1 (``lo`` on Linux), if any."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ray[default]
        return None
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == "127.0.0.1" for a in addresses):
            return name
    return None


class RankProcess:
    """One rank: a Ray actor hosting the object the factory builds. Used through :class:`WorkerGroup`.

    Args:
        factory: Called on the rank, once the process group is up, with its :class:`RankContext`;
            returns the object :meth:`call` forwards to.
    """

    def __init__(self, factory: Callable[[RankContext], Any]) -> None:
        self._factory = factory
        self._hosted: Any = None
        self._listener: socket.socket | None = None

    def where(self) -> dict[str, Any]:
        """This process's node, address, GPUs and pid."""
        context = ray.get_runtime_context()
        return {
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "pid": os.getpid(),
        }

    def listen(self) -> int:
        """Rank 0: bind the process group's rendezvous socket on this node's address; its port.

        The socket is bound here and handed to torch's store (``master_listen_fd``): no race for a
        free port, and the store listens on the node's address only (127.0.0.1 on an embedded
        Ray), not on every interface as torch's own store does.
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((ray.util.get_node_ip_address(), 0))
        listener.listen(128)
        self._listener = listener
        return int(listener.getsockname()[1])

    def join(
        self,
        context: RankContext,
        master: tuple[str, int],
        visible_gpus: Sequence[str],
        join_timeout_s: float,
        collective_timeout_s: float,
    ) -> None:
        """Join the process group as ``context.rank``, then build the hosted object."""
        import torch
        import torch.distributed as dist

        address, port = master
        os.environ.update(
            RANK=str(context.rank),
            WORLD_SIZE=str(context.world_size),
            LOCAL_RANK=str(context.local_rank),
            LOCAL_WORLD_SIZE=str(context.local_world_size),
            NODE_RANK=str(context.node_rank),
            MASTER_ADDR=address,
            MASTER_PORT=str(port),
        )
        if visible_gpus:
            # Every rank of a node sees all of the node's ranks' GPUs (as Ray Train does), so that
            # NCCL can use peer-to-peer between them; each uses its own through context.device.
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(visible_gpus)
        if context.device.startswith("cuda") and not torch.cuda.is_available():
            # Ray's GPUs are not CUDA devices here (fake GPUs of a test cluster, a CPU build of
            # torch): train on the CPU, as a single-process trial does. Every rank of such a
            # cluster does the same, so the backends agree.
            logger.warning("rank %d has GPU(s) %s but no CUDA: gloo on the CPU", context.rank, visible_gpus)
            context = dataclasses.replace(context, device="cpu", backend="gloo")
        if context.backend == "nccl":
            # Fail a collective that times out instead of hanging (Ray Train sets the same).
            os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
        if address.startswith("127.") and "GLOO_SOCKET_IFNAME" not in os.environ:
            # A single-machine Ray: keep gloo's own connections on the loopback too.
            interface = _loopback_interface()
            if interface:
                os.environ["GLOO_SOCKET_IFNAME"] = interface
        is_master = context.rank == 0
        store = dist.TCPStore(
            address,
            port,
            context.world_size,
            is_master,
            dt.timedelta(seconds=join_timeout_s),
            wait_for_workers=True,
            master_listen_fd=self._listener.fileno() if is_master and self._listener else None,
            use_libuv=False,  # the libuv store cannot take an already bound socket
        )
        if context.device.startswith("cuda"):
            torch.cuda.set_device(torch.device(context.device))
        dist.init_process_group(
            context.backend,
            store=store,
            rank=context.rank,
            world_size=context.world_size,
            timeout=dt.timedelta(seconds=collective_timeout_s),
        )
        self._hosted = self._factory(context)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``hosted.method(*args, **kwargs)``."""
        return getattr(self._hosted, method)(*args, **kwargs)

    def leave(self) -> None:
        """Close the hosted object (its ``close()``, if any) and the process group."""
        import torch.distributed as dist

        close = getattr(self._hosted, "close", None)
        if callable(close):
            close()
        self._hosted = None
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        if self._listener is not None:
            self._listener.close()
            self._listener = None


def _describe(where: dict[str, Any] | None, rank: int) -> str:
    if where is None:
        return f"rank {rank} (not started)"
    return f"rank {rank} on node {where['node_ip']} (node id {where['node_id'][:12]}, pid {where['pid']})"


class WorkerGroup:
    """N ranks on consecutive bundles of the current placement group, joined into one process group.

    Args:
        factory: Builds each rank's hosted object from its :class:`RankContext` (runs on the rank;
            must be picklable, e.g. a class or a module-level function).
        count: The number of ranks.
        cpus: CPUs per rank (the bundle's).
        gpus: GPUs per rank (the bundle's; > 0 selects the nccl backend).
        first_bundle: Index of the first rank's bundle in the placement group (the bundles before
            it are the trial's own).
        placement_group: The trial's placement group; default: the one this process runs in.
        rank_class: The actor class (tests substitute a misbehaving one).
        start_timeout_s, join_timeout_s, collective_timeout_s: See the module constants.

    Raises:
        WorkerGroupError: from :meth:`start` when a rank does not start or join in time (the
            message names the rank and its node), from :meth:`run` when a rank died.
    """

    def __init__(
        self,
        factory: Callable[[RankContext], Any],
        *,
        count: int,
        cpus: float = 1,
        gpus: float = 0,
        first_bundle: int = 0,
        placement_group: Any = None,
        rank_class: type[RankProcess] = RankProcess,
        start_timeout_s: float = START_TIMEOUT_S,
        join_timeout_s: float = JOIN_TIMEOUT_S,
        collective_timeout_s: float = COLLECTIVE_TIMEOUT_S,
    ) -> None:
        if count < 1:
            raise ValueError(f"a worker group needs at least one rank, got {count}")
        self.count = count
        self._factory = factory
        self._cpus = cpus
        self._gpus = gpus
        self._first_bundle = first_bundle
        self._placement_group = placement_group
        self._rank_class = rank_class
        self._start_timeout_s = start_timeout_s
        self._join_timeout_s = join_timeout_s
        self._collective_timeout_s = collective_timeout_s
        self._actors: list[Any] = []
        self._where: list[dict[str, Any] | None] = [None] * count
        self._broken = False  # a rank failed: the others may be stuck in a collective
        self.contexts: list[RankContext] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start every rank and join them into one process group; raises instead of hanging."""
        from ray.util.placement_group import get_current_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = self._placement_group or get_current_placement_group()
        remote = ray.remote(self._rank_class)
        self._actors = []
        for rank in range(self.count):
            strategy = (
                PlacementGroupSchedulingStrategy(
                    group,
                    placement_group_bundle_index=self._first_bundle + rank,
                    placement_group_capture_child_tasks=True,
                )
                if group is not None
                else None
            )
            self._actors.append(
                remote.options(
                    num_cpus=self._cpus,
                    num_gpus=self._gpus,
                    scheduling_strategy=strategy,
                    # A rank's state is the trial's: a restarted rank would silently be a fresh one.
                    max_restarts=0,
                ).remote(self._factory)
            )
        try:
            self._locate()
            self._join()
        except BaseException:
            self._broken = True
            self.shutdown()
            raise

    def _wait(self, refs: list[Any], timeout_s: float, what: str) -> list[Any]:
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        failed: list[str] = []
        values: list[Any] = []
        for rank, ref in enumerate(refs):
            if ref not in ready:
                failed.append(f"{_describe(self._where[rank], rank)}: did not {what} within {timeout_s:g} s")
                values.append(None)
                continue
            try:
                values.append(ray.get(ref))
            except Exception as exc:  # the rank raised or its process died
                failed.append(f"{_describe(self._where[rank], rank)}: failed to {what}: {exc}")
                values.append(None)
        if failed:
            raise WorkerGroupError(
                f"the trial's {self.count} data-parallel workers could not {what}:\n  " + "\n  ".join(failed)
            )
        return values

    def _locate(self) -> None:
        where = self._wait([a.where.remote() for a in self._actors], self._start_timeout_s, "start")
        self._where = where
        nodes = list(dict.fromkeys(w["node_id"] for w in where))
        backend = "nccl" if self._gpus > 0 else "gloo"
        contexts = []
        for rank, info in enumerate(where):
            peers = [r for r, w in enumerate(where) if w["node_id"] == info["node_id"]]
            node_gpus = sorted({g for r in peers for g in where[r]["gpu_ids"]}, key=_gpu_order)
            own = info["gpu_ids"][:1]
            device = f"cuda:{node_gpus.index(own[0])}" if own else "cpu"
            contexts.append(
                RankContext(
                    rank=rank,
                    world_size=self.count,
                    local_rank=peers.index(rank),
                    local_world_size=len(peers),
                    node_rank=nodes.index(info["node_id"]),
                    device=device,
                    backend=backend,
                )
            )
        self.contexts = contexts

    def _join(self) -> None:
        where = self._where
        port = self._wait([self._actors[0].listen.remote()], self._start_timeout_s, "open the rendezvous")[0]
        assert where[0] is not None
        master = (where[0]["node_ip"], port)
        refs = []
        for rank, actor in enumerate(self._actors):
            info = where[rank]
            assert info is not None
            visible = sorted(
                {g for w in where if w and w["node_id"] == info["node_id"] for g in w["gpu_ids"]},
                key=_gpu_order,
            )
            refs.append(
                actor.join.remote(
                    self.contexts[rank], master, visible, self._join_timeout_s, self._collective_timeout_s
                )
            )
        # Every rank blocks in the store until all have arrived, so one late rank holds up all:
        # name the ones that did not get through.
        self._wait(refs, 1.5 * self._join_timeout_s + 5, "join the process group")

    def run(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Call ``method`` of every rank's hosted object at once; their results, by rank.

        Arguments are sent once (``ray.put``) whatever the number of ranks. The first rank to
        fail fails the call at once: the others may be waiting for it in a collective, and would
        wait until the collective timeout (:meth:`shutdown` ends them).

        Raises:
            WorkerGroupError: a rank's process died (the message names it). An exception raised
                by the hosted object is re-raised as Ray's ``RayTaskError`` subclass of it.
        """
        shared_args = [ray.put(a) for a in args]
        shared_kwargs = {k: ray.put(v) for k, v in kwargs.items()}
        refs = [a.call.remote(method, *shared_args, **shared_kwargs) for a in self._actors]
        rank_of = {ref: rank for rank, ref in enumerate(refs)}
        results: dict[int, Any] = {}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                rank = rank_of[ref]
                try:
                    results[rank] = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    self._broken = True
                    raise WorkerGroupError(f"{_describe(self._where[rank], rank)} died: {exc}") from None
                except BaseException:
                    self._broken = True
                    raise
        return [results[rank] for rank in range(len(refs))]

    def pids(self) -> list[int]:
        """The ranks' process ids, by rank."""
        return [w["pid"] for w in self._where if w is not None]

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Leave the process group on every rank (bounded wait), then end the processes.

        After a failure the ranks are ended at once: a rank stuck in a collective would only
        take the leave request after the collective timeout.
        """
        if not self._actors:
            return
        if not self._broken:
            refs = [a.leave.remote() for a in self._actors]
            ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []


def _gpu_order(gpu_id: str) -> tuple[int, str]:
    return (int(gpu_id), "") if gpu_id.isdigit() else (1 << 30, gpu_id)
