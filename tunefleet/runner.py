"""Experiment -> ``ray.tune.Tuner`` -> experiment directory: the one place that assembles Ray objects."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from tunefleet.config import Experiment
from tunefleet.errors import TunefleetError
from tunefleet.search import build_search
from tunefleet.search.spaces import Constant

__all__ = ["RunOutcome", "run_experiment"]

logger = logging.getLogger(__name__)

#: File in every experiment directory holding the experiment as it was run.
EXPERIMENT_FILE = "tunefleet.yaml"


@dataclass(frozen=True)
class RunOutcome:
    """What a finished sweep left behind.

    Attributes:
        path: The experiment directory (readable by ``ray.tune.ExperimentAnalysis``).
        num_trials: Trials that ran.
        num_errors: Trials that ended in ERROR.
    """

    path: Path
    num_trials: int
    num_errors: int


def _trial_dirname(trial: Any) -> str:
    # Ray's default embeds the whole config in the folder name; short ids stay readable.
    return f"{trial.trainable_name}_{trial.trial_id}"


def _resolve_storage(storage: str) -> str:
    if "://" in storage:
        return storage  # cloud or cluster storage (s3://, gs://, ...)
    path = Path(storage).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".tunefleet-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise TunefleetError(
            f"storage {storage!r} is not writable ({exc}); choose another with --storage"
        ) from None
    return str(path)


def _unused_name(storage: str, name: str) -> str:
    """``name``, or ``name-<timestamp>`` when a previous run already used it: never overwrite results."""
    if "://" in storage:
        return name

    def free(candidate: str) -> bool:
        existing = Path(storage) / candidate
        return not existing.exists() or not any(existing.iterdir())

    if free(name):
        return name
    stamped = f"{name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    candidate, counter = stamped, 1
    while not free(candidate):
        counter += 1
        candidate = f"{stamped}-{counter}"
    return candidate


def _runtime_env(experiment: Experiment) -> dict[str, Any]:
    # A user's module next to the experiment must import on every worker, local or remote.
    ship = experiment.trainable.ship
    return {"py_modules": [str(ship)]} if ship else {}


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at ``host:port`` (Ray retries for long)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise TunefleetError(
            f"cannot reach a Ray cluster at --address {address}: {exc.strerror or exc}"
        ) from None


def _init_ray(address: str | None, runtime_env: dict[str, Any]) -> bool:
    """Start (or connect to) Ray; returns True when this call started it and must shut it down."""
    import ray

    if ray.is_initialized():
        if runtime_env:
            logger.warning(
                "Ray was already initialized by this process, so %s is not shipped to its workers; "
                "it must be importable there (e.g. on PYTHONPATH)",
                runtime_env["py_modules"][0],
            )
        return False
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
    else:
        ray.init(
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            **common,
        )
    return True


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
        # Function trainables checkpoint themselves through tune.report(checkpoint=...).
        checkpoint_frequency=frequency if is_class else 0,
        checkpoint_at_end=checkpoint.at_end if is_class else None,
    )
    trainable = tune.with_resources(
        experiment.trainable.obj, {"cpu": settings.resources.cpu, "gpu": settings.resources.gpu}
    )
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=experiment.metric,
            mode=experiment.mode,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=settings.num_samples,
            max_concurrent_trials=settings.search.max_concurrent,
            # One process per concurrent trial, reused through reset_config: no new
            # process and no new `import torch` per trial.
            reuse_actors=True,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            stop={"training_iteration": settings.max_iterations},
            checkpoint_config=checkpoint_config,
            failure_config=tune.FailureConfig(max_failures=settings.failure.max_failures),
            callbacks=[ProgressCallback(experiment.metric, experiment.mode, experiment.num_trials, console)],
            log_to_file=True,
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


def run_experiment(
    experiment: Experiment,
    *,
    address: str | None = None,
    storage: str | None = None,
    name: str | None = None,
    console: Console | None = None,
) -> RunOutcome:
    """Run a validated experiment to completion.

    Args:
        experiment: From :func:`tunefleet.config.load_experiment`.
        address: An existing Ray cluster (``auto``, ``ray://host:10001``...); None starts an
            embedded local Ray bound to 127.0.0.1 without a dashboard.
        storage: Overrides the experiment's ``storage``.
        name: Overrides the experiment's ``name``.
        console: Where progress goes (default: stderr).

    Returns:
        Where the results are and how many trials failed.
    """
    import ray

    console = console or Console(stderr=True)
    # tunefleet prints its own progress (ProgressCallback); Ray's new-style output prints an
    # experiment banner even at verbose=0, the classic reporter honours it.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # With checkpoint.keep set, Ray snapshots the experiment state whenever a trial ends after
    # checkpointing; for sweeps of short trials it warns about that on every trial. The
    # snapshots are what keeps the directory resumable; the warning is noise here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    storage_path = _resolve_storage(storage or experiment.settings.storage)
    run_name = _unused_name(storage_path, name or experiment.name)
    local_dir = None if "://" in storage_path else Path(storage_path) / run_name

    started = _init_ray(address, _runtime_env(experiment))
    try:
        if local_dir is not None:
            save_experiment_file(experiment, local_dir, run_name)
        console.print(
            f"tunefleet: {experiment.name}: {experiment.num_trials_hint()} of {experiment.trainable.ref}, "
            f"{experiment.search.algorithm} search, {experiment.scheduler.name} scheduler, "
            f"optimizing {experiment.metric} ({experiment.mode})",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"tunefleet: results in {local_dir or storage_path + '/' + run_name}",
            highlight=False,
            soft_wrap=True,
        )
        tuner = build_tuner(experiment, storage_path, run_name, console)
        results = tuner.fit()
        return RunOutcome(
            path=Path(results.experiment_path) if local_dir is None else local_dir,
            num_trials=len(results),
            num_errors=len(results.errors),
        )
    finally:
        if started:
            ray.shutdown()
