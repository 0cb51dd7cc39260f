"""Errors meant for users: each says which file, which key and what was expected.

A ``TunefleetError`` is caught by the CLI and printed without a traceback (exit code 2);
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import itertools
import math
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "Problem",
    "Terminated",
    "TunefleetError",
    "clip",
    "did_you_mean",
    "missing_extras",
    "shown",
]

#: Longest user value echoed in a message, in characters (the rest becomes "...").
SHOWN_CHARS = 80
#: Longest line of a :class:`ConfigError`, and how many problems it lists.
LINE_CHARS = 1000
LISTED_PROBLEMS = 50


class _ShortRepr(reprlib.Repr):
    """reprlib stops at a depth and a width, so its work is bounded even for a structure of
    shared references that would be gigabytes long written out (YAML aliases)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 6
        self.maxstring = self.maxother = SHOWN_CHARS

    def repr_int(self, x: int, level: int) -> str:
        # Python refuses to write out an integer of more than 4,300 digits (ValueError).
        if x.bit_length() > 128:
            return f"<an integer of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        # As reprlib's, but in the order the file wrote the keys (reprlib sorts them).
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(key, level - 1)}: {self.repr1(x[key], level - 1)}"
            for key in itertools.islice(x, self.maxdict)
        ]
        return "{" + ", ".join(pieces + ["..."] * (len(x) > self.maxdict)) + "}"


_SHORT = _ShortRepr()


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with "...".

    Example:
        >>> clip("x" * 100, 10)
        'xxxxxxx...'
    """
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for a message: at most ``limit`` characters, in bounded time for any value.

    Every user value an error message echoes goes through here: a value may be a megabyte of
    text, an integer of thousands of digits, or a few hundred bytes of YAML aliases standing for
    billions of nested items.

    Example:
        >>> shown("momentun")
        "'momentun'"
        >>> shown(list(range(100)))
        '[0, 1, 2, 3, 4, 5, ...]'
    """
    return clip(_SHORT.repr(value), limit)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the option closest to ``word``, or "" when none is close.

    Example:
        >>> did_you_mean("num_sample", ["num_samples", "metric"])
        " (did you mean 'num_samples'?)"
    """
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def missing_extras(requires: Iterable[tuple[str, str]]) -> list[str]:
    """``module (pip install 'tunefleet[extra]')`` for each ``(module, extra)`` not installed here.

    Example:
        >>> missing_extras([("json", "none"), ("no_such_module", "demo")])
        ["no_such_module (pip install 'tunefleet[demo]')"]
    """
    import importlib.util

    return [
        f"{module} (pip install 'tunefleet[{extra}]')"
        for module, extra in requires
        if importlib.util.find_spec(module) is None
    ]


class TunefleetError(Exception):
    """Base class of every error caused by user input rather than by a bug."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an experiment file.

    Attributes:
        key: Dotted key path inside the file, e.g. ``space.lr.loguniform`` ("" for the whole file).
        message: What was expected, and what was found instead.
    """

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(TunefleetError):
    """An experiment file (or a ``--set`` override of it) is invalid.

    Example:
        >>> err = ConfigError("exp.yaml", [Problem("num_samples", "expected an integer >= 1, got 0")])
        >>> print(err)
        exp.yaml: invalid experiment
          - num_samples: expected an integer >= 1, got 0
    """

    def __init__(self, source: str | Path, problems: list[Problem], kind: str = "experiment") -> None:
        self.source = str(source)
        self.problems = list(problems)
        # Keys and messages may hold user input (a key of a megabyte, thousands of unknown keys):
        # the message stays readable and bounded whatever the file holds.
        lines = [clip(f"{self.source}: invalid {kind}", LINE_CHARS)]
        lines += [f"  - {clip(str(p), LINE_CHARS)}" for p in self.problems[:LISTED_PROBLEMS]]
        if len(self.problems) > LISTED_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - LISTED_PROBLEMS} more problems")
        super().__init__("\n".join(lines))

    @classmethod
    def single(cls, source: str | Path, key: str, message: str, kind: str = "experiment") -> ConfigError:
        """An error with one problem."""
        return cls(source, [Problem(key, message)], kind)


class Terminated(BaseException):
    """SIGTERM arrived where it cannot stop a sweep gracefully: before the sweep ran, or a second time.

    Like ``KeyboardInterrupt`` it is no ``Exception``, so that no ``except Exception`` (Ray's
    included) swallows it on its way out; the CLI exits with code 143 (128 + SIGTERM).
    """
