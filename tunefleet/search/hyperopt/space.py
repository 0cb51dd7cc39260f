"""The space as Hyperopt expressions, and Hyperopt's nested suggestions back as flat configs.

=============  ==================================================================
YAML           Hyperopt
=============  ==================================================================
uniform        hp.uniform
loguniform     hp.loguniform (bounds given in natural units in the YAML)
quniform       hp.quniform (scope.int when low, high and q are ints)
qloguniform    hp.qloguniform (scope.int when low, high and q are ints)
randint        hp.uniformint (high is exclusive in the YAML)
normal         hp.normal
choice         hp.choice
grid           (not supported: TPE samples, it does not enumerate; validation refuses it)
conditional    hp.choice of sub-spaces
constant       the value
=============  ==================================================================

The translation equals what Ray's ``HyperOptSearch.convert_search_space`` makes of the Ray
domains (``tests/search/test_spaces.py``), but goes straight from the YAML, so that list options
and conditionals survive.
"""

from __future__ import annotations

import math
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

__all__ = ["flatten_conditionals", "hyperopt_expression", "hyperopt_vals", "to_hyperopt"]


def hyperopt_expression(param: Param, label: str) -> Any:
    """The Hyperopt expression (or plain value) of one parameter, labelled ``label``."""
    from hyperopt import hp
    from hyperopt.pyll import Literal, scope

    match param:
        case Constant():
            return param.value
        case Uniform():
            return hp.uniform(label, param.low, param.high)
        case LogUniform():
            return hp.loguniform(label, math.log(param.low), math.log(param.high))
        case QUniform():
            expr = hp.quniform(label, param.low, param.high, param.q)
            return scope.int(expr) if param.integer else expr
        case QLogUniform():
            expr = hp.qloguniform(label, math.log(param.low), math.log(param.high), param.q)
            return scope.int(expr) if param.integer else expr
        case RandInt():
            # Ordinal, not categorical, so TPE models neighbourhoods (as Ray's own conversion does).
            return hp.uniformint(label, param.low, param.high - 1)
        case Normal():
            return hp.normal(label, param.mean, param.std)
        case Grid():
            # Guarded by validation; reaching this is a bug.
            raise TypeError(f"{label}: grid values cannot be translated to Hyperopt")
        case Choice():
            # Hyperopt reads a list option as an expression and hands back a tuple, and Ray's
            # points_to_evaluate lookup cannot find it: wrapped as a literal, the value is kept as is.
            return hp.choice(
                label, [Literal(o) if isinstance(o, list | tuple | dict) else o for o in param.options]
            )
        case Conditional():
            # Labels must be unique across branches (adam and adamw may both sample beta1).
            return hp.choice(
                label,
                [
                    {
                        label: option,
                        **{key: hyperopt_expression(p, f"{key}|{label}={option}") for key, p in sub},
                    }
                    for option, sub in param.branches
                ],
            )
    raise TypeError(f"no Hyperopt expression for {type(param).__name__}")  # a new Param class: add it here


def to_hyperopt(space: Space) -> dict[str, Any]:
    """Hyperopt search space (a dict of ``hp.*`` expressions and constants)."""
    return {name: hyperopt_expression(param, name) for name, param in space.items()}


def flatten_conditionals(config: dict[str, Any], space: Space) -> dict[str, Any]:
    """Turn Hyperopt's nested branch of each conditional into the flat config trials get.

    ``{optimizer: {optimizer: momentum, momentum: 0.9}}`` becomes ``{optimizer: momentum,
    momentum: 0.9, beta1: None}``: every dependent key is present, None where not sampled.
    """
    flat = dict(config)
    for name, param in space.items():
        if isinstance(param, Conditional) and isinstance(flat.get(name), Mapping):
            branch = dict(flat[name])
            flat[name] = branch.pop(name)
            flat.update({key: branch.get(key) for key in param.dependents})
    return flat


def hyperopt_vals(config: Mapping[str, Any], space: Space) -> dict[str, list[Any]]:
    """A flat config as Hyperopt records a trial's draws (``misc.vals``): label -> [value].

    The inverse of a suggestion: a choice is recorded as the index of its option, a conditional
    as the index of its branch plus the draws of that branch's hyperparameters (under the labels
    :func:`hyperopt_expression` gives them); a branch not taken has no draws ([]), and constants
    are not drawn at all. ``config`` must hold a value of the space for every sampled key.
    """
    vals: dict[str, list[Any]] = {}

    def record(param: Param, label: str, value: Any) -> None:
        if isinstance(param, Conditional):
            options = list(param.options)
            vals[label] = [options.index(value)]
            for option, sub in param.branches:
                for key, p in sub:
                    if p.sampled:
                        vals[f"{key}|{label}={option}"] = []
            for key, p in param.branch(value).items():
                if p.sampled:
                    record(p, f"{key}|{label}={value}", config[key])
        elif isinstance(param, Choice):
            vals[label] = [next(i for i, o in enumerate(param.options) if o == value)]
        elif param.sampled:
            vals[label] = [value]

    for name, param in space.items():
        if param.sampled:
            record(param, name, config[name])
    return vals
