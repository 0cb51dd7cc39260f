"""Where tunefleet changes how Ray Tune runs trials through its internals (checked against Ray 2.60).

Every use of a private Ray Tune API for running trials is here, with the reason; after a Ray upgrade,
re-read ``ray/tune/execution/tune_controller.py``, ``ray/tune/trainable/trainable.py`` and
``ray/train/_internal/storage.py`` against it.

1. **A declined reset starts the trial in a new process.** With ``reuse_actors``, Ray hands a new
   trial the process of a finished one and calls its ``reset_config``. When that returns False
   (a class declining; ``FunctionTrainable`` when its thread does not end within 2 s; the default
   ``Trainable.reset_config``, which is why tunefleet reuses processes only of trainables that
   reset themselves), ``TuneController._on_trial_reset`` marks the trial ERROR without retrying it
   or telling the searcher and the scheduler: a ``ConcurrencyLimiter`` then waits forever for
   trials that will never finish, and the sweep stalls. Here the trial gets a fresh actor instead,
   and the sweep stops offering finished processes to new trials.
2. **A result without the tuned metric fails its trial and ends the sweep, cleanly.** Ray's
   ``TuneController._validate_result_metrics`` raises from the control loop instead: a traceback,
   and an experiment state that keeps every trial unfinished. Here the trial ends in ERROR with
   what it did report, the searcher and scheduler are told, and the sweep stops (every trial of it
   would fail the same way); :func:`unreported_metric` finds that in the results.
3. **Each trial's stdout and stderr are kept in its directory in storage.** ``log_to_file`` writes
   them into the trial's working directory, in Ray's session folder of the node that ran it; Ray
   copies that folder to storage only with ``SyncConfig(sync_artifacts=True)``, which also copies
   whatever the trainable writes into its working directory (a downloaded data set, per trial),
   and even then never after the last result of a class trainable, nor the output of a trial that
   raised. :func:`keep_trial_output` copies the two files when a trial's process stops or moves to
   another trial, and every ``sync_period`` while it runs.

1 and 2 patch ``TuneController`` in the process that runs it (the driver, or the head node for a
``ray://`` client), installed by the :class:`TrialSafeguards` callback when the controller sets up.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ray.tune import Callback

__all__ = ["TrialSafeguards", "install_controller_patches", "keep_trial_output", "unreported_metric"]

logger = logging.getLogger(__name__)

#: The end of the error of a trial whose result lacked the tuned metric (see unreported_metric).
_NOT_REPORTED = "the metric this sweep tunes"


class TrialSafeguards(Callback):
    """Installs the controller patches (1 and 2 above) in the process that runs the sweep.

    A callback because Ray sets callbacks up in that process, which is not the driver when it
    connects with ``ray://``; it is saved with the sweep, so a resumed sweep has it too.
    """

    def setup(self, *args: Any, **info: Any) -> None:
        install_controller_patches()


def install_controller_patches() -> None:
    """Patch ``TuneController`` (once per process): fresh actors for declined resets, clean
    failures for results without the tuned metric."""
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


def keep_trial_output(trainable: Any, files: tuple[str, str]) -> type:
    """``trainable`` as a ``Trainable`` class whose trials copy their output files into their
    directory in storage (3 above).

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
