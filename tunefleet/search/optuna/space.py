"""The space as Optuna's define-by-run calls, and points as Optuna's fixed parameters.

=============  ==================================================================
YAML           Optuna (``trial.suggest_*``)
=============  ==================================================================
uniform        suggest_float(low, high)
loguniform     suggest_float(low, high, log=True)
quniform       suggest_int(low, high, step=q) when low, high and q are ints, else
               suggest_float(low, high, step=q)
qloguniform    suggest_int(low, high, log=True) when q is 1 and the bounds are ints, else
               suggest_float(low, high, log=True) rounded to a multiple of q (Optuna has no
               log scale with a step: the study records the unrounded value)
randint        suggest_int(low, high - 1) (high is exclusive in the YAML)
choice         suggest_categorical (options that are not None, bool, int, float or str, such as
               lists, are suggested by their index and handed to the trial as written)
conditional    suggest_categorical of the options, then the chosen branch's hyperparameters,
               named ``key|name=option`` in the study (two branches may both sample ``beta1``
               with different ranges, which one Optuna name cannot)
constant       the value (not in the study)
normal, grid   (not supported: Optuna samples within bounds and does not enumerate; validation
               refuses them)
=============  ==================================================================

The study is asked define-by-run, so a conditional's hyperparameters exist only in the trials
that choose their branch, and every trial still gets the flat config with every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunefleet.search.spaces import (
    Choice,
    Conditional,
    Constant,
    Grid,
    LogUniform,
    Normal,
    Param,
    QLogUniform,
    QUniform,
    RandInt,
    Space,
    Uniform,
)

__all__ = ["SuggestConfig", "fixed_params", "optuna_name"]

_CATEGORICAL_TYPES = (type(None), bool, int, float, str)


def _by_index(options: tuple[Any, ...]) -> bool:
    """Optuna's categorical values must be None, bool, int, float or str: others go by index."""
    return not all(isinstance(o, _CATEGORICAL_TYPES) for o in options)


def optuna_name(key: str, within: tuple[str, Any] | None = None) -> str:
    """The study's name of hyperparameter ``key`` (of the branch ``(conditional, option)``)."""
    return key if within is None else f"{key}|{within[0]}={within[1]}"


def _suggest(trial: Any, param: Param, name: str) -> Any:
    match param:
        case Constant():
            return param.value
        case Uniform():
            return trial.suggest_float(name, param.low, param.high)
        case LogUniform():
            return trial.suggest_float(name, param.low, param.high, log=True)
        case QUniform():
            if param.integer:
                return trial.suggest_int(name, param.low, param.high, step=param.q)
            return trial.suggest_float(name, param.low, param.high, step=param.q)
        case QLogUniform():
            if param.integer and param.q == 1:
                return trial.suggest_int(name, param.low, param.high, log=True)
            return param.clip(trial.suggest_float(name, param.low, param.high, log=True))
        case RandInt():
            return trial.suggest_int(name, param.low, param.high - 1)
        case Grid() | Normal():
            # Guarded by validation; reaching this is a bug.
            raise TypeError(f"{name}: {param.kind} values cannot be translated to Optuna")
        case Choice():
            if _by_index(param.options):
                return param.options[trial.suggest_categorical(name, list(range(len(param.options))))]
            return trial.suggest_categorical(name, list(param.options))
    raise TypeError(f"no Optuna distribution for {type(param).__name__}")  # a new Param class: add it here


class SuggestConfig:
    """The define-by-run function of a space: ``SuggestConfig(space)(trial)`` is a trial's flat config.

    A class rather than a closure: the searcher, this included, is pickled with the sweep.
    """

    def __init__(self, space: Space) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for name, param in self.space.items():
            if not isinstance(param, Conditional):
                config[name] = _suggest(trial, param, name)
                continue
            options = list(param.options)
            option = (
                options[trial.suggest_categorical(name, list(range(len(options))))]
                if _by_index(param.options)
                else trial.suggest_categorical(name, options)
            )
            config[name] = option
            config.update(dict.fromkeys(param.dependents))
            for key, sub in param.branch(option).items():
                config[key] = _suggest(trial, sub, optuna_name(key, (name, option)))
        return config


def _fixed(param: Param, value: Any) -> Any:
    if isinstance(param, Choice | Conditional) and _by_index(param.options):
        return next(i for i, o in enumerate(param.options) if o == value)
    return value


def fixed_params(point: Mapping[str, Any], space: Space) -> dict[str, Any]:
    """A ``points_to_evaluate`` entry (flat, validated) as the study's fixed parameters.

    Constants and the hyperparameters of branches not taken are left out: the study has no such
    parameter in that trial.
    """
    fixed: dict[str, Any] = {}
    for name, param in space.items():
        if name not in point or isinstance(param, Constant):
            continue
        fixed[name] = _fixed(param, point[name])
        if isinstance(param, Conditional):
            for key, sub in param.branch(point[name]).items():
                if point.get(key) is not None and not isinstance(sub, Constant):
                    fixed[optuna_name(key, (name, point[name]))] = _fixed(sub, point[key])
    return fixed
