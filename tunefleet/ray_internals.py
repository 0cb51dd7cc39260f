"""Every use of Ray's private APIs by tunefleet, with the reason for each (checked against Ray 2.60.0).

Ray is pinned to one minor version (pyproject.toml). A Ray upgrade means reading this module
against Ray's new source, and running ``tests/test_ray_internals.py``, which fails when a private
name used here or a private method overridden elsewhere (:data:`OVERRIDDEN_PRIVATE_METHODS`) is
gone, and when a module other than this one imports a private Ray module.

What is here, and why:

1. **A local Ray bound to 127.0.0.1** (:func:`loopback_only`): Ray 2.60 replaces a 127.0.0.1 node
   address with the machine's own and listens on every interface unless it runs as single-machine
   Ray; the switch is ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``, read only by ``ray.init``.
2. **What the cluster can add** (:func:`autoscaler_node_types`, :func:`cluster_node_groups`): the
   autoscaler v1 tells a driver its node types only through a debug key of the GCS's internal KV
   store; v2 and KubeRay through ``ray._private.state.state.get_cluster_config()``.
3. **A declined reset starts the trial in a new process** (:func:`install_controller_patches`).
   With ``reuse_actors``, Ray hands a new trial the process of a finished one and calls its
   ``reset_config``. When that returns False (a class declining; ``FunctionTrainable`` when its
   thread does not end within 2 s; the default ``Trainable.reset_config``, which is why tunefleet
   reuses processes only of trainables that reset themselves), ``TuneController._on_trial_reset``
   marks the trial ERROR without retrying it or telling the searcher and the scheduler: a
   ``ConcurrencyLimiter`` then waits forever for trials that will never finish, and the sweep
   stalls. Here the trial gets a fresh actor instead, and the sweep stops offering finished
   processes to new trials.
4. **A result without the tuned metric fails its trial and ends the sweep, cleanly**
   (:func:`install_controller_patches`). Ray's ``TuneController._validate_result_metrics`` raises
   from the control loop instead: a traceback, and an experiment state that keeps every trial
   unfinished. Here the trial ends in ERROR with what it did report, the searcher and scheduler
   are told, and the sweep stops (every trial of it would fail the same way);
   :func:`unreported_metric` finds that in the results.
5. **Each trial's stdout and stderr are kept in its directory in storage**
   (:func:`keep_trial_output`). ``log_to_file`` writes them into the trial's working directory, in
   Ray's session folder of the node that ran it; Ray copies that folder to storage only with
   ``SyncConfig(sync_artifacts=True)``, which also copies whatever the trainable writes into its
   working directory (a downloaded data set, per trial), and even then never after the last
   result of a class trainable, nor the output of a trial that raised. The copy reads the
   trainable's ``_storage`` (Ray's ``StorageContext``) and drops the marker lines Ray's log
   monitor writes (``ray._private.ray_constants.LOG_PREFIX_*``).
6. **Result files keep every row** (:class:`JsonLogger`, :class:`CsvLogger`): when a trial starts
   again from a checkpoint (a PBT exploit, a retry, a resumed sweep), Ray's loggers copy the
   trial's file from storage over the driver's own copy (``_restore_from_remote``). Storage gets
   the driver's copy only every few seconds, so every result reported since the last sync was
   lost (17 and 27 rows left of each PBT toy member's 100). These copy from storage only when the
   driver has no copy of its own (a sweep resumed by a new driver). They also write numpy and
   torch scalars as the numbers they hold (Ray's encoder writes a numpy NaN as ``"null"``).
7. **PBT keeps the checkpoints it needs and the processes of paused members**
   (:func:`keep_needed_checkpoints`, :func:`resolved_checkpoint_path`, :func:`search_algorithm`,
   :func:`cache_one_more_actor`): Ray's per-trial ``_CheckpointManager`` deletes a checkpoint PBT may
   still clone once ``keep`` newer ones exist, and the controller's ``_actor_cache`` holds a paused
   member's process only while the search may still add trials (see
   :mod:`tunefleet.schedulers.population`, which also overrides private methods of Ray's
   ``PopulationBasedTraining``: :data:`OVERRIDDEN_PRIVATE_METHODS`).
8. **Cluster launcher files checked offline** (:func:`prepare_cluster_config`,
   :func:`validate_cluster_config`): what ``ray up`` runs before it touches a cloud,
   ``ray.autoscaler._private.util.prepare_config`` and ``validate_config``.
10. **A trial continues another sweep's checkpoint** (:func:`continue_checkpoints`): Ray starts a
   trial from a checkpoint only when the trial itself saved it (a retry, a resume). ``tunefleet
   extend`` starts new trials from an old sweep's checkpoints: the trial's config names one, and
   the trainable restores it in ``setup`` (and in ``reset``, for a reused process) through
   ``Trainable.restore`` given a ``ray.train._internal.session._TrainingResult`` holding the
   iteration and time the checkpoint was saved at, which is how Ray itself restores them, so
   ``training_iteration`` continues (a scheduler judges the trial at the right rung). A checkpoint
   records that iteration in a small file of its own as it is saved (Ray 2.60 keeps it only in
   the experiment state, as a pickle), read from ``Trainable._iteration`` and ``_time_total``.
9. **The objective of a plain Ray Tune directory** (:func:`objective_from_tuner_pkl`): when
   neither tunefleet.yaml nor the caller says metric and mode, the pickled ``TuneConfig`` in
   ``tuner.pkl`` (its ``_tune_config`` entry) does.
10. **No TensorBoard unless asked** (:class:`NoTensorBoard`): Ray Tune adds its TensorBoard
    logger to every sweep that has no ``TBXLoggerCallback`` among its callbacks
    (``ray.tune.utils.callback._create_default_callbacks``); its only switch,
    ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``, is an environment variable of the process that runs
    the sweep, read at every ``fit``. A ``TBXLoggerCallback`` that logs nothing fills the place.
11. **A stopped sweep does not wait for W&B** (:func:`stop_wandb_logging`): Ray's
    ``WandbLoggerCallback`` waits at the end of a sweep for each trial's logging actor to finish,
    but tells only those of ended trials to: after Ctrl-C or a ``time_budget`` stop the driver
    waited ``upload_timeout`` (30 minutes). This tells the others (``_signal_logging_actor_stop``
    for each trial in ``_trial_logging_futures``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ray.train._internal.checkpoint_manager import _CheckpointManager, _delete_fs_path
from ray.tune import Callback
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback

from tunefleet.scalars import python_scalars

__all__ = [
    "OVERRIDDEN_PRIVATE_METHODS",
    "CsvLogger",
    "JsonLogger",
    "KeepNeeded",
    "MetricNotReported",
    "NoTensorBoard",
    "TrialSafeguards",
    "autoscaler_node_types",
    "cache_one_fewer_actor",
    "cache_one_more_actor",
    "cluster_node_groups",
    "continue_checkpoints",
    "install_controller_patches",
    "keep_needed_checkpoints",
    "keep_trial_output",
    "loopback_only",
    "objective_from_tuner_pkl",
    "prepare_cluster_config",
    "resolved_checkpoint_path",
    "search_algorithm",
    "stop_wandb_logging",
    "unreported_metric",
    "validate_cluster_config",
]

logger = logging.getLogger(__name__)

#: Private methods of Ray classes that tunefleet's subclasses override: ``(Ray module, class,
#: method) -> where and why``. tests/test_ray_internals.py checks that each still exists, and that
#: no other private method of a Ray base class is overridden without being listed here.
OVERRIDDEN_PRIVATE_METHODS: dict[tuple[str, str, str], str] = {
    ("ray.tune.schedulers.pbt", "PopulationBasedTraining", "_exploit"): (
        "schedulers/population.py: records every exploit in the lineage and protects the clone's checkpoint"
    ),
    ("ray.tune.schedulers.pbt", "PopulationBasedTraining", "_get_new_config"): (
        "schedulers/population.py: clips perturbed values to the mutation's range"
    ),
    ("ray.tune.schedulers.pb2", "PB2", "_get_new_config"): (
        "schedulers/population.py: the same, for PB2's explore"
    ),
    ("ray.tune.logger.logger", "LoggerCallback", "_restore_from_remote"): "this module, item 6",
}


# -- 1. a local Ray on the loopback -----------------------------------------------------------


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """While the block runs, ``ray.init`` starts a single-machine Ray (every server on 127.0.0.1).

    The switch is restored afterwards, so that a later ``--address`` connection from this process
    gets the machine's address again.
    """
    from ray._private import ray_constants

    multi_node = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = multi_node


# -- 2. what the cluster can add --------------------------------------------------------------


def autoscaler_node_types() -> dict[str, str] | None:
    """The autoscaler v1's ``node id -> node type`` (its status); None before its first update.

    Every head runs an autoscaler; without an autoscaling config it is a read-only one whose node
    types are named ``node_<node id>``. Its status is the only place v1 tells a driver about it.
    """
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    try:
        raw = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
        status = json.loads(raw) if raw else None
    except Exception:  # the status is best effort: an unreadable one says nothing
        return None
    if not isinstance(status, dict):
        return None
    mapping = (status.get("autoscaler_report") or {}).get("node_type_mapping") or {}
    return {str(k): str(v) for k, v in mapping.items()}


def cluster_node_groups() -> list[tuple[str, dict[str, float], int]]:
    """``(name, resources, max_count)`` of each node group autoscaler v2 or KubeRay reports ([] else)."""
    from ray._private.state import state

    try:
        config = state.get_cluster_config()
    except Exception:  # v1 and embedded clusters have no cluster config
        return []
    if config is None:
        return []
    return [(g.name, dict(g.resources), g.max_count) for g in config.node_group_configs]


# -- 3, 4. the Tune controller ----------------------------------------------------------------

#: The end of the error of a trial whose result lacked the tuned metric (see unreported_metric).
_NOT_REPORTED = "the metric this sweep tunes"


class TrialSafeguards(Callback):
    """Installs the controller patches (3 and 4 above) in the process that runs the sweep.

    A callback because Ray sets callbacks up in that process, which is not the driver when it
    connects with ``ray://``; it is saved with the sweep, so a resumed sweep has it too.
    """

    def setup(self, *args: Any, **info: Any) -> None:
        install_controller_patches()


def install_controller_patches() -> None:
    """Patch ``TuneController`` (once per process): fresh actors for declined resets, clean
    failures for results without the tuned metric. They change only those two failure paths."""
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial
    from ray.tune.result import RESULT_DUPLICATE
    from ray.tune.schedulers import TrialScheduler

    if getattr(TuneController, "_tunefleet_patched", False):
        return
    on_trial_reset = TuneController._on_trial_reset
    process_trial_result = TuneController._process_trial_result

    def _on_trial_reset(self: Any, trial: Any, success: bool) -> None:
        if success or trial.status != Trial.PENDING or trial not in self._trial_to_actor:
            on_trial_reset(self, trial, success)
            return
        logger.info("%s declined a reset (reset_config returned False): starting it in a new process", trial)
        # A trainable that declines a reset almost always declines every one: stop offering
        # finished processes for the rest of the sweep (each offer costs a process stop).
        self._reuse_actors = False
        self._resetting_trials.remove(trial)
        declined = self._trial_to_actor.pop(trial)
        self._actor_to_trial.pop(declined)
        trial.set_ray_actor(None)
        self._remove_actor(tracked_actor=declined)
        # Still PENDING and staged: a cached actor (which may accept) or a new one.
        self._schedule_trial_actor(trial)

    def _process_trial_result(self: Any, trial: Any, result: dict[str, Any]) -> Any:
        if RESULT_DUPLICATE not in result and _lacks_metric(self, trial, result):
            _fail_without_metric(self, trial, result)
            return TrialScheduler.STOP  # ignore any results buffered after this one
        return process_trial_result(self, trial, result)

    TuneController._on_trial_reset = _on_trial_reset  # type: ignore[method-assign]
    TuneController._process_trial_result = _process_trial_result  # type: ignore[method-assign]
    TuneController._tunefleet_patched = True  # type: ignore[attr-defined]


def _lacks_metric(controller: Any, trial: Any, result: dict[str, Any]) -> bool:
    """Ray's own check (metric, scheduler and searcher metrics), without its raise."""
    from ray.tune.utils import flatten_dict

    try:
        controller._validate_result_metrics(flatten_dict({**result, "trial_id": trial.trial_id}))
    except ValueError:
        return True
    return False


def _fail_without_metric(controller: Any, trial: Any, result: dict[str, Any]) -> None:
    """What ``TuneController._process_trial_failure`` does for a trial that cannot be retried
    (a retry would report the same), after logging the result as usual; then stop the sweep."""
    from ray.tune.utils import flatten_dict

    result["trial_id"] = trial.trial_id
    controller._callbacks.on_trial_result(
        iteration=controller._iteration, trials=controller._trials, trial=trial, result=result
    )
    trial.update_last_result(result)
    error = MetricNotReported(
        f"the trial reported {_describe(_reported_names(flatten_dict(result)))} "
        f"but not {controller._metric!r}, {_NOT_REPORTED}"
    )
    controller._has_errored = True
    trial.handle_error(error)
    controller._scheduler_alg.on_trial_error(controller, trial)
    controller._search_alg.on_trial_complete(trial.trial_id, error=True)
    controller._schedule_trial_stop(trial, exception=error)
    controller._callbacks.on_trial_error(
        iteration=controller._iteration, trials=controller._trials, trial=trial
    )
    controller.request_stop_experiment()


class MetricNotReported(Exception):
    """A trial's result lacks the metric the sweep tunes (its message is the trial's error)."""


def _reported_names(result: Mapping[str, Any]) -> list[str]:
    """The keys of a flat result that the trainable reported (not Ray's own bookkeeping)."""
    from ray.tune.result import AUTO_RESULT_KEYS, DEBUG_METRICS, DONE, RESULT_DUPLICATE, SHOULD_CHECKPOINT

    ray_keys = {
        *AUTO_RESULT_KEYS,
        *DEBUG_METRICS,
        DONE,
        RESULT_DUPLICATE,
        SHOULD_CHECKPOINT,
        "experiment_tag",
    }
    return [key for key in result if key not in ray_keys and not key.startswith("config/")]


def _describe(names: list[str]) -> str:
    return ", ".join(names) if names else "nothing but Ray's own keys"


def unreported_metric(results: Iterable[Any]) -> str | None:
    """What a trial that stopped the sweep for lacking the tuned metric reported, or None.

    Args:
        results: The ``ray.tune.Result`` objects of a finished sweep.
    """
    from ray.tune.utils import flatten_dict

    for result in results:
        if result.error is not None and _NOT_REPORTED in str(result.error):
            return _describe(_reported_names(flatten_dict(result.metrics or {})))
    return None


# -- 5. what trials print ---------------------------------------------------------------------


def keep_trial_output(trainable: Any, files: tuple[str, str]) -> type:
    """``trainable`` as a ``Trainable`` class whose trials copy their output files into their
    directory in storage (5 above).

    Ray's own wrappers (``tune.with_resources``, ``tune.with_parameters``) subclass the same
    way, keeping the name Ray gives the trainable and its trials.

    Args:
        trainable: A ``Trainable`` subclass or a function trainable.
        files: The names given to ``RunConfig(log_to_file=...)`` (stdout, stderr).
    """
    from ray.tune.trainable import wrap_function

    base = trainable if inspect.isclass(trainable) else wrap_function(trainable)

    class KeepsOutput(base):  # type: ignore[valid-type,misc]
        _tunefleet_output_files = files
        _tunefleet_output_copied = float("-inf")

        def train(self) -> Any:
            result = super().train()
            storage = getattr(self, "_storage", None)
            period = storage.sync_config.sync_period if storage is not None else 0
            if time.monotonic() - self._tunefleet_output_copied >= period:
                self._tunefleet_output_copied = time.monotonic()
                _copy_output(self)
            return result

        def reset(self, new_config: dict[str, Any], storage: Any = None) -> bool:
            _copy_output(self)  # the finished trial's, before its files are closed
            return bool(super().reset(new_config, storage))

        def stop(self) -> None:
            try:
                super().stop()  # cleanup, then Ray closes (and flushes) the files
            finally:
                _copy_output(self)

    KeepsOutput.__name__ = KeepsOutput.__qualname__ = getattr(trainable, "__name__", base.__name__)
    return KeepsOutput


def _without_ray_markers(output: bytes) -> bytes:
    """A worker's output without the lines Ray writes for its log monitor (``:actor_name:...``)."""
    from ray._private import ray_constants

    markers = tuple(
        getattr(ray_constants, name).encode()
        for name in ("LOG_PREFIX_ACTOR_NAME", "LOG_PREFIX_TASK_NAME", "LOG_PREFIX_JOB_ID")
    )
    return b"".join(line for line in output.splitlines(keepends=True) if not line.startswith(markers))


def _copy_output(trainable: Any) -> None:
    """Copy a trial's output files from its working directory to its directory in storage."""
    storage = getattr(trainable, "_storage", None)  # Trainable's; None outside Tune
    if storage is None or storage.trial_dir_name is None:
        return
    sys.stdout.flush()  # while a trial runs, these write into its files too
    sys.stderr.flush()
    try:
        storage.storage_filesystem.create_dir(storage.trial_fs_path)
        for name in trainable._tunefleet_output_files:
            local = Path(storage.trial_working_directory, name)
            if local.is_file():
                destination = Path(storage.trial_fs_path, name).as_posix()
                with storage.storage_filesystem.open_output_stream(destination) as out:
                    out.write(_without_ray_markers(local.read_bytes()))
    except Exception as exc:  # the output is a convenience: never fail a trial for it
        logger.warning("could not copy the output of trial %s to storage: %s", storage.trial_dir_name, exc)


# -- 10. continuing another sweep's checkpoint ------------------------------------------------


def continue_checkpoints(trainable: type, key: str, iteration_file: str) -> type:
    """``trainable`` (a ``Trainable`` subclass) whose trials continue a checkpoint their config names.

    A config holding ``key`` (``{checkpoint, training_iteration, time_total_s, ...}``) makes the
    trial restore that checkpoint right after ``setup`` (or ``reset``), at that iteration: the
    next result is iteration ``training_iteration + 1``. The trainable's own ``setup`` and
    ``reset_config`` never see the key. Every checkpoint the trainable saves gets
    ``iteration_file`` (JSON: ``training_iteration``, ``time_total_s``), which an extend reads.
    """
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint

    def without_key(config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != key}

    class ContinuesCheckpoints(trainable):
        def setup(self, config: dict[str, Any]) -> None:
            super().setup(without_key(config))
            self._tunefleet_continue(config.get(key))

        def reset(self, new_config: dict[str, Any], storage: Any = None) -> bool:
            # Trainable.reset zeroes the iteration after reset_config: restore after it.
            if not super().reset(new_config, storage):
                return False
            self._tunefleet_continue(new_config.get(key))
            return True

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            return bool(super().reset_config(without_key(new_config)))

        def save_checkpoint(self, checkpoint_dir: str) -> Any:
            saved = super().save_checkpoint(checkpoint_dir)
            done = {"training_iteration": self._iteration, "time_total_s": self._time_total}
            (Path(checkpoint_dir) / iteration_file).write_text(json.dumps(done), encoding="utf-8")
            return saved

        def _tunefleet_continue(self, continues: Mapping[str, Any] | None) -> None:
            if not continues:
                return
            metrics = {
                "training_iteration": int(continues["training_iteration"]),
                "time_total_s": float(continues.get("time_total_s") or 0.0),
            }
            self.restore(_TrainingResult(Checkpoint.from_directory(continues["checkpoint"]), metrics))

    ContinuesCheckpoints.__name__ = ContinuesCheckpoints.__qualname__ = trainable.__name__
    return ContinuesCheckpoints


# -- 6. result files --------------------------------------------------------------------------


class _KeepDriverCopy:
    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if Path(trial.local_path, file_name).exists():
            return  # the driver's copy is at least as new as the stored one
        super()._restore_from_remote(file_name, trial)  # type: ignore[misc]

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        super().log_trial_result(iteration, trial, python_scalars(result))  # type: ignore[misc]


class JsonLogger(_KeepDriverCopy, JsonLoggerCallback):
    """``result.json``, one JSON object per reported result (6 above)."""


class CsvLogger(_KeepDriverCopy, CSVLoggerCallback):
    """``progress.csv``, one row per reported result (6 above)."""


# -- 7. PBT's checkpoints and processes -------------------------------------------------------


class KeepNeeded(_CheckpointManager):
    """Ray's per-trial checkpoint manager, except that checkpoints still needed outlive ``keep``.

    ``keep`` then means: the ``keep`` most recent checkpoints, plus those still needed. A needed
    checkpoint stays in the list and is deleted by a later registration, once nothing needs it.
    """

    #: Paths still needed; set per instance by :func:`keep_needed_checkpoints`, never pickled.
    _needed: Callable[[], set[str]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_needed", None)  # the scheduler is not part of the trial's saved state
        return state

    def register_checkpoint(self, checkpoint_result: Any) -> None:
        config = self._checkpoint_config
        keep = config.num_to_keep
        if keep is None or self._needed is None:
            super().register_checkpoint(checkpoint_result)
            return
        self._checkpoint_config = dataclasses.replace(config, num_to_keep=None)
        try:
            super().register_checkpoint(checkpoint_result)  # bookkeeping only, deletes nothing
        finally:
            self._checkpoint_config = config
        surplus = self._checkpoint_results[:-keep]
        if not surplus:
            return
        needed = self._needed()
        doomed = [
            r
            for r in surplus
            if r is not self._latest_checkpoint_result and r.checkpoint and r.checkpoint.path not in needed
        ]
        self._checkpoint_results = [r for r in self._checkpoint_results if r not in doomed]
        for result in doomed:
            checkpoint = result.checkpoint
            if checkpoint is not None:
                _delete_fs_path(fs=checkpoint.filesystem, fs_path=checkpoint.path)


def keep_needed_checkpoints(manager: Any, needed: Callable[[], set[str]]) -> None:
    """Make a trial's checkpoint manager keep, beyond ``checkpoint.keep``, the paths ``needed()``
    returns (Ray's manager deletes a checkpoint as soon as ``keep`` newer ones exist).

    A manager that is neither Ray's own nor a :class:`KeepNeeded` (a subclass of someone else's)
    is left as it is.
    """
    if type(manager) is _CheckpointManager:
        manager.__class__ = KeepNeeded
    if isinstance(manager, KeepNeeded):
        manager._needed = needed


def resolved_checkpoint_path(checkpoint: Any) -> str | None:
    """The path of a PBT trial state's ``last_checkpoint``: a ``Checkpoint``, or a checkpoint still
    being saved (Ray's ``_FutureTrainingResult``, resolved without waiting); None when neither."""
    from ray.train._internal.session import _FutureTrainingResult
    from ray.tune import Checkpoint

    if isinstance(checkpoint, _FutureTrainingResult):
        resolved = checkpoint.resolve(block=False)
        checkpoint = resolved.checkpoint if resolved is not None else None
    return checkpoint.path if isinstance(checkpoint, Checkpoint) else None


def search_algorithm(controller: Any) -> Any:
    """The sweep's search algorithm, as the Tune controller holds it."""
    return controller._search_alg


def cache_one_more_actor(controller: Any, placement_group_factory: Any) -> None:
    """Let the controller keep one more idle actor of these resources for reuse."""
    controller._actor_cache.increase_max(placement_group_factory)


def cache_one_fewer_actor(controller: Any, placement_group_factory: Any) -> None:
    """Undo :func:`cache_one_more_actor`."""
    controller._actor_cache.decrease_max(placement_group_factory)


# -- 8. cluster launcher files ----------------------------------------------------------------


def prepare_cluster_config(config: dict[str, Any]) -> dict[str, Any]:
    """``ray up``'s first offline step: the config with its provider's defaults filled in.

    Raises:
        What Ray's ``prepare_config`` raises (``NotImplementedError`` for an unknown provider,
        ``click.ClickException``, ``ValueError``...): the caller turns them into problems.
    """
    from ray.autoscaler._private.util import prepare_config

    prepared: dict[str, Any] = prepare_config(config)
    return prepared


def validate_cluster_config(config: dict[str, Any]) -> None:
    """``ray up``'s second offline step: Ray's JSON schema for cluster files and its own rules.

    Raises:
        ``jsonschema.ValidationError``, ``ValueError``, ``RuntimeError``, as Ray's
        ``validate_config`` does.
    """
    from ray.autoscaler._private.util import validate_config

    validate_config(config)


# -- 9. tuner.pkl -----------------------------------------------------------------------------


def objective_from_tuner_pkl(path: Path) -> tuple[str | None, str | None]:
    """``(metric, mode)`` of the ``TuneConfig`` pickled in ``path``; (None, None) when unreadable.

    Unpickling imports Ray; tuner.pkl is the user's own file, as trusted as the directory.
    """
    if not path.is_file():
        return None, None
    try:
        import ray.cloudpickle as pickle

        with path.open("rb") as file:
            data = pickle.load(file)
        config = data.get("_tune_config") if isinstance(data, dict) else None
    except Exception as exc:  # any unpickling failure: the file is optional
        logger.debug("cannot read %s: %s", path, exc)
        return None, None
    return getattr(config, "metric", None), getattr(config, "mode", None)


# -- 10. no TensorBoard unless asked ----------------------------------------------------------


class NoTensorBoard(TBXLoggerCallback):
    """Takes the place of Ray's TensorBoard logger, which Ray Tune adds otherwise; logs nothing."""

    def __init__(self) -> None:
        pass  # Ray's imports tensorboardX and sets up writers: none needed

    def log_trial_start(self, trial: Any) -> None:
        pass

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        pass

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        pass


# -- 11. W&B at the end of a stopped sweep ----------------------------------------------------


def stop_wandb_logging(callback: Any) -> None:
    """Tell the logging actor of every trial a ``WandbLoggerCallback`` still logs to finish."""
    for trial in list(callback._trial_logging_futures):
        callback._signal_logging_actor_stop(trial)
