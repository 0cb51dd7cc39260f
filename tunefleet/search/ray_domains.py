"""The space as Ray Tune domains: the ``param_space`` of grid, random and bohb, and PBT's mutations.

=============  =========================================================
YAML           Ray Tune
=============  =========================================================
uniform        tune.uniform
loguniform     tune.loguniform
quniform       tune.quniform (tune.qrandint when low, high and q are ints)
qloguniform    tune.qloguniform (tune.qlograndint when all three are ints)
randint        tune.randint (high exclusive)
normal         tune.randn
choice         tune.choice (tune.grid_search when enumerated by ``grid``)
grid           tune.grid_search
conditional    tune.choice, plus a :class:`ConditionalDomain` per dependent
constant       the value
=============  =========================================================
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.search.sample import Domain

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

__all__ = ["ConditionalDomain", "ray_domain", "to_ray"]


class ConditionalDomain(Domain):
    """A hyperparameter that exists only for some values of another one (its parent).

    Ray resolves domains in passes; reading the parent while it is still unresolved raises
    Ray's ``RecursiveDependencyError``, which makes Ray sample this domain in a later pass,
    after the parent. The same ``random_state`` is used, so seeded sweeps repeat.

    Args:
        parent: Name of the conditional hyperparameter (e.g. ``optimizer``).
        branches: Parent value -> Ray domain (or constant) of this hyperparameter in that branch.
    """

    def __init__(self, parent: str, branches: dict[Any, Any]) -> None:
        self.parent = parent
        self.branches = branches

    def sample(
        self, config: Any = None, size: int = 1, random_state: Any = None
    ) -> Any:  # signature of ray.tune.search.sample.Domain.sample
        chosen = getattr(config.config, self.parent)  # the access guard defers us if unresolved
        inner = self.branches.get(chosen)
        if isinstance(inner, Domain):
            return inner.sample(config, size=size, random_state=random_state)
        return inner  # a constant of that branch, or None when the branch does not have us

    def is_valid(self, value: Any) -> bool:
        return True

    @property
    def domain_str(self) -> str:
        return f"(conditional on {self.parent})"


def ray_domain(param: Param) -> Any:
    """The Ray Tune domain (or plain value) of one parameter.

    A ``conditional`` gives only its choice; :func:`to_ray` adds the domains of its dependents.
    """
    match param:
        case Constant():
            return param.value
        case Uniform():
            return tune.uniform(param.low, param.high)
        case LogUniform():
            return tune.loguniform(param.low, param.high)
        case QUniform() if param.integer:
            return tune.qrandint(int(param.low), int(param.high), int(param.q))
        case QUniform():
            return tune.quniform(param.low, param.high, param.q)
        case QLogUniform() if param.integer:
            return tune.qlograndint(int(param.low), int(param.high), int(param.q))
        case QLogUniform():
            return tune.qloguniform(param.low, param.high, param.q)
        case RandInt():
            return tune.randint(param.low, param.high)
        case Normal():
            return tune.randn(param.mean, param.std)
        case Grid():
            return tune.grid_search(list(param.options))
        case Choice() | Conditional():
            return tune.choice(list(param.options))
    raise TypeError(f"no Ray Tune domain for {type(param).__name__}")  # a new Param class: add it here


def _dependent_domains(name: str, param: Conditional) -> dict[str, ConditionalDomain]:
    """Ray domains of the dependents: each samples the branch its parent ``name`` chose."""
    return {
        key: ConditionalDomain(
            name, {opt: ray_domain(dict(sub)[key]) for opt, sub in param.branches if key in dict(sub)}
        )
        for key in param.dependents
    }


def to_ray(space: Space, grid_choices: bool = False) -> dict[str, Any]:
    """Ray Tune ``param_space`` for the space.

    Args:
        space: The parsed space.
        grid_choices: Enumerate ``choice`` parameters as a grid (for ``algorithm: grid``).
    """
    out: dict[str, Any] = {}
    for name, param in space.items():
        if grid_choices and type(param) is Choice:
            param = Grid(param.options)
        out[name] = ray_domain(param)
        if isinstance(param, Conditional):
            out.update(_dependent_domains(name, param))
    return out
