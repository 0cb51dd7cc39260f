"""``mlflow``: every trial an MLflow run, under an MLflow experiment named after the experiment.

Ray's ``MLflowLoggerCallback``, with the fixes of :mod:`tunefleet.loggers.mlflow_callback`. Needs
the ``mlflow`` extra: ``pip install 'tunefleet[mlflow]'``.

Defaults are local and offline: the tracking store is ``sqlite:///STORAGE/mlflow.db`` (one
database for every experiment in the storage, next to their directories) and uploaded
checkpoints go to ``STORAGE/mlartifacts``; ``mlflow ui --backend-store-uri
sqlite:///STORAGE/mlflow.db`` shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from tunefleet.errors import TunefleetError
from tunefleet.loggers import LoggerContext, LoggerOptions, LoggerPlugin

#: The tracking database and artifact folder in a local storage, when the options name none.
DATABASE = "mlflow.db"
ARTIFACTS = "mlartifacts"

_NEEDS_URI = (
    "required when storage is a URI: the default, sqlite:///STORAGE/mlflow.db, needs a local "
    "storage; name a tracking server (e.g. http://127.0.0.1:5000) or a local database "
    "(e.g. sqlite:///mlflow.db)"
)


class MLflowOptions(LoggerOptions):
    """Options of ``loggers: [{type: mlflow, ...}]``."""

    tracking_uri: str | None = Field(
        None,
        min_length=1,
        description="MLflow tracking URI (default: sqlite:///STORAGE/mlflow.db, STORAGE being local).",
    )
    experiment_name: str | None = Field(
        None, min_length=1, description="MLflow experiment of the runs (default: the experiment's name)."
    )
    artifact_location: str | None = Field(
        None,
        min_length=1,
        description="Where a new MLflow experiment keeps artifacts (default with the default "
        "tracking URI: STORAGE/mlartifacts; else MLflow's default).",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags set on every run.")
    upload_checkpoints: bool = Field(
        False, description="Upload each trial's last checkpoint as the run's 'checkpoint' artifact."
    )


def default_tracking_uri(storage: str | Path) -> str:
    """The tracking URI a sweep in the local ``storage`` logs to when the options name none."""
    return f"sqlite:///{(Path(storage) / DATABASE).resolve()}"


def check(options: MLflowOptions, storage: str) -> list[tuple[str, str]]:
    if options.tracking_uri is None and "://" in storage:
        return [("tracking_uri", _NEEDS_URI)]
    return []


def build(options: MLflowOptions, context: LoggerContext) -> Any:
    from tunefleet.loggers.mlflow_callback import MLflowCallback

    tracking_uri, artifact_location = options.tracking_uri, options.artifact_location
    if tracking_uri is None:
        storage = context.local_storage
        if storage is None:
            raise TunefleetError(f"loggers: mlflow: tracking_uri {_NEEDS_URI}")
        storage.mkdir(parents=True, exist_ok=True)
        tracking_uri = default_tracking_uri(storage)
        artifact_location = artifact_location or (storage / ARTIFACTS).resolve().as_uri()
    return MLflowCallback(
        tracking_uri=tracking_uri,
        experiment_name=options.experiment_name or context.experiment,
        artifact_location=artifact_location,
        tags={**options.tags, "tunefleet.experiment_dir": context.run},
        tunefleet_run=context.run,
        upload_checkpoints=options.upload_checkpoints,
    )


PLUGIN = LoggerPlugin(
    name="mlflow", options=MLflowOptions, build=build, check=check, requires=(("mlflow", "mlflow"),)
)
