"""What analysis functions need from a loaded experiment: the :class:`Results` protocol.

:class:`~tunefleet.analysis.results.ExperimentResults` is the one implementation. Functions
such as :func:`~tunefleet.analysis.importance.importance` or
:func:`~tunefleet.analysis.curves.rung_counts` are typed with this protocol instead of
importing the facade, so the facade can offer them as shortcuts (``results.importance()``)
without an import circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd

from tunefleet.objectives import Objective

__all__ = ["CONFIG_PREFIX", "Mode", "Results", "Scope"]

#: Which result ranks a trial: its last one, or its best over all iterations.
Scope = Literal["last", "all"]
Mode = Literal["min", "max"]
#: The prefix of the config columns of ``Results.trials()``: ``config/optim/lr``.
CONFIG_PREFIX = "config/"


class Results(Protocol):
    """A loaded experiment, ranked by ``metric`` (the first of its ``objectives``; with several,
    by Pareto front first); see :class:`~tunefleet.analysis.results.ExperimentResults` for what
    each member returns."""

    path: Path
    name: str
    objectives: tuple[Objective, ...]
    metric: str
    mode: Mode
    scope: Scope
    settings: dict[str, Any]

    def trials(self) -> pd.DataFrame: ...

    def history(self, bookkeeping: bool = False) -> pd.DataFrame: ...

    def errors(self) -> pd.DataFrame: ...

    def summary(self, top: int = 5) -> dict[str, Any]: ...

    def configs(self) -> dict[str, dict[str, Any]]: ...

    def trial_info(self) -> pd.DataFrame: ...

    def selection(self) -> dict[str, Any] | None: ...
