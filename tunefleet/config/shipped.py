"""The experiments shipped with tunefleet, found by name from any directory.

The repository's ``experiments/`` directory is installed as the package ``tunefleet.experiments``
(``[tool.setuptools.package-dir]`` in pyproject.toml), in a wheel and in an editable install
alike, so ``tunefleet run quickstart`` works wherever tunefleet is installed and
``tunefleet run experiments/quickstart.yaml`` still works in a clone.

An experiment argument is resolved in this order: an existing file wins; otherwise a bare name
(no directory part, ``.yaml`` optional) is looked up among the shipped experiments; otherwise
the error names the file and lists the shipped names.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from tunefleet.config.schema import ExperimentFile
from tunefleet.config.yaml_source import read_yaml_file
from tunefleet.errors import ConfigError, did_you_mean
from tunefleet.search import get_searcher
from tunefleet.search.spaces import Space, parse_space

__all__ = ["ShippedExperiment", "describe_shipped", "find_experiment_file", "shipped_experiments"]

_PACKAGE = "tunefleet.experiments"
_SUFFIX = ".yaml"


class ShippedExperiment(NamedTuple):
    """One shipped experiment, as ``tunefleet experiments`` lists it."""

    name: str
    path: Path
    trainable: str
    search: str
    scheduler: str
    trials: int
    description: str


def shipped_experiments() -> dict[str, Path]:
    """Every shipped experiment file by name (its file name without ``.yaml``), sorted by name."""
    # A regular package on the file system (pip unpacks wheels): files() is a real directory.
    directory = Path(str(resources.files(_PACKAGE)))
    return {path.stem: path for path in sorted(directory.glob(f"*{_SUFFIX}"))}


def _bare_name(argument: str) -> str | None:
    """The shipped name ``argument`` may stand for: no directory part, ``.yaml`` optional."""
    if not argument or "/" in argument or "\\" in argument:
        return None
    return argument.removesuffix(_SUFFIX) or None


def find_experiment_file(argument: str | Path) -> Path:
    """The experiment file an argument means: an existing file, else a shipped experiment's name.

    Raises:
        ConfigError: neither; the message names the file and lists the shipped experiments.
    """
    path = Path(argument)
    if path.is_file():
        return path
    shipped = shipped_experiments()
    name = _bare_name(str(argument)) if isinstance(argument, str) else None
    if name in shipped:
        return shipped[name]  # also past a directory of that name (people name folders so)
    if path.exists():
        return path  # a directory or a device: the reader says why it is no experiment file
    stem = _bare_name(path.name) or path.name
    raise ConfigError.single(
        argument,
        "",
        f"file not found, and not the name of a shipped experiment{did_you_mean(stem, shipped)}; "
        f"shipped: {', '.join(shipped)} (tunefleet experiments describes them)",
    )


def _leading_comment(text: str) -> str:
    """The first sentence of the comment the file starts with ("" without one): its description.

    A sentence ends at ``.``, ``!`` or ``?`` before a capital letter or the end of the first
    paragraph ("Jaderberg et al. 2017" and "e.g. x" go on).
    """
    lines: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        words = line.lstrip("#").strip()
        if not words:
            if lines:
                break  # the first paragraph only
            continue
        lines.append(words)
    paragraph = " ".join(lines)
    sentence = re.match(r"(.+?[.!?])(?=\s+[A-Z]|$)", paragraph)
    return sentence.group(1) if sentence else paragraph


def _trials(settings: ExperimentFile, space: Space) -> int:
    """How many trials the sweep runs, as :attr:`Experiment.num_trials` counts them."""
    return settings.num_samples * get_searcher(settings.search.algorithm).grid_size(space)


def _describe(name: str, path: Path) -> ShippedExperiment:
    raw = read_yaml_file(path)
    try:
        settings = ExperimentFile.model_validate(raw)
    except ValidationError as exc:  # a shipped file is valid: tests/config/test_shipped.py
        raise ConfigError.single(path, "", str(exc)) from None
    scheduler: Any = raw.get("scheduler", {"type": "fifo"})
    return ShippedExperiment(
        name=name,
        path=path,
        trainable=settings.trainable,
        search=settings.search.algorithm,
        scheduler=str(scheduler.get("type")),
        trials=_trials(settings, parse_space(raw.get("space"), path)),
        description=_leading_comment(path.read_text(encoding="utf-8")),
    )


def describe_shipped() -> list[ShippedExperiment]:
    """What each shipped experiment runs, read from its file alone (no trainable is imported:
    the CIFAR-10 experiments list fine without the dataset, the BOHB one without its extra)."""
    return [_describe(name, path) for name, path in shipped_experiments().items()]
