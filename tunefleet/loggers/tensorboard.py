"""``tensorboard``: TensorBoard event files in each trial's directory (the default logger).

Ray's own ``TBXLoggerCallback``, the one Ray Tune adds by itself when a sweep names no TensorBoard
logger: ``tensorboard --logdir STORAGE/NAME`` shows every trial. Without ``tensorboard`` in
``loggers:`` the runner keeps Ray from adding it (:class:`tunefleet.ray_internals.NoTensorBoard`).
"""

from __future__ import annotations

from typing import Any

from tunefleet.loggers import LoggerContext, LoggerOptions, LoggerPlugin


class TensorBoardOptions(LoggerOptions):
    """``tensorboard`` takes no options."""


def build(options: TensorBoardOptions, context: LoggerContext) -> Any:
    from ray.tune.logger import TBXLoggerCallback

    return TBXLoggerCallback()


PLUGIN = LoggerPlugin(name="tensorboard", options=TensorBoardOptions, build=build)
