"""An earlier sweep's trials against a (maybe changed) space: which can warm a searcher, which cannot.

``tunefleet extend`` may change the space. An old trial is fed to the new searcher only if its
configuration is a point of the new space: every sampled hyperparameter has a value the new
distribution can take (each :class:`~tunefleet.search.spaces.Param` says so, from its own
support), and every hyperparameter the new space fixes or dropped had the value the trial would
now get. The others stay history (``analyze`` and ``compare`` show them) and are reported, with
the reason, e.g. ``lr 0.5 > 0.1``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunefleet.console import plural
from tunefleet.errors import shown
from tunefleet.search import EvaluatedPoint
from tunefleet.search.spaces import Conditional, Constant, Param, Space

__all__ = ["HistoryFit", "OldTrial", "fit_history", "outside_reason"]

#: Marks "the trainable's default is not known" (None is a valid default).
_UNKNOWN = object()


@dataclass(frozen=True)
class OldTrial:
    """A finished trial of the earlier sweep.

    Attributes:
        trial_id: Its Ray trial id.
        config: Its flat config as it ran (Ray's ``__dunder__`` keys left out).
        value: The last value of the metric it reported (NaN: diverged).
    """

    trial_id: str
    config: dict[str, Any]
    value: float


@dataclass(frozen=True)
class HistoryFit:
    """The old trials split by :func:`fit_history`.

    Attributes:
        points: The trials that are points of the new space, as the searcher takes them.
        point_ids: Their trial ids, in the same order.
        outside: ``(trial_id, reason)`` of every trial that is not.
    """

    points: list[EvaluatedPoint] = field(default_factory=list)
    point_ids: list[str] = field(default_factory=list)
    outside: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str | None:
        """The warning for the trials outside the space (None when every trial fits), e.g.
        ``2 of 5 old trials are outside the new space and are not fed to the searcher: lr 0.5 >
        0.1 (2 trials)``."""
        if not self.outside:
            return None
        total = len(self.outside) + len(self.points)
        counts = Counter(reason for _, reason in self.outside)
        reasons = [f"{reason} ({plural(n, 'trial')})" for reason, n in counts.most_common(5)]
        more = f"; and {len(counts) - 5} more reasons" if len(counts) > 5 else ""
        return (
            f"{len(self.outside)} of {plural(total, 'old trial')} are outside the new space and are "
            f"not fed to the searcher (they stay in the history): {'; '.join(reasons)}{more}"
        )


def outside_reason(name: str, param: Param, value: Any) -> str | None:
    """Why ``value`` is not a value of ``param`` (None when it is), e.g. ``lr 0.5 > 0.1``."""
    if param.contains(value):
        return None
    if isinstance(param, Constant):
        return f"{name} {shown(value)} != {shown(param.value)} (now fixed)"
    support = param.support()
    if support is not None and isinstance(value, int | float) and not isinstance(value, bool):
        if value > support.high:
            return f"{name} {value} > {support.high}"
        if value < support.low:
            return f"{name} {value} < {support.low}"
        return f"{name} {value} is not a value of {param.kind} {shown(param.to_yaml()[param.kind])}"
    options = getattr(param, "options", None)  # choice, grid, conditional
    offered = shown(list(options)) if options is not None else shown(param.to_yaml())
    return f"{name} {shown(value)} is no longer offered ({param.kind} {offered})"


def _value(key: str, param: Param, config: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    """The trial's value of ``key`` if ``param`` contains it, else why not (an :class:`_Outside`)."""
    value = config.get(key, defaults.get(key, _UNKNOWN))
    if value is _UNKNOWN:
        return _Outside(f"{key} was not in the old space and has no default")
    reason = outside_reason(key, param, value)
    return value if reason is None else _Outside(reason)


@dataclass(frozen=True)
class _Outside:
    reason: str


def _point(trial: OldTrial, space: Space, defaults: Mapping[str, Any]) -> dict[str, Any] | str:
    """The trial as a point of ``space`` (its sampled keys), or the first reason it is not one."""
    config = trial.config
    point: dict[str, Any] = {}
    for name, param in space.items():
        value = _value(name, param, config, defaults)
        if isinstance(value, _Outside):
            return value.reason
        if not param.sampled:
            continue
        point[name] = value
        if isinstance(param, Conditional):
            point.update(dict.fromkeys(param.dependents))
            for key, sub in param.branch(value).items():
                sub_value = _value(key, sub, config, defaults)
                if isinstance(sub_value, _Outside):
                    return sub_value.reason
                if sub.sampled:
                    point[key] = sub_value
    in_space = {key for name, p in space.items() for key in (name, *_dependents(p))}
    for key, value in config.items():
        if key in in_space or key not in defaults:
            continue
        if value != defaults[key]:
            return f"{key} {shown(value)} was removed from the space (now the default {shown(defaults[key])})"
    return point


def _dependents(param: Param) -> tuple[str, ...]:
    return param.dependents if isinstance(param, Conditional) else ()


def fit_history(
    trials: Iterable[OldTrial], space: Space, defaults: Mapping[str, Any] | None = None
) -> HistoryFit:
    """Split old trials into points of ``space`` and trials outside it.

    Args:
        trials: The old sweep's finished trials.
        space: The new space (with the experiment's injected constants, if the trainable gets
            them from the space).
        defaults: The trainable's hyperparameter defaults: the value an old trial had for a
            hyperparameter added to the space, and the value a trial must have had for one
            removed from it. A hyperparameter added without a known default puts every old
            trial outside; one removed without a known default is not checked (the trainable
            ignores keys it does not know).

    Returns:
        The points (in the order of ``trials``) and the trials outside, each with its reason.
    """
    fit = HistoryFit()
    for trial in trials:
        point = _point(trial, space, defaults or {})
        if isinstance(point, str):
            fit.outside.append((trial.trial_id, point))
        else:
            fit.points.append(EvaluatedPoint(point, trial.value))
            fit.point_ids.append(trial.trial_id)
    return fit
