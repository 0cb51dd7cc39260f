"""Trial schedulers, by name: the ``scheduler:`` section of an experiment file.

Each scheduler is one small module in this package exposing ``PLUGIN``, a
:class:`SchedulerPlugin` with a pydantic ``options`` model (unknown or mistyped options are
errors, unlike Ray, which drops unknown keyword arguments silently) and a ``build`` function.
Modules are imported lazily so that schedulers with optional dependencies cost nothing until used.

Adding a scheduler = adding a module here and a line to :data:`SCHEDULERS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tunefleet.errors import shown
from tunefleet.objectives import Objective

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

__all__ = [
    "SCHEDULERS",
    "SchedulerContext",
    "SchedulerOptions",
    "SchedulerPlugin",
    "at_most_max_iterations",
    "get_scheduler",
    "parse_scheduler_section",
]

#: Scheduler name -> module that defines its ``PLUGIN``.
SCHEDULERS: dict[str, str] = {
    "fifo": "tunefleet.schedulers.fifo",
    "asha": "tunefleet.schedulers.asha",
    "moasha": "tunefleet.schedulers.moasha",
    "hyperband": "tunefleet.schedulers.hyperband",
    "median_stopping": "tunefleet.schedulers.median_stopping",
    "pbt": "tunefleet.schedulers.pbt",
    "pb2": "tunefleet.schedulers.pb2",
    "bohb": "tunefleet.schedulers.bohb",
}


class SchedulerOptions(BaseModel):
    """Base of every scheduler's options: strict, no unknown keys, no infinities or NaN.

    Numeric options are ``StrictInt``/``StrictFloat``: pydantic would read ``true`` as 1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class SchedulerContext:
    """What a scheduler needs to know about the experiment it schedules."""

    metric: str
    mode: str
    max_iterations: int
    #: The sampled hyperparameters, for schedulers that mutate them (PBT).
    space_keys: tuple[str, ...] = field(default_factory=tuple)
    #: ``search.algorithm``, for schedulers that need (or exclude) a particular searcher.
    search_algorithm: str = "random"
    #: ``checkpoint.frequency`` and ``checkpoint.keep`` as the user wrote them.
    checkpoint_frequency: int = 0
    checkpoint_keep: int | None = None
    #: Every objective of a multi-objective sweep (``metric: [a, b]``); empty for one metric, which
    #: ``metric``/``mode`` then name. Only plugins with ``multi_objective`` are given several.
    objectives: tuple[Objective, ...] = ()


@dataclass(frozen=True)
class SchedulerPlugin:
    """A scheduler as tunefleet knows it.

    Attributes:
        name: The YAML ``scheduler.type``.
        options: Pydantic model of the other keys of ``scheduler:``.
        build: Creates the Ray Tune scheduler from validated options.
        check: Cross-checks the options against the experiment; returns ``(key, message)``
            problems with keys relative to ``scheduler``.
        checkpoint_frequency: The checkpoint frequency (training iterations) the scheduler
            needs, which the runner uses instead of ``checkpoint.frequency``; None: no opinion.
        requires: Modules the scheduler imports that are optional dependencies of tunefleet,
            as ``(module, pip extra)``; validation reports the missing ones.
        rungs: The training iterations at which the scheduler judges trials (successive
            halving), from validated options and ``max_iterations``, ascending; None for a
            scheduler without rungs. Analysis draws how many trials reached each one, so this
            must be the formula of the Ray scheduler that ``build`` creates.
        multi_objective: The scheduler judges trials on several metrics at once
            (``SchedulerContext.objectives``); the others take one metric, and a metric list
            with them is a validation error.
    """

    name: str
    options: type[SchedulerOptions]
    build: Callable[[Any, SchedulerContext], TrialScheduler]
    check: Callable[[Any, SchedulerContext], list[tuple[str, str]]] = lambda _o, _c: []
    checkpoint_frequency: Callable[[Any], int | None] = lambda _o: None
    requires: tuple[tuple[str, str], ...] = ()
    rungs: Callable[[Any, int], list[int] | None] = lambda _o, _m: None
    multi_objective: bool = False

    def missing_dependencies(self) -> list[str]:
        """The ``requires`` modules that cannot be imported here, as install hints."""
        return [
            f"{module} (pip install 'tunefleet[{extra}]')"
            for module, extra in self.requires
            if importlib.util.find_spec(module) is None
        ]


def at_most_max_iterations(key: str, value: float, context: SchedulerContext) -> list[tuple[str, str]]:
    """A problem when an option counted in training iterations exceeds the budget."""
    if value > context.max_iterations:
        return [(key, f"expected at most max_iterations ({context.max_iterations}), got {value}")]
    return []


def parse_scheduler_section(section: Mapping[str, Any]) -> tuple[SchedulerPlugin, SchedulerOptions]:
    """The plugin and validated options of a ``scheduler:`` section (``{type: NAME, **options}``).

    Raises:
        KeyError: the ``type`` is not a registered scheduler (the message lists the valid ones).
        pydantic.ValidationError: the options do not validate against the plugin's model.
    """
    options = dict(section)
    plugin = get_scheduler(str(options.pop("type")))
    return plugin, plugin.options.model_validate(options)


def get_scheduler(name: str) -> SchedulerPlugin:
    """Look a scheduler up by its YAML name.

    Raises:
        KeyError: with the valid names, when ``name`` is not registered.
    """
    if name not in SCHEDULERS:
        raise KeyError(f"unknown scheduler {shown(name)}; expected one of: {', '.join(SCHEDULERS)}")
    plugin: SchedulerPlugin = importlib.import_module(SCHEDULERS[name]).PLUGIN
    return plugin
