"""Which config keys were tuned, and on which scale (log, linear, categorical).

The scale comes from the experiment's search space in ``tunefleet.yaml`` when there is one
(``loguniform``/``qloguniform`` are log, ``choice``/``grid``/``conditional`` categorical, the
rest linear); otherwise it is inferred from the values: numbers spanning two decades or more,
all positive, are log; other numbers linear; anything else categorical.

Example:
    >>> hyperparameters(load_results("runs/quickstart"))  # doctest: +SKIP
               name           column        scale       source
    0            lr        config/lr          log  tunefleet.yaml
    1     optimizer  config/optimizer  categorical  tunefleet.yaml
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from tunefleet.analysis.interface import CONFIG_PREFIX
from tunefleet.errors import TunefleetError

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = ["Scale", "categories", "encode", "hyperparameters"]

Scale = Literal["log", "linear", "categorical"]

_LOG_SPAN = 100.0  # max/min ratio from which positive numbers are shown on a log axis


def hyperparameters(results: Results) -> pd.DataFrame:
    """The config keys that vary between trials, with their scale.

    Returns:
        Columns ``name`` (the config key, nested keys joined with ``/``), ``column`` (its
        column in :meth:`ExperimentResults.trials`), ``scale`` (``log``, ``linear`` or
        ``categorical``) and ``source`` (``tunefleet.yaml`` or ``inferred``).
    """
    trials = results.trials()
    declared = _declared_scales(results.settings.get("space"))
    rows = []
    for column in trials.columns:
        if not column.startswith(CONFIG_PREFIX):
            continue
        values = trials[column].dropna()
        if values.map(repr).nunique() < 2:
            continue  # a constant says nothing about the metric
        name = column[len(CONFIG_PREFIX) :]
        scale = declared.get(name)
        rows.append(
            {
                "name": name,
                "column": column,
                "scale": scale or _inferred_scale(values),
                "source": "tunefleet.yaml" if scale else "inferred",
            }
        )
    return pd.DataFrame.from_records(rows, columns=["name", "column", "scale", "source"])


def categories(values: pd.Series) -> list[Any]:
    """The distinct values of a categorical hyperparameter in display order: numbers by
    value (32 < 64 < 128), anything else by its text."""
    distinct = list({repr(v): v for v in values if not _missing(v)}.values())
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in distinct):
        return sorted(distinct)
    return sorted(distinct, key=str)


def encode(values: pd.Series, scale: str) -> pd.Series:
    """Values as numbers a model can split on: log10 for log, the position in
    :func:`categories` for categorical.

    Missing values (a conditional branch not taken) become NaN.
    """
    if scale == "categorical":
        position = {repr(v): float(i) for i, v in enumerate(categories(values))}
        return values.map(lambda v: np.nan if _missing(v) else position[repr(v)]).astype(float)
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    if scale == "log":
        return np.log10(numeric.where(numeric > 0))
    return numeric


def _declared_scales(space: Any) -> dict[str, Scale]:
    if not isinstance(space, dict) or not space:
        return {}
    from tunefleet.search.spaces import Choice, Conditional, LogUniform, QLogUniform, parse_space, walk

    try:
        parsed = parse_space(space, "tunefleet.yaml")
    except TunefleetError:
        return {}  # a file from another tunefleet version: infer instead
    scales: dict[str, Scale] = {}
    for _, key, param in walk(parsed):
        if not param.sampled:
            continue
        if isinstance(param, (LogUniform, QLogUniform)):
            scales[key] = "log"
        elif isinstance(param, (Choice, Conditional)):
            scales[key] = "categorical"
        else:
            scales[key] = "linear"
    return scales


def _inferred_scale(values: pd.Series) -> Scale:
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return "categorical"
    numeric = values.astype(float)
    low, high = numeric.min(), numeric.max()
    if low > 0 and high / low >= _LOG_SPAN:
        return "log"
    return "linear"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
