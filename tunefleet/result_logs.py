"""Ray's result-file loggers (``result.json``, ``progress.csv``) without the restore that loses rows,
and with numbers written as numbers.

When a trial starts again from a checkpoint (a PBT exploit, a retry, a resumed sweep), Ray 2.60's
JSON and CSV loggers copy the trial's file from storage over the driver's own copy. Storage gets
the driver's copy only every few seconds, so within one driver session the stored file is the
older one, and every result reported since the last sync is lost (on the PBT toy, 17 and 27 rows
were left of each member's 100). These loggers copy from storage only when the driver has no copy
of its own: a sweep resumed by a new driver, which is the case the copy exists for.

Ray's JSON encoder (``ray.air._internal.json.SafeFallbackEncoder``) writes a numpy NaN as the
string ``"null"`` and a 0-d tensor as its ``repr``; its CSV writer writes ``str()`` of them. These
loggers write numpy and torch scalars as the Python numbers they hold (a NaN as ``NaN``, as
Python's own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from tunefleet.scalars import python_scalars

__all__ = ["CsvLogger", "JsonLogger"]


class _KeepDriverCopy:
    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if Path(trial.local_path, file_name).exists():
            return  # the driver's copy is at least as new as the stored one
        super()._restore_from_remote(file_name, trial)  # type: ignore[misc]

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        super().log_trial_result(iteration, trial, python_scalars(result))  # type: ignore[misc]


class JsonLogger(_KeepDriverCopy, JsonLoggerCallback):
    """``result.json``, one JSON object per reported result."""


class CsvLogger(_KeepDriverCopy, CSVLoggerCallback):
    """``progress.csv``, one row per reported result."""
