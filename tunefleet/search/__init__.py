"""Search algorithms, by name: the ``search:`` section of an experiment file.

The space (:mod:`tunefleet.search.spaces`) knows no back end; each search algorithm is one
module (or sub-package) here exposing ``PLUGIN``, a :class:`SearcherPlugin` that converts the
space for its back end and validates its own options with a strict pydantic model. Ray Tune's
domains are built by :mod:`tunefleet.search.ray_domains` (grid, random, bohb and PBT mutations),
Hyperopt's ``hp.*`` by :mod:`tunefleet.search.hyperopt.space`. Modules are imported lazily.

Adding a searcher = adding a module here, a line to :data:`SEARCHERS`, and a case to
``tests/search/test_searcher_contract.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from tunefleet.errors import ConfigError, Problem, did_you_mean, shown
from tunefleet.search.spaces import DISTRIBUTIONS, Space, parse_space

__all__ = [
    "DISTRIBUTIONS",
    "SEARCHERS",
    "SearchSettings",
    "SearcherOptions",
    "SearcherPlugin",
    "Space",
    "algorithm_keys",
    "build_search",
    "get_searcher",
    "pairing_problem",
    "parse_space",
]

#: Search algorithm name -> module that defines its ``PLUGIN``.
SEARCHERS: dict[str, str] = {
    "grid": "tunefleet.search.grid",
    "random": "tunefleet.search.random",
    "hyperopt": "tunefleet.search.hyperopt",
    "bohb": "tunefleet.search.bohb",
    "optuna": "tunefleet.search.optuna",
}


class SearchSettings(BaseModel):
    """``search:``: the keys every algorithm takes.

    The algorithm's own keys (e.g. Hyperopt's ``gamma``) sit in the same mapping; they are kept
    here as extras and validated by the algorithm's options model (:func:`algorithm_keys`).
    Numbers are ``StrictInt``: pydantic would read true as 1.
    """

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    algorithm: StrictStr = Field("random", description="A registered search algorithm (SEARCHERS).")
    seed: StrictInt | None = Field(
        None,
        description="Makes sampling reproducible (hyperopt: with max_concurrent 1; bohb: until its "
        "model takes over, which draws from numpy's global random state).",
    )
    max_concurrent: StrictInt | None = Field(None, ge=1, description="At most this many trials run at once.")
    points_to_evaluate: list[dict[str, Any]] = Field(
        default_factory=list, description="Known good configurations to run first."
    )


class SearcherOptions(BaseModel):
    """Base of every algorithm's own options: strict, no unknown keys, no infinities or NaN."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: ``build(options, settings, space, metric, mode) -> (search_alg, param_space)``; ``metric`` and
#: ``mode`` are lists for a multi-objective sweep (only for plugins that take one).
Build = Callable[[Any, SearchSettings, Space, Any, Any], tuple[Any, dict[str, Any]]]
#: ``check(options, space, settings) -> [(key, message)]``.
Check = Callable[[Any, Space, SearchSettings], list[tuple[str, str]]]


@dataclass(frozen=True)
class SearcherPlugin:
    """A search algorithm as tunefleet knows it.

    Attributes:
        name: The YAML ``search.algorithm``.
        options: Pydantic model of the algorithm's own keys of ``search:``.
        build: Creates the Ray Tune search algorithm and the ``param_space`` for the Tuner,
            converting the space for its back end.
        check: Cross-checks the options and the common settings against the space; returns
            ``(key, message)`` problems with key paths from the top of the file (``space.x.grid``,
            ``search.points_to_evaluate.0``): a searcher judges the space as well as its settings.
        enumerates_choices: ``choice`` values are enumerated like ``grid`` values (the number of
            trials is then the grid's size times ``num_samples``).
        scheduler: The scheduler this searcher is made for; the two only run together (neither
            runs with anything else). None: any scheduler.
        requires: Modules the searcher imports that are optional dependencies of tunefleet, as
            ``(module, pip extra)``; validation reports the missing ones.
        single_objective_reason: Why the searcher, with these options, cannot optimize several
            metrics at once (``metric: [a, b]``), as ``(key path, reason)``; None when it can.
            By default a searcher takes one metric.
    """

    name: str
    options: type[SearcherOptions]
    build: Build
    check: Check = lambda _o, _s, _c: []
    enumerates_choices: bool = False
    scheduler: str | None = None
    requires: tuple[tuple[str, str], ...] = ()
    single_objective_reason: Callable[[Any], tuple[str, str] | None] = lambda _o: (
        "search.algorithm",
        "optimizes one metric",
    )

    def missing_dependencies(self) -> list[str]:
        """The ``requires`` modules that cannot be imported here, as install hints."""
        return [
            f"{module} (pip install 'tunefleet[{extra}]')"
            for module, extra in self.requires
            if importlib.util.find_spec(module) is None
        ]


def get_searcher(name: str) -> SearcherPlugin:
    """Look a search algorithm up by its YAML name.

    Raises:
        KeyError: with the valid names, when ``name`` is not registered.
    """
    if name not in SEARCHERS:
        raise KeyError(
            f"unknown search algorithm {shown(name)}{did_you_mean(name, SEARCHERS)}; "
            f"expected one of: {', '.join(SEARCHERS)}"
        )
    plugin: SearcherPlugin = importlib.import_module(SEARCHERS[name]).PLUGIN
    return plugin


def algorithm_keys(
    plugin: SearcherPlugin, search: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Split a ``search:`` mapping: the algorithm's own keys, and keys neither its own nor common.

    Returns:
        ``(own keys and values, problems)``, problems as ``(key, message)`` with keys relative to
        ``search``. A key of another algorithm is reported as such, unless it is null (unset), which
        the shared settings accepted before algorithms had options of their own.
    """
    common = SearchSettings.model_fields
    own = plugin.options.model_fields
    valid = ", ".join(sorted({*common, *own}))
    options: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in search.items():
        if key in common:
            continue
        if key in own:
            options[key] = value
            continue
        users = [n for n in SEARCHERS if n != plugin.name and key in get_searcher(n).options.model_fields]
        if users and value is None:
            continue
        reason = (
            f"only used by algorithm {' or '.join(users)}, not {plugin.name}"
            if users
            else f"unknown key{did_you_mean(str(key), sorted({*common, *own}))}"
        )
        problems.append((str(key), f"{reason}; expected one of: {valid}"))
    return options, problems


def pairing_problem(algorithm: str, scheduler: str) -> tuple[str, str] | None:
    """The problem when a searcher made for one scheduler meets another, or that scheduler another searcher.

    Returns:
        ``(key, message)`` with the key path of the side that is off (``search.algorithm`` or
        ``scheduler.type``), or None when they fit.
    """
    wanted = get_searcher(algorithm).scheduler
    partner = next((n for n in SEARCHERS if get_searcher(n).scheduler == scheduler), None)
    if wanted not in (None, scheduler):
        key, searcher, paired = "search.algorithm", algorithm, wanted
    elif partner not in (None, algorithm):
        key, searcher, paired = "scheduler.type", partner, scheduler
    else:
        return None
    return (
        key,
        f"search.algorithm {searcher} and scheduler {paired} only run together; got search.algorithm "
        f"{algorithm} with scheduler {scheduler}: use both, or neither",
    )


def build_search(
    settings: SearchSettings, space: Space, metric: str | list[str], mode: str | list[str]
) -> tuple[Any, dict[str, Any]]:
    """Create the search algorithm for validated settings.

    ``metric`` and ``mode`` are lists for a multi-objective sweep (validation lets only searchers
    without a ``single_objective_reason`` have one).

    ``max_concurrent`` is applied here: Ray's grid/random generator takes it as an argument, and
    model-based searchers are wrapped in a ``ConcurrencyLimiter``. (``TuneConfig.max_concurrent_trials``
    does the latter but silently ignores the former.)

    Returns:
        ``(search_alg, param_space)`` for ``ray.tune.Tuner``.

    Raises:
        ConfigError: the settings hold keys the algorithm does not take (they are validated
            with the experiment; this guards settings built in Python).
    """
    from ray.tune.search import ConcurrencyLimiter, Searcher

    plugin = get_searcher(settings.algorithm)
    own, problems = algorithm_keys(plugin, settings.model_extra or {})
    if problems:
        raise ConfigError("search settings", [Problem(f"search.{k}", m) for k, m in problems])
    options = plugin.options.model_validate(own)
    search_alg, param_space = plugin.build(options, settings, space, metric, mode)
    if settings.max_concurrent and isinstance(search_alg, Searcher):
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=settings.max_concurrent)
    return search_alg, param_space
