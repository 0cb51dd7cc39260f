"""The YAML search space, and its translation to Ray Tune domains and to Hyperopt ``hp.*``.

One syntax, two back ends. Each entry of ``space:`` is either a constant or a mapping with a
single key naming a distribution:

=============  ======================  ===================================================
YAML           Ray Tune                Hyperopt
=============  ======================  ===================================================
uniform        tune.uniform            hp.uniform
loguniform     tune.loguniform         hp.loguniform (bounds given in natural units here)
quniform       tune.quniform/qrandint  hp.quniform (int when low, high and q are ints)
qloguniform    tune.qloguniform/...    hp.qloguniform (int when low, high and q are ints)
randint        tune.randint            hp.uniformint (high is exclusive in the YAML)
normal         tune.randn              hp.normal
choice         tune.choice             hp.choice
grid           tune.grid_search        (not supported: TPE samples, it does not enumerate)
conditional    tune.choice + domains   hp.choice of sub-spaces
               that read the choice
constant       the value               the value
=============  ======================  ===================================================

A ``conditional`` is a choice whose options bring hyperparameters of their own, sampled only
when that option is chosen::

    optimizer:
      conditional:
        sgd: {}
        momentum: {momentum: {uniform: [0.8, 0.99]}, nesterov: {choice: [true, false]}}
        adam: {beta1: {uniform: [0.85, 0.95]}}

Every back end hands the trial a flat config with every key: ``{optimizer: momentum,
momentum: 0.93, nesterov: true, beta1: None}``; a hyperparameter of a branch not taken is None
(a TorchTrainable reads None as "use the default").

Example:
    >>> space = parse_space({"lr": {"loguniform": [1e-4, 1e-1]}, "epochs": 3}, "exp.yaml")
    >>> sorted(space)
    ['epochs', 'lr']
    >>> space["lr"].contains(1e-2), space["lr"].contains(1.0)
    (True, False)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunefleet.errors import ConfigError, Problem, shown

__all__ = [
    "DISTRIBUTIONS",
    "Choice",
    "Conditional",
    "Constant",
    "Grid",
    "LogUniform",
    "Normal",
    "Param",
    "QLogUniform",
    "QUniform",
    "RandInt",
    "Space",
    "Support",
    "Uniform",
    "flatten_conditionals",
    "parse_space",
    "to_hyperopt",
    "to_ray",
    "walk",
]


def _is_number(value: Any) -> bool:
    # numbers.Real covers numpy scalars, which is what samplers hand back.
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float: no distribution can use it
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _among(value: Any, options: Sequence[Any]) -> bool:
    """``value in options``, except that true is not 1 and false is not 0 (Python says they are)."""
    return any(value == o and isinstance(value, bool) == isinstance(o, bool) for o in options)


@dataclass(frozen=True)
class Support:
    """The numbers a distribution draws: their type, step and range.

    Attributes:
        integral: Every value is a whole number (ints, or floats such as 3.0).
        low: The smallest value (``-inf``: unbounded below).
        high: The largest value (``inf``: unbounded above).
        step: Values are multiples of it (None: any number of the range).
        log: Drawn uniformly on a log scale.
    """

    integral: bool
    low: float
    high: float
    step: float | None = None
    log: bool = False

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


class Param:
    """A value of the space: a constant or a distribution."""

    #: The YAML name of the distribution.
    kind: str = ""
    #: True when the searcher chooses the value (everything but constants).
    sampled: bool = True
    #: True for distributions uniform on a log scale.
    log_scale: bool = False

    def to_ray(self) -> Any:
        """The equivalent Ray Tune domain (or plain value)."""
        raise NotImplementedError

    def to_hyperopt(self, label: str) -> Any:
        """The equivalent Hyperopt expression (or plain value)."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this parameter can take."""
        raise NotImplementedError

    def examples(self) -> list[Any]:
        """Values at the edges of the support, used to check them against a trainable's hyperparameters."""
        raise NotImplementedError

    def support(self) -> Support | None:
        """The numbers a distribution draws; None for a parameter whose values are listed."""
        return None

    def to_yaml(self) -> Any:
        """The YAML form this parameter was written in."""
        raise NotImplementedError

    def clip(self, value: Any) -> Any:
        """The value of the support nearest to ``value`` (PBT perturbs values by factors)."""
        return value


@dataclass(frozen=True)
class Constant(Param):
    value: Any
    kind = "constant"
    sampled = False

    def to_ray(self) -> Any:
        return self.value

    def to_hyperopt(self, label: str) -> Any:
        return self.value

    def contains(self, value: Any) -> bool:
        return bool(value == self.value)

    def examples(self) -> list[Any]:
        return [self.value]

    def to_yaml(self) -> Any:
        return self.value


@dataclass(frozen=True)
class _Range(Param):
    low: float
    high: float

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high

    def examples(self) -> list[Any]:
        return [self.low, self.high]

    def support(self) -> Support:
        return Support(integral=False, low=self.low, high=self.high, log=self.log_scale)

    def to_yaml(self) -> Any:
        return {self.kind: [self.low, self.high]}

    def clip(self, value: Any) -> Any:
        return min(max(value, self.low), self.high)


class Uniform(_Range):
    kind = "uniform"

    def to_ray(self) -> Any:
        from ray import tune

        return tune.uniform(self.low, self.high)

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp

        return hp.uniform(label, self.low, self.high)


class LogUniform(_Range):
    kind = "loguniform"
    log_scale = True

    def to_ray(self) -> Any:
        from ray import tune

        return tune.loguniform(self.low, self.high)

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp

        return hp.loguniform(label, math.log(self.low), math.log(self.high))


@dataclass(frozen=True)
class _Quantized(Param):
    low: float
    high: float
    q: float

    @property
    def integer(self) -> bool:
        """Integer-valued when bounds and step are all integers (e.g. a batch size)."""
        return _is_int(self.low) and _is_int(self.high) and _is_int(self.q)

    def contains(self, value: Any) -> bool:
        # Rounding may land half a step beyond a bound that is not a multiple of q.
        slack = self.q / 2
        return _is_number(value) and self.low - slack <= value <= self.high + slack

    def examples(self) -> list[Any]:
        # What the back ends hand out at the ends: round(x / q) * q, e.g. 0.9000000000000001.
        return [self.clip(self.low), self.clip(self.high)]

    def support(self) -> Support:
        # The bounds are multiples of q (parse_space checks), so a whole q gives whole values.
        return Support(
            integral=float(self.q).is_integer(),
            low=self.low,
            high=self.high,
            step=self.q,
            log=self.log_scale,
        )

    def to_yaml(self) -> Any:
        return {self.kind: [self.low, self.high, self.q]}

    def clip(self, value: Any) -> Any:
        steps = round(min(max(value, self.low), self.high) / self.q)
        return int(steps * self.q) if self.integer else steps * self.q


class QUniform(_Quantized):
    kind = "quniform"

    def to_ray(self) -> Any:
        from ray import tune

        if self.integer:
            return tune.qrandint(int(self.low), int(self.high), int(self.q))
        return tune.quniform(self.low, self.high, self.q)

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp
        from hyperopt.pyll import scope

        expr = hp.quniform(label, self.low, self.high, self.q)
        return scope.int(expr) if self.integer else expr


class QLogUniform(_Quantized):
    kind = "qloguniform"
    log_scale = True

    def to_ray(self) -> Any:
        from ray import tune

        if self.integer:
            return tune.qlograndint(int(self.low), int(self.high), int(self.q))
        return tune.qloguniform(self.low, self.high, self.q)

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp
        from hyperopt.pyll import scope

        expr = hp.qloguniform(label, math.log(self.low), math.log(self.high), self.q)
        return scope.int(expr) if self.integer else expr


@dataclass(frozen=True)
class RandInt(Param):
    low: int
    high: int  # exclusive, as in Ray Tune, Hyperopt and numpy
    kind = "randint"

    def to_ray(self) -> Any:
        from ray import tune

        return tune.randint(self.low, self.high)

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp

        # Ordinal, not categorical, so TPE models neighbourhoods (as Ray's own conversion does).
        return hp.uniformint(label, self.low, self.high - 1)

    def contains(self, value: Any) -> bool:
        return _is_number(value) and float(value).is_integer() and self.low <= value < self.high

    def examples(self) -> list[Any]:
        return [self.low, self.high - 1]

    def support(self) -> Support:
        return Support(integral=True, low=self.low, high=self.high - 1, step=1)

    def clip(self, value: Any) -> Any:
        return int(min(max(round(value), self.low), self.high - 1))

    def to_yaml(self) -> Any:
        return {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class Normal(Param):
    mean: float
    std: float
    kind = "normal"

    def to_ray(self) -> Any:
        from ray import tune

        return tune.randn(self.mean, self.std)

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp

        return hp.normal(label, self.mean, self.std)

    def contains(self, value: Any) -> bool:
        return _is_number(value)

    def examples(self) -> list[Any]:
        return [self.mean]  # unbounded: only the centre is a value it surely takes

    def support(self) -> Support:
        return Support(integral=False, low=-math.inf, high=math.inf)

    def to_yaml(self) -> Any:
        return {self.kind: [self.mean, self.std]}


@dataclass(frozen=True)
class Choice(Param):
    options: tuple[Any, ...]
    kind = "choice"

    def to_ray(self) -> Any:
        from ray import tune

        return tune.choice(list(self.options))

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp
        from hyperopt.pyll import Literal

        # Hyperopt reads a list option as an expression and hands back a tuple, and Ray's
        # points_to_evaluate lookup cannot find it: wrapped as a literal, the value is kept as is.
        return hp.choice(
            label, [Literal(o) if isinstance(o, list | tuple | dict) else o for o in self.options]
        )

    def contains(self, value: Any) -> bool:
        return _among(value, self.options)

    def examples(self) -> list[Any]:
        return list(self.options)

    def to_yaml(self) -> Any:
        return {self.kind: list(self.options)}


class Grid(Choice):
    kind = "grid"

    def to_ray(self) -> Any:
        from ray import tune

        return tune.grid_search(list(self.options))

    def to_hyperopt(self, label: str) -> Any:
        # Guarded by validation; reaching this is a bug.
        raise TypeError(f"{label}: grid values cannot be translated to Hyperopt")


@dataclass(frozen=True)
class Conditional(Param):
    """A choice whose options each carry a sub-space sampled only when that option is chosen."""

    branches: tuple[tuple[Any, tuple[tuple[str, Param], ...]], ...]
    kind = "conditional"

    @property
    def options(self) -> tuple[Any, ...]:
        return tuple(option for option, _ in self.branches)

    def branch(self, option: Any) -> dict[str, Param]:
        """The sub-space of ``option`` (empty for an option without hyperparameters)."""
        return next((dict(sub) for opt, sub in self.branches if opt == option), {})

    @property
    def dependents(self) -> tuple[str, ...]:
        """Every hyperparameter some branch brings, in file order."""
        return tuple(dict.fromkeys(key for _, sub in self.branches for key, _ in sub))

    def to_ray(self) -> Any:
        from ray import tune

        return tune.choice(list(self.options))

    def dependent_domains(self, name: str) -> dict[str, Any]:
        """Ray domains of the dependents: each samples the branch its parent ``name`` chose."""
        from tunefleet.search.conditional import ConditionalDomain

        return {
            key: ConditionalDomain(
                name, {opt: dict(sub)[key].to_ray() for opt, sub in self.branches if key in dict(sub)}
            )
            for key in self.dependents
        }

    def to_hyperopt(self, label: str) -> Any:
        from hyperopt import hp

        # Labels must be unique across branches (adam and adamw may both sample beta1).
        return hp.choice(
            label,
            [
                {label: option, **{key: p.to_hyperopt(f"{key}|{label}={option}") for key, p in sub}}
                for option, sub in self.branches
            ],
        )

    def contains(self, value: Any) -> bool:
        return _among(value, self.options)

    def examples(self) -> list[Any]:
        return list(self.options)

    def to_yaml(self) -> Any:
        return {self.kind: {option: {key: p.to_yaml() for key, p in sub} for option, sub in self.branches}}


#: A parsed search space: hyperparameter name -> parameter, in file order.
Space = dict[str, Param]


def walk(space: Space) -> list[tuple[str, str, Param]]:
    """Every parameter, conditional ones included, as ``(key path, hyperparameter, param)``.

    The key path is relative to ``space``, e.g. ``optimizer.conditional.momentum.momentum``.
    """
    found: list[tuple[str, str, Param]] = []
    for name, param in space.items():
        found.append((name, name, param))
        if isinstance(param, Conditional):
            for option, sub in param.branches:
                found += [(f"{name}.conditional.{option}.{key}", key, p) for key, p in sub]
    return found


def _pair(args: Any) -> str | None:
    if not isinstance(args, Sequence) or isinstance(args, str) or len(args) != 2:
        return "expected a list of two numbers [low, high]"
    if not all(_is_number(a) for a in args):
        return f"expected two finite numbers [low, high], got {shown(list(args))}"
    if not args[0] < args[1]:
        return f"expected low < high, got [{args[0]}, {args[1]}]"
    return None


def _parse_uniform(args: Any) -> Param | str:
    error = _pair(args)
    return error if error else Uniform(args[0], args[1])


def _parse_loguniform(args: Any) -> Param | str:
    error = _pair(args)
    if error:
        return error
    if args[0] <= 0:
        return f"expected 0 < low < high (a log scale needs positive bounds), got [{args[0]}, {args[1]}]"
    return LogUniform(args[0], args[1])


def _parse_quantized(args: Any, log: bool) -> Param | str:
    if not isinstance(args, Sequence) or isinstance(args, str) or len(args) != 3:
        return "expected a list of three numbers [low, high, q]"
    error = _pair(args[:2])
    if error:
        return error.replace("[low, high]", "[low, high, q]")
    if not _is_number(args[2]) or args[2] <= 0:
        return f"expected a step q > 0, got {shown(args[2])}"
    if log and args[0] <= 0:
        return f"expected 0 < low < high (a log scale needs positive bounds), got [{args[0]}, {args[1]}]"
    for bound in args[:2]:
        ratio = bound / args[2]
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, abs(ratio)):
            # Ray Tune refuses quantized domains whose bounds are off the grid of q.
            return f"expected low and high to be multiples of q = {args[2]}, got {bound}"
    cls = QLogUniform if log else QUniform
    return cls(args[0], args[1], args[2])


def _parse_randint(args: Any) -> Param | str:
    error = _pair(args)
    if error:
        return error
    if not (_is_int(args[0]) and _is_int(args[1])):
        return f"expected integers [low, high) (high exclusive), got {shown(list(args))}"
    return RandInt(args[0], args[1])


def _parse_normal(args: Any) -> Param | str:
    if not isinstance(args, Sequence) or isinstance(args, str) or len(args) != 2:
        return "expected a list [mean, std]"
    if not all(_is_number(a) for a in args):
        return f"expected two finite numbers [mean, std], got {shown(list(args))}"
    if args[1] <= 0:
        return f"expected std > 0, got {args[1]}"
    return Normal(args[0], args[1])


def _parse_options(cls: type[Choice], args: Any) -> Param | str:
    if not isinstance(args, Sequence) or isinstance(args, str) or len(args) == 0:
        return "expected a non-empty list of values"
    if any(isinstance(a, Mapping) and len(a) == 1 and next(iter(a)) in DISTRIBUTIONS for a in args):
        return "options must be plain values; nested distributions are not supported"
    if len({repr(a) for a in args}) != len(args):
        return f"expected distinct values, got {shown(list(args))}"
    return cls(tuple(args))


#: Distribution name -> parser of its arguments (returns the Param or an error message).
DISTRIBUTIONS: dict[str, Callable[[Any], Param | str]] = {
    "uniform": _parse_uniform,
    "loguniform": _parse_loguniform,
    "quniform": lambda a: _parse_quantized(a, log=False),
    "qloguniform": lambda a: _parse_quantized(a, log=True),
    "randint": _parse_randint,
    "normal": _parse_normal,
    "choice": lambda a: _parse_options(Choice, a),
    "grid": lambda a: _parse_options(Grid, a),
    "constant": Constant,
    # "conditional" is parsed by parse_space: its branches are sub-spaces with key paths.
    "conditional": lambda a: "expected a mapping of option -> its hyperparameters",
}


def parse_param(raw: Any) -> Param | str:
    """Parse one entry of ``space:``; returns the parameter or what was expected instead."""
    if not isinstance(raw, Mapping):
        return Constant(raw)
    if len(raw) != 1:
        return (
            "expected a distribution with a single key such as {loguniform: [1e-4, 1e-1]}, "
            f"got keys {shown(list(raw))}; to pass a mapping as a constant write {{constant: ...}}"
        )
    ((kind, args),) = raw.items()
    parser = DISTRIBUTIONS.get(kind)
    if parser is None:
        return f"unknown distribution {shown(kind)}; expected one of: {', '.join(DISTRIBUTIONS)}"
    return parser(args)


def _parse_conditional(args: Any, source: str | Path, key: str) -> Conditional:
    if not isinstance(args, Mapping) or not args:
        raise ConfigError.single(source, key, "expected a mapping of option -> its hyperparameters")
    branches = []
    problems: list[Problem] = []
    for option, sub in args.items():
        if isinstance(sub, Mapping) and any(
            isinstance(v, Mapping) and "conditional" in v for v in sub.values()
        ):
            problems.append(Problem(f"{key}.{option}", "nested conditionals are not supported"))
            continue
        try:
            parsed = parse_space(sub, source, f"{key}.{option}")
        except ConfigError as exc:
            problems += exc.problems
            continue
        branches.append((option, tuple(parsed.items())))
    if problems:
        raise ConfigError(source, problems)
    return Conditional(tuple(branches))


def parse_space(raw: Any, source: str | Path, key: str = "space") -> Space:
    """Parse the ``space:`` mapping of an experiment file.

    Raises:
        ConfigError: listing every malformed entry by its key path.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError.single(source, key, f"expected a mapping of hyperparameters, got {shown(raw)}")
    space: Space = {}
    problems: list[Problem] = []
    for name, entry in raw.items():
        if not isinstance(name, str) or not name:
            problems.append(Problem(f"{key}.{name}", "hyperparameter names must be strings"))
            continue
        if isinstance(entry, Mapping) and list(entry) == ["conditional"]:
            try:
                space[name] = _parse_conditional(entry["conditional"], source, f"{key}.{name}.conditional")
            except ConfigError as exc:
                problems += exc.problems
            continue
        parsed = parse_param(entry)
        if isinstance(parsed, str):
            sub = next(iter(entry)) if isinstance(entry, Mapping) and len(entry) == 1 else None
            where = f"{key}.{name}.{sub}" if sub in DISTRIBUTIONS else f"{key}.{name}"
            problems.append(Problem(where, parsed))
        else:
            space[name] = parsed
    for path, name, _ in walk(space):
        if path != name and name in space:
            problems.append(
                Problem(f"{key}.{path}", f"{shown(name)} is also a hyperparameter of the space itself")
            )
    if problems:
        raise ConfigError(source, problems)
    return space


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
        out[name] = param.to_ray()
        if isinstance(param, Conditional):
            out.update(param.dependent_domains(name))
    return out


def to_hyperopt(space: Space) -> dict[str, Any]:
    """Hyperopt search space (a dict of ``hp.*`` expressions and constants)."""
    return {name: param.to_hyperopt(name) for name, param in space.items()}


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
