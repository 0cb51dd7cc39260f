"""Errors meant for users: each says which file, which key and what was expected.

A ``TunefleetError`` is caught by the CLI and printed without a traceback (exit code 2);
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "Problem", "TunefleetError", "did_you_mean"]


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
        lines = [f"{self.source}: invalid {kind}"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    @classmethod
    def single(cls, source: str | Path, key: str, message: str, kind: str = "experiment") -> ConfigError:
        """An error with one problem."""
        return cls(source, [Problem(key, message)], kind)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'score'?)`` when one of ``options`` is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
