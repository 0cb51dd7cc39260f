"""``aim``: every trial an Aim run, in an Aim experiment named after the experiment.

Ray's ``AimLoggerCallback``, with the fixes of :mod:`tunefleet.loggers.aim_callback`. Needs the
``aim`` extra: ``pip install 'tunefleet[aim]'``.

The default repository is the storage itself (``STORAGE/.aim``, every experiment in the storage,
next to their directories): ``aim up --repo STORAGE`` shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from tunefleet.errors import TunefleetError
from tunefleet.loggers import LoggerContext, LoggerOptions, LoggerPlugin

_NEEDS_REPO = (
    "required when storage is a URI: the default Aim repository is the storage directory, which "
    "must be local; name a local directory (e.g. aim_repo) or an Aim server (aim://host:53800)"
)


class AimOptions(LoggerOptions):
    """Options of ``loggers: [{type: aim, ...}]``."""

    repo: str | None = Field(
        None, min_length=1, description="Aim repository: a directory or aim://host:port (default: STORAGE)."
    )
    experiment: str | None = Field(
        None, min_length=1, description="Aim experiment of the runs (default: the experiment's name)."
    )


def check(options: AimOptions, storage: str) -> list[tuple[str, str]]:
    if options.repo is None and "://" in storage:
        return [("repo", _NEEDS_REPO)]
    return []


def build(options: AimOptions, context: LoggerContext) -> Any:
    from tunefleet.loggers.aim_callback import AimCallback

    repo = options.repo
    if repo is None:
        storage = context.local_storage
        if storage is None:
            raise TunefleetError(f"loggers: aim: repo {_NEEDS_REPO}")
        repo = str(storage.resolve())
    elif "://" not in repo:
        repo = str(Path(repo).resolve())
    if "://" not in repo:
        Path(repo).mkdir(parents=True, exist_ok=True)
    return AimCallback(
        repo=repo, experiment=options.experiment or context.experiment, tunefleet_run=context.run
    )


PLUGIN = LoggerPlugin(name="aim", options=AimOptions, build=build, check=check, requires=(("aim", "aim"),))
