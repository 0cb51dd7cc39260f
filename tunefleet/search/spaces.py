"""The YAML search space: one syntax, parsed into parameters that know no back end.

Each entry of ``space:`` is either a constant or a mapping with a single key naming a
distribution: ``uniform``, ``loguniform``, ``quniform``, ``qloguniform``, ``randint`` (high
exclusive), ``normal``, ``choice``, ``grid``, ``conditional`` or ``constant``. A parameter
knows its values (:meth:`Param.contains`, :meth:`Param.support`, :meth:`Param.clip`) and its YAML
form; each search algorithm converts the space for its back end (Ray Tune domains:
:mod:`tunefleet.search.ray_domains`; Hyperopt: :mod:`tunefleet.search.hyperopt.space`), so a new
back end is a new module, not a change to every parameter class.

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
    "parse_space",
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


class LogUniform(_Range):
    kind = "loguniform"
    log_scale = True


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


class QLogUniform(_Quantized):
    kind = "qloguniform"
    log_scale = True


@dataclass(frozen=True)
class RandInt(Param):
    low: int
    high: int  # exclusive, as in Ray Tune, Hyperopt and numpy
    kind = "randint"

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

    def contains(self, value: Any) -> bool:
        return _among(value, self.options)

    def examples(self) -> list[Any]:
        return list(self.options)

    def to_yaml(self) -> Any:
        return {self.kind: list(self.options)}


class Grid(Choice):
    kind = "grid"


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
