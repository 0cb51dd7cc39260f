"""``wandb``: every trial a Weights & Biases run, in a project named after the experiment.

Ray's ``WandbLoggerCallback``, with the fixes of :mod:`tunefleet.loggers.wandb_callback`. Needs
the ``wandb`` extra: ``pip install 'tunefleet[wandb]'``.

Offline unless told otherwise (``mode: online``): runs are written to ``STORAGE/wandb/`` (a local
storage; with a URI storage, to each trial's directory) and ``wandb sync`` uploads them later.
Runs are grouped by sweep (the experiment directory's name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tunefleet.loggers import LoggerContext, LoggerOptions, LoggerPlugin


class WandbOptions(LoggerOptions):
    """Options of ``loggers: [{type: wandb, ...}]``."""

    project: str | None = Field(
        None, min_length=1, description="W&B project (default: the experiment's name)."
    )
    group: str | None = Field(
        None,
        min_length=1,
        description="W&B group of the sweep's runs (default: the experiment directory's name).",
    )
    entity: str | None = Field(None, min_length=1, description="W&B user or team (default: W&B's default).")
    mode: Literal["offline", "online", "disabled"] = Field(
        "offline",
        description="offline: write runs locally, upload later with wandb sync; online: upload now.",
    )
    dir: str | None = Field(
        None,
        min_length=1,
        description="Directory W&B writes its wandb/ folder in (default: STORAGE, when local).",
    )
    tags: list[str] = Field(default_factory=list, description="Tags of every run.")
    upload_checkpoints: bool = Field(False, description="Upload each checkpoint as a W&B artifact.")


def build(options: WandbOptions, context: LoggerContext) -> Any:
    from tunefleet.loggers.wandb_callback import WandbCallback

    directory = Path(options.dir) if options.dir is not None else context.local_storage
    if directory is not None:
        directory = directory.resolve()
        directory.mkdir(parents=True, exist_ok=True)
    init: dict[str, Any] = {"mode": options.mode, "resume": "allow"}
    if directory is not None:
        init["dir"] = str(directory)
    if options.entity is not None:
        init["entity"] = options.entity
    if options.tags:
        init["tags"] = list(options.tags)
    return WandbCallback(
        project=options.project or context.experiment,
        group=options.group or context.run,
        upload_checkpoints=options.upload_checkpoints,
        **init,
    )


PLUGIN = LoggerPlugin(name="wandb", options=WandbOptions, build=build, requires=(("wandb", "wandb"),))
