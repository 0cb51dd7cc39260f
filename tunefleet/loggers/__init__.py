"""Result loggers, by name: the ``loggers:`` list of an experiment file.

``result.json`` and ``progress.csv`` are always written (analysis reads them); ``loggers:`` adds
TensorBoard (the default) and experiment trackers (MLflow, Weights & Biases, Aim). Each logger is
one small module here exposing ``PLUGIN``, a :class:`LoggerPlugin` with a strict pydantic options
model, the optional packages it needs (``requires``, turned into the pip command) and a ``build``
that creates the Ray Tune callback. The callbacks (Ray's own, with what had to be fixed) live in
``*_callback`` modules that import Ray and the tracker's library: only ``build`` imports them, so
that validating an experiment file costs neither.

Adding a logger = adding a module here, a line to :data:`LOGGERS`, and a case to
``tests/loggers/test_logger_contract.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tunefleet.errors import did_you_mean, missing_extras, shown

__all__ = [
    "DEFAULT_LOGGERS",
    "LOGGERS",
    "LoggerContext",
    "LoggerOptions",
    "LoggerPlugin",
    "get_logger",
    "parse_logger_entry",
]

#: Logger name -> module that defines its ``PLUGIN``.
LOGGERS: dict[str, str] = {
    "tensorboard": "tunefleet.loggers.tensorboard",
    "mlflow": "tunefleet.loggers.mlflow",
    "wandb": "tunefleet.loggers.wandb",
    "aim": "tunefleet.loggers.aim",
}

#: ``loggers:`` when the file has none: TensorBoard event files in each trial's directory.
DEFAULT_LOGGERS: tuple[str, ...] = ("tensorboard",)


class LoggerOptions(BaseModel):
    """Base of every logger's options: strict, no unknown keys, no infinities or NaN."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class LoggerContext:
    """What a logger needs to know about the sweep it logs.

    Attributes:
        experiment: The experiment's name (``name:`` or the file's name): what trackers group
            the runs of every sweep of this experiment under.
        run: The experiment directory's name (``name`` or ``name-YYYYMMDD-HHMMSS``): this sweep.
        storage: Where experiment directories go: an absolute local path or a URI (``s3://``).
    """

    experiment: str
    run: str
    storage: str

    @property
    def local_storage(self) -> Path | None:
        """The storage as a local directory, None for a URI."""
        return None if "://" in self.storage else Path(self.storage)


@dataclass(frozen=True)
class LoggerPlugin:
    """A logger as tunefleet knows it.

    Attributes:
        name: The name in ``loggers:`` (or its ``type:``).
        options: Pydantic model of the other keys of a ``{type: NAME, ...}`` entry.
        build: Creates the Ray Tune callback from validated options (imports Ray and the library).
        check: Cross-checks the options against the storage (a URI or a local path) as the file
            gives it; returns ``(key, message)`` problems with keys relative to the entry. The
            same rule raises from ``build``, for a storage given on the command line.
        requires: Modules the logger imports that are optional dependencies of tunefleet, as
            ``(module, pip extra)``; validation reports the missing ones.
    """

    name: str
    options: type[LoggerOptions]
    build: Callable[[Any, LoggerContext], Any]
    check: Callable[[Any, str], list[tuple[str, str]]] = lambda _o, _s: []
    requires: tuple[tuple[str, str], ...] = ()

    def missing_dependencies(self) -> list[str]:
        """The ``requires`` modules that cannot be imported here, as install hints."""
        return missing_extras(self.requires)


def get_logger(name: str) -> LoggerPlugin:
    """Look a logger up by its YAML name.

    Raises:
        KeyError: with the valid names (and the nearest), when ``name`` is not registered.
    """
    if name not in LOGGERS:
        raise KeyError(
            f"unknown logger {shown(name)}{did_you_mean(name, list(LOGGERS))}; "
            f"expected one of: {', '.join(LOGGERS)}"
        )
    plugin: LoggerPlugin = importlib.import_module(LOGGERS[name]).PLUGIN
    return plugin


def parse_logger_entry(entry: Any) -> tuple[LoggerPlugin, LoggerOptions]:
    """The plugin and validated options of one ``loggers:`` entry: ``NAME`` or ``{type: NAME, ...}``.

    Raises:
        TypeError: the entry is neither a name nor a mapping with a ``type`` name.
        KeyError: the name is not a registered logger (the message lists the valid ones).
        pydantic.ValidationError: the options do not validate against the plugin's model.
    """
    if isinstance(entry, str):
        plugin = get_logger(entry)
        return plugin, plugin.options()
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        raise TypeError(
            "expected a logger name (e.g. mlflow) or a mapping with a 'type' key "
            f"(e.g. {{type: mlflow, tracking_uri: ...}}), got {shown(entry)}"
        )
    options = dict(entry)
    plugin = get_logger(options.pop("type"))
    return plugin, plugin.options.model_validate(options)
