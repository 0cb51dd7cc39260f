"""Search algorithms, by name: the ``search:`` section of an experiment file.

The space (:mod:`tunefleet.search.spaces`) knows no back end; each search algorithm is one
module (or sub-package) here exposing ``PLUGIN``, a :class:`SearcherPlugin` that converts the
space for its back end and validates its own options with a strict pydantic model. Ray Tune's
domains are built by :mod:`tunefleet.search.ray_domains` (grid, random, bohb and PBT mutations),
Hyperopt's ``hp.*`` by :mod:`tunefleet.search.hyperopt.space`. Modules are imported lazily.

Adding a searcher = adding a module here, a line to :data:`SEARCHERS`, and a case to
``tests/search/test_searcher_contract.py`` (and to its ``WARM_START`` table: whether and how the
searcher takes an earlier sweep's results, see :attr:`SearcherPlugin.warm_start`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from tunefleet.errors import ConfigError, Problem, did_you_mean, shown
from tunefleet.search.spaces import DISTRIBUTIONS, Choice, Grid, Space, parse_space

__all__ = [
    "DISTRIBUTIONS",
    "SEARCHERS",
    "EvaluatedPoint",
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
class EvaluatedPoint:
    """A configuration an earlier sweep ran, and the result the searcher would have seen.

    Attributes:
        config: The trial's flat config, exactly the sampled hyperparameters of the space it is
            fed into (every one of them, each a value the space contains).
        value: The last value of the metric the trial reported (what ``on_trial_complete``
            gives a searcher), as reported: not negated for ``mode: max``. NaN or infinite for
            a trial that diverged: the searcher ranks it worst, as it does a diverged trial of
            its own sweep.
    """

    config: dict[str, Any]
    value: float


#: ``warm_start(search_alg, points)``: feeds an earlier sweep's results to a search algorithm
#: ``build`` made, before its first suggestion (see :attr:`SearcherPlugin.warm_start`).
WarmStart = Callable[[Any, Sequence[EvaluatedPoint]], None]


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
        warm_start: How the searcher takes an earlier sweep's results (``tunefleet extend``):
            ``warm_start(search_alg, points)`` gets the search algorithm ``build`` returned
            (before any ``ConcurrencyLimiter``) and every :class:`EvaluatedPoint` that fits the
            new space, and must make the searcher's model count each of them exactly once, as
            a finished trial with that config and value, without running it again and without
            changing how many trials the new sweep makes. None: the searcher's proposals do
            not depend on results (random, grid), so there is nothing to warm; the old trials
            still count as history in ``analyze`` and ``compare``.
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
    warm_start: WarmStart | None = None
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

    def grid_size(self, space: Space) -> int:
        """Grid points of ``space`` (1 without grid values); each is run ``num_samples`` times."""
        size = 1
        for param in space.values():
            if isinstance(param, Grid) or (self.enumerates_choices and type(param) is Choice):
                size *= len(param.options)
        return size


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
    settings: SearchSettings,
    space: Space,
    metric: str | list[str],
    mode: str | list[str],
    history: Sequence[EvaluatedPoint] = (),
    continuations: Sequence[dict[str, Any]] = (),
    continues_key: str = "",
) -> tuple[Any, dict[str, Any]]:
    """Create the search algorithm for validated settings.

    ``history`` (an extended sweep's old results, fitting ``space``) is fed to the searcher
    through its plugin's ``warm_start``; a searcher without one ignores it. ``continuations``
    (configs holding ``continues_key``, see :mod:`tunefleet.search.continuing`) are the first trials.

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
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher

    plugin = get_searcher(settings.algorithm)
    own, problems = algorithm_keys(plugin, settings.model_extra or {})
    if problems:
        raise ConfigError("search settings", [Problem(f"search.{k}", m) for k, m in problems])
    options = plugin.options.model_validate(own)
    search_alg, param_space = plugin.build(options, settings, space, metric, mode)
    if continuations and isinstance(search_alg, BasicVariantGenerator):
        # Ray's variant generator (random, grid) runs its points_to_evaluate first, each setting
        # keys of the param_space: the continuations go first, and the reserved key is one (None).
        points = [*map(dict, continuations), *settings.points_to_evaluate]
        rebuilt = settings.model_copy(update={"points_to_evaluate": points})
        search_alg, param_space = plugin.build(options, rebuilt, space, metric, mode)
        param_space = {**param_space, continues_key: None}
    if history and plugin.warm_start is not None:
        plugin.warm_start(search_alg, history)
    if continuations and isinstance(search_alg, Searcher):
        from tunefleet.search.continuing import ContinuingSearcher

        search_alg = ContinuingSearcher(search_alg, continuations)
    if settings.max_concurrent and isinstance(search_alg, Searcher):
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=settings.max_concurrent)
    return search_alg, param_space
