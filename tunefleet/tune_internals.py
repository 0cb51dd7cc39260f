"""Where tunefleet changes how Ray Tune runs trials through its internals (checked against Ray 2.60).

Every use of a private Ray Tune API for running trials is here, with the reason; after a Ray upgrade,
re-read ``ray/tune/trainable/trainable.py`` and ``ray/train/_internal/storage.py`` against it.

**Each trial's stdout and stderr are kept in its directory in storage.** ``log_to_file`` writes
them into the trial's working directory, in Ray's session folder of the node that ran it; Ray
copies that folder to storage only with ``SyncConfig(sync_artifacts=True)``, which also copies
whatever the trainable writes into its working directory (a downloaded data set, per trial), and
even then never after the last result of a class trainable, nor the output of a trial that
raised. :func:`keep_trial_output` copies the two files when a trial's process stops or moves to
another trial, and every ``sync_period`` while it runs.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["keep_trial_output"]

logger = logging.getLogger(__name__)


def keep_trial_output(trainable: Any, files: tuple[str, str]) -> type:
    """``trainable`` as a ``Trainable`` class whose trials copy their output files into their
    directory in storage (see the module docstring).

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
