"""Reading experiment YAML and applying ``--set key.path=value`` overrides.

YAML is read with a *safe* loader (no object construction). PyYAML follows YAML 1.1, where
``1e-3`` is a string because it lacks a dot; people write learning rates that way, so the
loader here also resolves YAML 1.2 style exponent floats (``1e-3``, ``5E+2``) as floats.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from tunefleet.errors import ConfigError

__all__ = ["apply_overrides", "parse_yaml_value", "read_yaml_file"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float."""


_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader


def read_yaml_file(path: Path) -> dict[str, Any]:
    """Read an experiment file into a mapping.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or not a mapping at the top.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(path, "", f"cannot read the file: {exc}") from None
    try:
        data = _load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError.single(path, "", f"not valid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError.single(path, "", "the file is empty; expected a mapping of experiment keys")
    if not isinstance(data, dict):
        raise ConfigError.single(
            path, "", f"expected a mapping of experiment keys at the top, got {type(data).__name__}"
        )
    return data


def parse_yaml_value(text: str) -> Any:
    """Parse the value part of ``--set key=value`` as YAML (``[1e-3, 1e-2]`` is a list)."""
    try:
        return _load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str], source: Path) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key.path=value`` override applied.

    Intermediate mappings are created when missing, so ``--set scheduler.grace_period=2``
    works even if the file has no ``scheduler`` key; validation then judges the result.

    Raises:
        ConfigError: an override is not of the form ``key.path=value`` or walks into a
            value that is not a mapping.
    """
    result = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError.single(
                source, f"--set {item}", "expected key.path=value, e.g. --set num_samples=4"
            )
        parts = key.split(".")
        node: Any = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                walked = ".".join(parts[: depth + 1])
                raise ConfigError.single(
                    source,
                    f"--set {item}",
                    f"{walked} is {child!r}, not a mapping, so {key} cannot be set",
                )
            node = child
        node[parts[-1]] = parse_yaml_value(raw)
    return result
