"""Experiment -> ``ray.tune.Tuner`` -> experiment directory: the one place that assembles Ray objects."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from tunefleet.analysis.files import STDERR_FILE, STDOUT_FILE
from tunefleet.cluster.capacity import ClusterCapacity, unschedulable_reason
from tunefleet.config import Experiment, ExperimentFile, check_name_argument, check_storage
from tunefleet.console import echo, make_console
from tunefleet.divergence import StopDiverged
from tunefleet.errors import ConfigError, Terminated, TunefleetError
from tunefleet.reaper import Reaper, children
from tunefleet.resume import (
    TimeBudget,
    check_resumable,
    handle_sigterm_again,
    latest_run,
    resume_command,
    sigterm_stops_sweep,
    unfinished_trials,
    unused_run_name,
)
from tunefleet.search import build_search
from tunefleet.search.spaces import Constant
from tunefleet.tune_internals import TrialSafeguards, keep_trial_output, unreported_metric

__all__ = ["RunOutcome", "load_saved_experiment", "resume_experiment", "run_experiment"]

logger = logging.getLogger(__name__)

#: File in every experiment directory holding the experiment as it was run.
EXPERIMENT_FILE = "tunefleet.yaml"
#: Its first line, naming the experiment file it was run from (see save_experiment_file).
_HEADER_RE = re.compile(r"^# Run by tunefleet from (.+) on \S+$")


@dataclass(frozen=True)
class RunOutcome:
    """What a finished sweep left behind.

    Attributes:
        path: The experiment directory (readable by ``ray.tune.ExperimentAnalysis``).
        num_trials: Trials that ran.
        num_errors: Trials that ended in ERROR.
        num_unfinished: Trials not run to their end because the sweep was stopped early (Ctrl-C,
            ``time_budget``); ``tunefleet resume`` continues them.
    """

    path: Path
    num_trials: int
    num_errors: int
    num_unfinished: int = 0

    @property
    def interrupted(self) -> bool:
        """True when the sweep stopped before its end and can be resumed."""
        return self.num_unfinished > 0


def _trial_dirname(trial: Any) -> str:
    # Ray's default embeds the whole config in the folder name; short ids stay readable.
    return f"{trial.trainable_name}_{trial.trial_id}"


def _resolve_storage(storage: str) -> str:
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


def _runtime_env(experiment: Experiment) -> dict[str, Any]:
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


def _init_ray(address: str | None, runtime_env: dict[str, Any]) -> Callable[[], None] | None:
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
    # Ends what a driver killed without shutting Ray down would leave running (tunefleet.reaper).
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
    from ray._private import ray_constants

    multi_node = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **kwargs)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = multi_node


def _autoscaler_adds_nodes() -> bool:
    """Whether a Ray autoscaler v1 with real node types may run (``ray up``, fake_multinode...).

    Every head runs an autoscaler; without an autoscaling config it is a read-only one whose node
    types are named ``node_<node id>``. Its status is the only place v1 tells a driver about it;
    before its first update there is no status, and then we cannot tell: assume it may.
    """
    import json

    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    try:
        raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
        status = json.loads(raw) if raw else None
    except Exception:  # the status is best effort: an unreadable one says nothing
        status = None
    if status is None:
        return True
    mapping = (status.get("autoscaler_report") or {}).get("node_type_mapping") or {}
    return any(node_type != f"node_{node_id}" for node_id, node_type in mapping.items())


def cluster_capacity(may_autoscale: bool = True) -> ClusterCapacity:
    """What the connected Ray cluster has: live nodes, and the node types its autoscaler can add.

    Args:
        may_autoscale: False for the embedded Ray tunefleet started itself (it never grows).
    """
    import ray
    from ray._private.state import state

    def cpu_gpu(resources: dict[str, Any]) -> dict[str, float]:
        return {k: float(resources[k]) for k in ("CPU", "GPU") if resources.get(k)}

    nodes = [cpu_gpu(node["Resources"]) for node in ray.nodes() if node["Alive"]]
    node_types: dict[str, dict[str, float]] = {}
    try:
        config = state.get_cluster_config()  # autoscaler v2 and KubeRay report their node groups
    except Exception:
        config = None
    for group in config.node_group_configs if config is not None else []:
        if group.max_count != 0:
            node_types[group.name] = cpu_gpu(dict(group.resources))
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


def _trial_resources(experiment: Experiment) -> Any:
    from ray import tune

    resources = experiment.settings.resources
    if resources.workers is None:
        return {"cpu": resources.cpu, "gpu": resources.gpu}
    # The trainable's own tasks and actors land in the trial's placement group (Tune captures
    # child tasks), so the workers it starts get the bundles after the first.
    return tune.PlacementGroupFactory(resources.bundles(), strategy=resources.placement)


def _trainable_with_resources(experiment: Experiment) -> Any:
    from ray import tune

    kept = keep_trial_output(experiment.trainable.obj, (STDOUT_FILE, STDERR_FILE))
    return tune.with_resources(kept, _trial_resources(experiment))


def build_tuner(experiment: Experiment, storage: str, name: str, console: Console) -> Any:
    """Assemble the ``ray.tune.Tuner`` for a validated experiment."""
    from ray import tune

    from tunefleet.progress import ProgressCallback

    settings = experiment.settings
    space = {**experiment.space, **{k: Constant(v) for k, v in experiment.injected_constants().items()}}
    search_alg, param_space = build_search(settings.search, space, experiment.metric, experiment.mode)
    scheduler = experiment.scheduler.build(experiment.scheduler_options, experiment.scheduler_context)

    is_class = experiment.trainable.is_class
    checkpoint = settings.checkpoint
    # A scheduler may need its own frequency (PBT: its perturbation interval; validated).
    needed = experiment.scheduler.checkpoint_frequency(experiment.scheduler_options)
    frequency = needed or checkpoint.frequency
    checkpoint_config = tune.CheckpointConfig(
        num_to_keep=checkpoint.keep,
        # Function trainables checkpoint themselves through tune.report(checkpoint=...); a
        # class without save_checkpoint cannot be checkpointed at all (validated).
        checkpoint_frequency=frequency if is_class else 0,
        checkpoint_at_end=checkpoint.at_end and experiment.trainable.saves_checkpoints if is_class else None,
    )
    from tunefleet.result_logs import CsvLogger, JsonLogger

    callbacks: list[Any] = [
        ProgressCallback(experiment.metric, experiment.mode, experiment.num_trials, console),
        # Instead of Ray's own, which lose results when a trial restarts from a checkpoint.
        JsonLogger(),
        CsvLogger(),
        TrialSafeguards(),
    ]
    if settings.time_budget is not None:
        callbacks.append(TimeBudget(settings.time_budget))
    return tune.Tuner(
        _trainable_with_resources(experiment),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=experiment.metric,
            mode=experiment.mode,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=settings.num_samples,
            # One process per concurrent trial, reused through reset_config: no new
            # process and no new `import torch` per trial. Only for trainables that reset
            # themselves: for the others Ray 2.60 fails the trial (see tune_internals).
            reuse_actors=experiment.trainable.reuses_actors,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            stop=StopDiverged(experiment.metric, settings.max_iterations),
            checkpoint_config=checkpoint_config,
            failure_config=tune.FailureConfig(max_failures=settings.failure.max_failures),
            callbacks=callbacks,
            # Into the trial's working directory; tune_internals copies them to storage.
            log_to_file=(STDOUT_FILE, STDERR_FILE),
            verbose=0,
        ),
    )


def save_experiment_file(experiment: Experiment, directory: Path, name: str) -> None:
    """Write the experiment as run (overrides applied, final name) into its directory."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {**experiment.raw, "name": name}
    when = dt.datetime.now().isoformat(timespec="seconds")
    header = f"# Run by tunefleet from {experiment.source.resolve()} on {when}\n"
    (directory / EXPERIMENT_FILE).write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _quiet_ray() -> None:
    # tunefleet prints its own progress (ProgressCallback); Ray's new-style output prints an
    # experiment banner even at verbose=0, the classic reporter honours it.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # With checkpoint.keep set, Ray snapshots the experiment state whenever a trial ends after
    # checkpointing; for sweeps of short trials it warns about that on every trial. The
    # snapshots are what keeps the directory resumable; the warning is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)


def run_experiment(
    experiment: Experiment,
    *,
    address: str | None = None,
    storage: str | None = None,
    name: str | None = None,
    console: Console | None = None,
    resume: bool = False,
) -> RunOutcome:
    """Run a validated experiment to completion.

    Args:
        experiment: From :func:`tunefleet.config.load_experiment`.
        address: An existing Ray cluster (``auto``, ``ray://host:10001``...); None starts an
            embedded local Ray bound to 127.0.0.1 without a dashboard.
        storage: Overrides the experiment's ``storage``.
        name: Overrides the experiment's ``name``.
        console: Where progress goes (default: stderr).
        resume: Continue the latest run of this experiment in ``storage`` instead of starting
            a new one (see :func:`resume_experiment`).

    Returns:
        Where the results are and how many trials failed or are unfinished.

    Raises:
        ConfigError: ``name`` is not one directory name (see ``config.schema.name_problem``);
            a local storage cannot be created or written, or a URI is malformed.
        TunefleetError: A storage URI cannot be used (see :func:`check_remote_storage`); an
            ``address`` is malformed or unreachable; with ``resume``, there is no earlier run
            or it was run with different settings; a trial reported results without the
            experiment's ``metric`` (the sweep stops there, its trial in ERROR).
    """
    if name is not None:
        check_name_argument(name, experiment)
    console = console or make_console(stderr=True)
    _quiet_ray()
    # Checked before anything starts, without creating anything: a refused run leaves nothing behind.
    check_storage(experiment, storage)
    storage_path = _resolve_storage(storage or experiment.settings.storage)
    if resume:
        if "://" in storage_path:
            raise TunefleetError(
                "--resume finds earlier runs in local storage only; use tunefleet resume URI"
            )
        directory = latest_run(storage_path, name or experiment.name)
        _check_same_settings(experiment, directory)
        return resume_experiment(directory, address=address, console=console, experiment=experiment)
    run_name = unused_run_name(storage_path, name or experiment.name)
    return _launch(
        experiment,
        storage_path,
        run_name,
        address=address,
        console=console,
        make_tuner=lambda: build_tuner(experiment, storage_path, run_name, console),
    )


def resume_experiment(
    directory: str | Path,
    *,
    address: str | None = None,
    console: Console | None = None,
    experiment: Experiment | None = None,
) -> RunOutcome:
    """Continue an interrupted sweep in its experiment directory until it is complete.

    Finished trials are kept as they are; unfinished ones continue from their last checkpoint
    (or start, if they never saved one); trials that ended in ERROR are kept, resumed or
    restarted as ``failure.errored_on_resume`` says; the searcher continues from its saved
    state. Works after Ctrl-C, a ``time_budget`` stop, a killed driver, or a Ray that is gone.

    Args:
        directory: The experiment directory (``STORAGE/NAME``) of the sweep.
        address: An existing Ray cluster; None starts an embedded local Ray.
        console: Where progress goes (default: stderr).
        experiment: The experiment as it was run; default: read from ``DIR/tunefleet.yaml``.

    Raises:
        TunefleetError: ``directory`` is not a sweep that can be resumed.
    """
    console = console or make_console(stderr=True)
    _quiet_ray()
    path = Path(directory).expanduser().resolve()
    resumable = check_resumable(path)
    experiment = experiment or load_saved_experiment(path)
    if not resumable:
        echo(
            console,
            f"tunefleet: {path} holds no snapshot yet (the sweep was stopped as it started): starting over",
            highlight=False,
            soft_wrap=True,
        )
        return _launch(
            experiment,
            str(path.parent),
            path.name,
            address=address,
            console=console,
            make_tuner=lambda: build_tuner(experiment, str(path.parent), path.name, console),
        )

    def restore() -> Any:
        from ray import tune

        errored = experiment.settings.failure.errored_on_resume
        return tune.Tuner.restore(
            str(path),
            trainable=_trainable_with_resources(experiment),
            resume_unfinished=True,
            resume_errored=errored == "resume",
            restart_errored=errored == "restart",
        )

    return _launch(
        experiment, str(path.parent), path.name, address=address, console=console, make_tuner=restore
    )


def load_saved_experiment(directory: Path) -> Experiment:
    """The experiment as it was run in ``directory`` (its ``tunefleet.yaml``), validated again.

    A user trainable module is looked up next to the original experiment file, as at the start.
    """
    from tunefleet.config import load_experiment

    saved = directory / EXPERIMENT_FILE
    header = saved.read_text(encoding="utf-8").partition("\n")[0]
    match = _HEADER_RE.match(header)
    origin = [Path(match.group(1)).parent] if match else []
    return load_experiment(saved, search_dirs=origin)


def _comparable(settings: ExperimentFile) -> dict[str, Any]:
    # Everything but what a resume may change: where it runs, and what it does with errored trials.
    data = settings.model_dump(exclude={"name", "storage"})
    data["failure"].pop("errored_on_resume")
    return data


def _check_same_settings(experiment: Experiment, directory: Path) -> None:
    """A sweep resumes with the settings it started with: refuse an edited experiment file."""
    saved = yaml.safe_load((directory / EXPERIMENT_FILE).read_text(encoding="utf-8"))
    before, now = _comparable(ExperimentFile.model_validate(saved)), _comparable(experiment.settings)
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if changed:
        raise TunefleetError(
            f"{experiment.source}: {', '.join(changed)} changed since the run in {directory} started; "
            f"a sweep resumes with the settings it started with: undo the change, or run "
            f"`{resume_command(directory)}`, or run without --resume to start a new sweep"
        )


@sigterm_stops_sweep()
def _launch(
    experiment: Experiment,
    storage_path: str,
    run_name: str,
    *,
    address: str | None,
    console: Console,
    make_tuner: Callable[[], Any],
) -> RunOutcome:
    """Start Ray, fit the tuner ``make_tuner`` builds (or restores), shut Ray down.

    SIGTERM stops the sweep as a first Ctrl-C does (:func:`~tunefleet.resume.sigterm_stops_sweep`).
    """
    local_dir = None if "://" in storage_path else Path(storage_path) / run_name
    shutdown = _init_ray(address, _runtime_env(experiment))
    handle_sigterm_again()  # ray.init installed its own handler
    try:
        # Only an embedded Ray tunefleet started itself is known never to grow.
        check_trials_fit(experiment, cluster_capacity(may_autoscale=address is not None or shutdown is None))
        if local_dir is not None and not (local_dir / EXPERIMENT_FILE).is_file():
            save_experiment_file(experiment, local_dir, run_name)
        echo(
            console,
            f"tunefleet: {run_name}: {experiment.num_trials_hint()} of {experiment.trainable.ref}, "
            f"{experiment.search.algorithm} search, {experiment.scheduler.name} scheduler, "
            f"optimizing {experiment.metric} ({experiment.mode})",
            highlight=False,
            soft_wrap=True,
        )
        echo(
            console,
            f"tunefleet: results in {local_dir or storage_path + '/' + run_name}",
            highlight=False,
            soft_wrap=True,
        )
        tuner = make_tuner()
        try:
            results = tuner.fit()
        except (KeyboardInterrupt, Terminated):
            # A second Ctrl-C skips Ray's final snapshot; the previous one is still there.
            echo(
                console,
                "tunefleet: stopped at once; the last snapshot is kept. Resume with:\n  "
                + resume_command(local_dir or f"{storage_path}/{run_name}", address),
                highlight=False,
                soft_wrap=True,
            )
            raise
        path = Path(results.experiment_path) if local_dir is None else local_dir
        reported = unreported_metric(results)
        if reported is not None:
            raise TunefleetError(
                f"{experiment.source}: metric: {experiment.trainable.ref} reported {reported} but not "
                f"{experiment.metric!r}; set metric: to one of those, or report {experiment.metric!r} "
                f"from the trainable (the sweep stopped at the first such result: {path})"
            )
        return RunOutcome(
            path=path,
            num_trials=len(results),
            num_errors=len(results.errors),
            num_unfinished=0 if local_dir is None else unfinished_trials(local_dir, experiment.num_trials),
        )
    finally:
        if shutdown is not None:
            shutdown()
