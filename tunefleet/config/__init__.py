"""Experiment files: reading, ``--set`` overrides and validation, all in one place."""

from __future__ import annotations

from tunefleet.config.load import Experiment, check_name_argument, check_storage, load_experiment
from tunefleet.config.schema import (
    CheckpointSettings,
    ExperimentFile,
    FailureSettings,
    ResourceSettings,
    SearchSettings,
)

__all__ = [
    "CheckpointSettings",
    "Experiment",
    "ExperimentFile",
    "FailureSettings",
    "ResourceSettings",
    "SearchSettings",
    "check_name_argument",
    "check_storage",
    "load_experiment",
]
