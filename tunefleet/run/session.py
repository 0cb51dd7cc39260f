"""Ray for a sweep: start an embedded local Ray or connect to a cluster, and what the cluster has.

Everything is checked before Ray starts where it can be (the address's form and reachability, the
storage), so that bad input costs no cluster time; the embedded Ray listens on 127.0.0.1 only and
is ended with its driver (:mod:`tunefleet.run.reaper`).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunefleet.cluster.capacity import ClusterCapacity, unschedulable_reason
from tunefleet.config import Experiment
from tunefleet.errors import ConfigError, TunefleetError
from tunefleet.ray_internals import autoscaler_node_types, cluster_node_groups, loopback_only
from tunefleet.run.reaper import Reaper, children

__all__ = [
    "check_remote_storage",
    "check_trials_fit",
    "cluster_capacity",
    "init_local_ray",
    "quiet_ray",
    "resolve_storage",
    "runtime_env",
    "start_ray",
]

logger = logging.getLogger(__name__)


def resolve_storage(storage: str) -> str:
    """A local storage as an absolute path; a remote one checked (:func:`check_remote_storage`)."""
    if "://" in storage:
        check_remote_storage(storage)
        return storage  # cloud or cluster storage (s3://, gs://, ...)
    return str(Path(storage).expanduser().resolve())


#: Seconds :func:`check_remote_storage` waits: pyarrow's S3 client retries an endpoint that does not
#: answer for minutes (measured: 198 s), its GCS client longer.
STORAGE_CHECK_TIMEOUT_S = 30.0


def check_remote_storage(uri: str, timeout_s: float = STORAGE_CHECK_TIMEOUT_S) -> None:
    """Fail before Ray starts, and within ``timeout_s``, when Ray could not use storage ``uri``.

    Ray 2.60 opens the storage when the Tuner is built, after Ray started
    (``ray.train._internal.storage.get_fs_and_path``: ``pyarrow.fs.FileSystem.from_uri``): an
    unknown scheme, a bucket that cannot be reached or read then ends in a traceback, or in
    minutes of retries. This opens it the same way and looks the path up (nothing is written),
    in a daemon thread, so that a client that hangs cannot hold the driver.

    Raises:
        TunefleetError: The URI cannot be opened or looked up, or no answer came in time.
    """
    failure: list[BaseException | None] = []

    def look_up() -> None:
        try:
            import pyarrow.fs

            filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
            filesystem.get_file_info(path)
        except Exception as exc:  # every pyarrow and client error says what is wrong
            failure.append(exc)
        else:
            failure.append(None)

    thread = threading.Thread(target=look_up, name="tunefleet-storage-check", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not failure:
        raise TunefleetError(
            f"storage {uri}: no answer within {timeout_s:g} s; check its endpoint, the network and "
            "the credentials, or choose another with --storage"
        )
    if failure[0] is not None:
        reason = (str(failure[0]).strip().splitlines() or [type(failure[0]).__name__])[0]
        raise TunefleetError(
            f"storage {uri}: cannot use it ({reason}); expected a directory, or a bucket or "
            "file system (s3://, gs://, hdfs://) that pyarrow can reach with the credentials "
            "here; choose another with --storage"
        )


def runtime_env(experiment: Experiment) -> dict[str, Any]:
    # A user's module next to the experiment must import on every worker, local or remote.
    ship = experiment.trainable.ship
    return {"py_modules": [str(ship)]} if ship else {}


#: ``--address`` forms for an existing cluster: ``HOST:PORT`` (its GCS) or ``ray://HOST[:PORT]``.
_ADDRESS_RE = re.compile(
    r"^(?P<client>ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?$"
)
#: The Ray Client server's port (Ray's default), for ``ray://HOST``.
RAY_CLIENT_PORT = 10001


def _address_endpoint(address: str) -> tuple[str, int] | None:
    """The ``(host, port)`` that ``address`` points at; None for ``auto``.

    Raises:
        TunefleetError: ``address`` is none of the forms Ray accepts for an existing cluster
            (Ray itself raises a ValueError from deep inside ``ray.init``).
    """
    if address == "auto":
        return None
    match = _ADDRESS_RE.match(address)
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is None and not match["client"]) or not 0 < (port or RAY_CLIENT_PORT) < 65536:
        raise TunefleetError(
            f"--address {address!r}: expected 'auto', HOST:PORT of a running Ray head (e.g. "
            "10.0.0.5:6379) or ray://HOST:10001 (RAY_ADDRESS sets it too); without --address, "
            "tunefleet starts a local Ray"
        )
    return match["host"].strip("[]"), port or RAY_CLIENT_PORT


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at ``host:port`` (Ray retries for long)."""
    endpoint = _address_endpoint(address)
    if endpoint is None:
        return  # "auto": Ray finds the cluster itself
    try:
        socket.create_connection(endpoint, timeout=5).close()
    except OSError as exc:
        raise TunefleetError(
            f"cannot reach a Ray cluster at --address {address}: {exc.strerror or exc}"
        ) from None


def start_ray(address: str | None, runtime_env: dict[str, Any]) -> Callable[[], None] | None:
    """Start (or connect to) Ray; returns what shuts down what this call started (None: nothing)."""
    import ray

    if address:
        _address_endpoint(address)  # a malformed one is an error even where it goes unused
    if ray.is_initialized():
        if runtime_env:
            logger.warning(
                "Ray was already initialized by this process, so %s is not shipped to its workers; "
                "it must be importable there (e.g. on PYTHONPATH)",
                runtime_env["py_modules"][0],
            )
        return None
    common: dict[str, Any] = {"runtime_env": runtime_env or None, "log_to_driver": False}
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, **common)
        except ConnectionError as exc:
            raise TunefleetError(
                f"cannot connect to a Ray cluster at --address {address}: {exc} "
                "(is it running, and is RAY_AUTH_MODE the same as the cluster's?)"
            ) from None
        return ray.shutdown
    before = children(os.getpid())
    init_local_ray(num_cpus=os.cpu_count() or 1, **common)
    # Ends what a driver killed without shutting Ray down would leave running (tunefleet.run.reaper).
    reaper = Reaper.start(children(os.getpid()) - before)

    def shutdown() -> None:
        try:
            ray.shutdown()
        finally:
            reaper.stop()

    return shutdown


def init_local_ray(num_cpus: int, **kwargs: Any) -> None:
    """Start an embedded single-machine Ray: every server on 127.0.0.1 only, no dashboard.

    Ray 2.60 replaces a 127.0.0.1 node address with the machine's own address and its servers
    listen there and on every interface, unless it runs as single-machine Ray (its default on
    macOS and Windows, the ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` switch elsewhere): then they
    bind to 127.0.0.1. Only ``ray.init`` reads the switch; it is restored afterwards so that a
    later ``--address`` connection from this process gets the machine's address again.

    Args:
        num_cpus: CPUs the embedded Ray may use.
        kwargs: More ``ray.init`` arguments (``runtime_env``, ``log_to_driver``...).
    """
    import ray

    with loopback_only():
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **kwargs)


def _autoscaler_adds_nodes() -> bool:
    """Whether a Ray autoscaler v1 with real node types may run (``ray up``, fake_multinode...).

    Every head runs an autoscaler; without an autoscaling config it is a read-only one whose node
    types are named ``node_<node id>``. Before its first status update we cannot tell: assume it may.
    """
    mapping = autoscaler_node_types()
    if mapping is None:
        return True
    return any(node_type != f"node_{node_id}" for node_id, node_type in mapping.items())


def cluster_capacity(may_autoscale: bool = True) -> ClusterCapacity:
    """What the connected Ray cluster has: live nodes, and the node types its autoscaler can add.

    Args:
        may_autoscale: False for the embedded Ray tunefleet started itself (it never grows).
    """
    import ray

    def cpu_gpu(resources: dict[str, Any]) -> dict[str, float]:
        return {k: float(resources[k]) for k in ("CPU", "GPU") if resources.get(k)}

    nodes = [cpu_gpu(node["Resources"]) for node in ray.nodes() if node["Alive"]]
    # Autoscaler v2 and KubeRay report their node groups.
    node_types = {name: cpu_gpu(resources) for name, resources, most in cluster_node_groups() if most != 0}
    autoscaling = may_autoscale and (bool(node_types) or _autoscaler_adds_nodes())
    return ClusterCapacity(nodes, node_types, autoscaling)


def check_trials_fit(experiment: Experiment, capacity: ClusterCapacity) -> None:
    """Fail now, not after hours of PENDING, when no node the cluster has or can add fits a trial.

    Raises:
        ConfigError: on the experiment's ``resources`` key, saying what the nodes have.
    """
    resources = experiment.settings.resources
    reason = unschedulable_reason(resources.bundles(), resources.placement, capacity)
    if reason:
        raise ConfigError.single(
            experiment.source, "resources", f"{reason}; ask for less, or run on a cluster with such a node"
        )


def quiet_ray() -> None:
    """Ray's own console output off: tunefleet prints its progress itself."""
    # tunefleet prints its own progress (ProgressCallback); Ray's new-style output prints an
    # experiment banner even at verbose=0, the classic reporter honours it.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # With checkpoint.keep set, Ray snapshots the experiment state whenever a trial ends after
    # checkpointing; for sweeps of short trials it warns about that on every trial. The
    # snapshots are what keeps the directory resumable; the warning is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
