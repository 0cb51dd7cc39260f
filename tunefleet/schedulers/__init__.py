"""Trial schedulers, by name: the ``scheduler:`` section of an experiment file.

Each scheduler is one small module in this package exposing ``PLUGIN``, a
:class:`SchedulerPlugin` with a pydantic ``options`` model (unknown or mistyped options are
errors, unlike Ray, which drops unknown keyword arguments silently) and a ``build`` function.
Modules are imported lazily so that schedulers with optional dependencies cost nothing until used.

Adding a scheduler = adding a module here and a line to :data:`SCHEDULERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

__all__ = ["SCHEDULERS", "SchedulerContext", "SchedulerOptions", "SchedulerPlugin", "get_scheduler"]

#: Scheduler name -> module that defines its ``PLUGIN``.
SCHEDULERS: dict[str, str] = {
    "fifo": "tunefleet.schedulers.fifo",
    "asha": "tunefleet.schedulers.asha",
}


class SchedulerOptions(BaseModel):
    """Base of every scheduler's options: strict, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SchedulerContext:
    """What a scheduler needs to know about the experiment it schedules."""

    metric: str
    mode: str
    max_iterations: int
    #: The sampled hyperparameters, for schedulers that mutate them (PBT).
    space_keys: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SchedulerPlugin:
    """A scheduler as tunefleet knows it.

    Attributes:
        name: The YAML ``scheduler.type``.
        options: Pydantic model of the other keys of ``scheduler:``.
        build: Creates the Ray Tune scheduler from validated options.
        check: Cross-checks the options against the experiment; returns ``(key, message)``
            problems with keys relative to ``scheduler``.
    """

    name: str
    options: type[SchedulerOptions]
    build: Callable[[Any, SchedulerContext], TrialScheduler]
    check: Callable[[Any, SchedulerContext], list[tuple[str, str]]] = lambda _o, _c: []


def get_scheduler(name: str) -> SchedulerPlugin:
    """Look a scheduler up by its YAML name.

    Raises:
        KeyError: with the valid names, when ``name`` is not registered.
    """
    if name not in SCHEDULERS:
        raise KeyError(f"unknown scheduler {name!r}; expected one of: {', '.join(SCHEDULERS)}")
    plugin: SchedulerPlugin = importlib.import_module(SCHEDULERS[name]).PLUGIN
    return plugin
