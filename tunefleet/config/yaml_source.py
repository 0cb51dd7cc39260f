"""Reading experiment YAML and applying ``--set key.path=value`` overrides.

YAML is read with a *safe* loader (no object construction). PyYAML follows YAML 1.1, where
``1e-3`` is a string because it lacks a dot; people write learning rates that way, so the
loader here also resolves YAML 1.2 style exponent floats (``1e-3``, ``5E+2``) as floats.

What PyYAML lets through silently or with a traceback is refused here, with the key and the
line: a key given twice (PyYAML keeps the last), aliases standing for more than
:data:`MAX_ALIAS_EXPANSION` values (half a kilobyte of nested aliases can stand for a billion,
which every later step would walk, copy or print), a value that contains itself, nesting deeper
than :data:`MAX_DEPTH`, and scalars Python cannot turn into values (an integer of 5,000 digits,
a date with month 13).
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tunefleet.errors import ConfigError, Problem, clip, shown

__all__ = ["MAX_ALIAS_EXPANSION", "MAX_DEPTH", "apply_overrides", "parse_yaml_value", "read_yaml_file"]

#: Most values the aliases of one file may add to those written out (an experiment needs a few).
MAX_ALIAS_EXPANSION = 100_000
#: Deepest nesting of values (an experiment file needs about 7).
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """Problems of a YAML document found before it is turned into Python values."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float, and refuses what the module docstring lists."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        #: Every alias, in file order: its anchor name, where it is, and the node it stands for.
        self._aliases: list[tuple[str, yaml.Mark, Node]] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            if node is not None:
                self._aliases.append((event.anchor, event.start_mark, node))
            return node
        if self._depth >= MAX_DEPTH:
            # PyYAML composes recursively: a few thousand brackets are a RecursionError.
            message = f"values are nested more than {MAX_DEPTH} levels deep"
            raise ComposerError(None, None, message, self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        problems = _Inspection(self._aliases).problems(node)
        if problems:
            raise _Refused(problems)
        return self.construct_document(node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, _unreadable(node, exc), node.start_mark) from None


def _unreadable(node: Node, exc: Exception) -> str:
    """Why a scalar cannot become a value, e.g. an integer longer than Python converts."""
    digits = re.sub(r"[^0-9]", "", str(node.value)) if isinstance(node, ScalarNode) else ""
    if node.tag == "tag:yaml.org,2002:int" and len(digits) > sys.get_int_max_str_digits() > 0:
        return f"an integer of {len(digits)} digits; expected at most {sys.get_int_max_str_digits()}"
    return f"cannot read {shown(node.value)} as {node.tag.rpartition(':')[2]}: {clip(str(exc))}"


class _Inspection:
    """One walk over the composed nodes, each visited once (aliases share nodes): duplicate keys,
    values that contain themselves, and how many values the document stands for."""

    def __init__(self, aliases: list[tuple[str, yaml.Mark, Node]]) -> None:
        self.aliases = aliases
        self.sizes: dict[int, int] = {}  # id(node) -> values it stands for; -1 while inside it
        self.found: list[Problem] = []
        self.largest_repeat: tuple[int, tuple[str, ...], Node] | None = None

    def problems(self, root: Node) -> list[Problem]:
        try:
            total = self.visit(root, ())
        except _Recursive as exc:
            return [exc.problem]
        if total - len(self.sizes) > MAX_ALIAS_EXPANSION and self.largest_repeat is not None:
            size, path, node = self.largest_repeat
            message = f"aliases expand the file to more than {MAX_ALIAS_EXPANSION:,} values"
            alias = next(((a, m) for a, m, n in self.aliases if n is node), None)
            if alias is not None:
                message += (
                    f" (the alias *{clip(alias[0])} at line {alias[1].line + 1} alone stands for {size:,})"
                )
            self.found.append(
                Problem(".".join(path), f"{message}; write the values out, or use fewer aliases")
            )
        return self.found

    def visit(self, node: Node, path: tuple[str, ...]) -> int:
        known = self.sizes.get(id(node))
        if known == -1:
            raise _Recursive(self._recursion(node, path))
        if known is not None:  # an alias of a node already walked
            if self.largest_repeat is None or known > self.largest_repeat[0]:
                self.largest_repeat = (known, path, node)
            return known
        self.sizes[id(node)] = -1
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self.visit(child, (*path, str(i))) for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            self._duplicates(node, path)
            for key, value in node.value:
                name = str(key.value) if isinstance(key, ScalarNode) else "?"
                size += self.visit(key, path) + self.visit(
                    value, path if key.tag == _MERGE_TAG else (*path, name)
                )
        self.sizes[id(node)] = size
        return size

    def _recursion(self, node: Node, path: tuple[str, ...]) -> Problem:
        anchor, mark = next(((a, m) for a, m, n in self.aliases if n is node), ("?", node.start_mark))
        return Problem(
            ".".join(path),
            f"the alias *{clip(anchor)} at line {mark.line + 1} stands for a value that contains itself; "
            "write the values out",
        )

    def _duplicates(self, node: MappingNode, path: tuple[str, ...]) -> None:
        seen: dict[tuple[str, str], Node] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue  # a merge key's values may be overridden: that is what it is for
            first = seen.setdefault((key.tag, key.value), key)
            if first is key:
                continue
            a, b = first.start_mark, key.start_mark
            where = (
                f"at line {a.line + 1} and again at line {b.line + 1} ("
                if a.line != b.line
                else f"twice at line {a.line + 1} (columns {a.column + 1} and {b.column + 1}; "
            )
            self.found.append(
                Problem(
                    ".".join((*path, str(key.value))),
                    f"duplicate key, {where}YAML would keep only the last one); keep one",
                )
            )


class _Recursive(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem)
        self.problem = problem


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
    except _Refused as exc:
        raise ConfigError(path, exc.problems) from None
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
                    f"{walked} is {shown(child)}, not a mapping, so {key} cannot be set",
                )
            node = child
        try:
            node[parts[-1]] = parse_yaml_value(raw)
        except _Refused as exc:
            raise ConfigError(
                source,
                [
                    Problem(f"--set {item}", f"{'.'.join([key, p.key] if p.key else [key])}: {p.message}")
                    for p in exc.problems
                ],
            ) from None
    return result
