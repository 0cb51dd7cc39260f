"""Does a search space fit a trainable's hyperparameters? Every value it can draw, not only its ends.

A trainable that declares a pydantic ``Hyperparams`` model says, per hyperparameter, the type it
accepts and its bounds (``Field(ge=1)``, also inside ``Annotated`` and ``Optional``). A
distribution says what it draws (:class:`~tunefleet.search.spaces.Support`). Two things the ends
of a range cannot show are checked from those: a distribution drawing floats (``uniform``, a
``quniform`` with a fractional step, ``normal``) for an integer hyperparameter, and an unbounded
``normal`` for a bounded one. Then the values at the ends (and every listed value of a choice)
go through the model itself, which also runs its own validators.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tunefleet.errors import Problem, did_you_mean, shown
from tunefleet.search.spaces import Constant, Param, Space, Support, walk

__all__ = ["field_error_message", "space_problems"]

_BOUND_SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


@dataclass(frozen=True)
class _Accepted:
    """The numbers a hyperparameter accepts: its types among int, float and bool, and its bounds."""

    types: frozenset[type]
    bounds: tuple[tuple[str, float], ...]

    @property
    def integers_only(self) -> bool:
        return int in self.types and float not in self.types

    @property
    def booleans_only(self) -> bool:
        return self.types == {bool}

    def describe(self) -> str:
        """E.g. ``integers >= 1, <= 512``, ``numbers >= 0, < 1``, ``true or false``."""
        if self.booleans_only:
            return "true or false"
        kind = "integers" if self.integers_only else "numbers"
        limits = ", ".join(f"{_BOUND_SYMBOLS[name]} {_number(value)}" for name, value in self.bounds)
        return f"{kind} {limits}" if limits else kind

    def bounded_below(self) -> bool:
        return any(name in ("ge", "gt") for name, _ in self.bounds)

    def bounded_above(self) -> bool:
        return any(name in ("le", "lt") for name, _ in self.bounds)

    def integer_range(self, low: int, high: int) -> tuple[int, int]:
        """``[low, high]`` narrowed to the integers inside the bounds."""
        for name, value in self.bounds:
            if name == "ge":
                low = max(low, math.ceil(value))
            elif name == "gt":
                low = max(low, math.floor(value) + 1)
            elif name == "le":
                high = min(high, math.floor(value))
            else:
                high = min(high, math.ceil(value) - 1)
        return low, high

    def share_outside(self, mean: float, std: float) -> float:
        """The share of draws of a normal distribution that fall outside the bounds."""

        def below(x: float) -> float:
            return 0.5 * (1 + math.erf((x - mean) / (std * math.sqrt(2))))

        lows = [value for name, value in self.bounds if name in ("ge", "gt")]
        highs = [value for name, value in self.bounds if name in ("le", "lt")]
        return (below(max(lows)) if lows else 0.0) + (1 - below(min(highs)) if highs else 0.0)


def field_error_message(error: Any) -> str:
    """A pydantic error's message, without the "Value error, " prefix of a validator's ValueError."""
    cause = error.get("ctx", {}).get("error")
    return str(cause) if isinstance(cause, ValueError) else str(error["msg"])


def _number(value: float) -> str:
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))


def _constraints(items: Iterable[Any]) -> list[tuple[str, float]]:
    """``ge``/``gt``/``le``/``lt`` bounds from pydantic field metadata (annotated_types objects)."""
    found = []
    for item in items:
        if isinstance(item, FieldInfo):  # Annotated[int, Field(ge=1)]
            found += _constraints(item.metadata)
            continue
        for name in _BOUND_SYMBOLS:
            value = getattr(item, name, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append((name, value))
    return found


def _accepted(field: FieldInfo) -> _Accepted | None:
    """What ``field`` accepts, when its annotation is made of int, float, bool and None only."""
    kinds: set[type] = set()
    bounds = _constraints(field.metadata)
    other = False

    def visit(annotation: Any) -> None:
        nonlocal other
        origin = get_origin(annotation)
        if origin is Annotated:
            inner, *metadata = get_args(annotation)
            bounds.extend(_constraints(metadata))
            visit(inner)
        elif origin is Union or origin is types.UnionType:
            for member in get_args(annotation):
                if member is not type(None):
                    visit(member)
        elif annotation in (int, float, bool):
            kinds.add(annotation)
        else:
            other = True  # str, Literal, a model...: the model itself judges the values

    visit(field.annotation)
    if other or not kinds:
        return None
    return _Accepted(frozenset(kinds), tuple(bounds))


def _drawn(support: Support) -> str:
    """What a distribution draws, e.g. ``floats between 1 and 100``."""
    if support.integral:
        kind = "integers"
    elif support.step is not None:
        kind = f"multiples of {_number(support.step)}"
    else:
        kind = "floats"
    if support.bounded:
        return f"{kind} between {_number(support.low)} and {_number(support.high)}"
    return f"{kind} of any size (unbounded)"


def _integer_suggestion(param: Param, support: Support, accepted: _Accepted) -> str:
    if support.bounded:
        low, high = math.ceil(support.low), math.floor(support.high)
    else:  # a normal: mean +- 2 std holds 95% of its draws
        mean, std = param.mean, param.std  # type: ignore[attr-defined]
        low, high = round(mean - 2 * std), round(mean + 2 * std)
    low, high = accepted.integer_range(low, high)
    if low >= high:
        return "integer bounds, e.g. {randint: [low, high]} (high exclusive)"
    if support.log and low > 0:
        return f"{{qloguniform: [{low}, {high}, 1]}}"
    if support.step is not None:
        return f"{{{param.kind}: [{low}, {high}, 1]}}"
    return f"{{randint: [{low}, {high + 1}]}} (high exclusive) or {{quniform: [{low}, {high}, 1]}}"


def _share(fraction: float) -> str:
    if fraction >= 0.01:
        return f" (about {fraction:.0%} of draws fall outside)"
    return " (fewer than 1% of draws fall outside, but some will)"


def _support_problem(name: str, param: Param, support: Support, accepted: _Accepted) -> str | None:
    """Why some values ``param`` draws are not valid for ``name``, and what to write instead."""
    if accepted.booleans_only:
        return (
            f"{param.kind} draws numbers, but {name} accepts only true or false; "
            "use {choice: [true, false]}"
        )
    fractional = accepted.integers_only and not support.integral
    escapes = (support.low == -math.inf and accepted.bounded_below()) or (
        support.high == math.inf and accepted.bounded_above()
    )
    if not (fractional or escapes):
        return None
    message = f"{param.kind} draws {_drawn(support)}, but {name} accepts only {accepted.describe()}"
    if escapes and not fractional:
        mean, std = param.mean, param.std  # type: ignore[attr-defined]
        message += _share(accepted.share_outside(mean, std))
        return message + "; use a bounded distribution inside that range, e.g. {uniform: [low, high]}"
    return f"{message}; use {_integer_suggestion(param, support, accepted)}"


def _value_problem(name: str, param: Param, model: type[BaseModel], accepted: _Accepted | None) -> str | None:
    """The first value of ``param`` (an end of its range, or a listed value) that ``model`` refuses."""
    for value in param.examples():
        if isinstance(value, bool) and accepted is not None and bool not in accepted.types:
            # pydantic reads true as 1 and false as 0 (lax mode): a typo it would hide.
            spelled = "true" if value else "false"
            return f"{spelled} is a boolean, but {name} accepts only {accepted.describe()}"
        try:
            model.model_validate({name: value})
        except ValidationError as exc:
            messages = [field_error_message(e) for e in exc.errors() if e["loc"][:1] == (name,)]
            if messages:
                return f"{shown(value)} is not a valid {name}: {messages[0]}"
    return None


def space_problems(space: Space, model: type[BaseModel], ref: str, prefix: str = "space") -> list[Problem]:
    """Every parameter of ``space`` (conditional ones too) that ``model`` does not accept as a whole.

    Args:
        space: The parsed space (or PBT mutations).
        model: The trainable's ``Hyperparams``.
        ref: The trainable as the file names it, for messages.
        prefix: Key path of ``space`` in the file.
    """
    accepted_names = sorted(model.model_fields)
    problems = []
    for path, name, param in walk(space):
        field = model.model_fields.get(name)
        if field is None:
            problems.append(
                Problem(
                    f"{prefix}.{path}",
                    f"{ref} has no hyperparameter {shown(name)}{did_you_mean(name, accepted_names)}; "
                    f"it accepts: {', '.join(accepted_names)}",
                )
            )
            continue
        key = f"{prefix}.{path}" if isinstance(param, Constant) else f"{prefix}.{path}.{param.kind}"
        accepted = _accepted(field)
        support = param.support()
        problem = None
        if support is not None and accepted is not None:
            problem = _support_problem(name, param, support, accepted)
        problem = problem or _value_problem(name, param, model, accepted)
        if problem:
            problems.append(Problem(key, problem))
    return problems
