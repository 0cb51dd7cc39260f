"""``search.algorithm`` -> a Ray Tune search algorithm and the ``param_space`` to give the Tuner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunefleet.config.schema import SearchSettings
from tunefleet.search.hyperopt.space import to_hyperopt
from tunefleet.search.ray_domains import to_ray
from tunefleet.search.spaces import Space

__all__ = ["SEARCHERS", "build_search"]


def _basic(grid_choices: bool) -> Callable[..., tuple[Any, dict[str, Any]]]:
    def build(settings: SearchSettings, space: Space, metric: str, mode: str) -> tuple[Any, dict[str, Any]]:
        from ray.tune.search import BasicVariantGenerator

        search_alg = BasicVariantGenerator(
            points_to_evaluate=[dict(p) for p in settings.points_to_evaluate] or None,
            random_state=settings.seed,
            max_concurrent=settings.max_concurrent or 0,
        )
        return search_alg, to_ray(space, grid_choices=grid_choices)

    return build


def _hyperopt(settings: SearchSettings, space: Space, metric: str, mode: str) -> tuple[Any, dict[str, Any]]:
    from tunefleet.search.hyperopt.searcher import FlatHyperOptSearch

    kwargs: dict[str, Any] = {}
    if settings.n_initial_points is not None:
        kwargs["n_initial_points"] = settings.n_initial_points
    if settings.gamma is not None:
        kwargs["gamma"] = settings.gamma
    search_alg = FlatHyperOptSearch(
        tunefleet_space=space,
        space=to_hyperopt(space),
        metric=metric,
        mode=mode,
        # Ray rewrites categorical values to indices in place: hand it copies.
        points_to_evaluate=[dict(p) for p in settings.points_to_evaluate] or None,
        random_state_seed=settings.seed,
        **kwargs,
    )
    # The space lives in the searcher; the Tuner gets an empty param_space.
    return search_alg, {}


def _bohb(settings: SearchSettings, space: Space, metric: str, mode: str) -> tuple[Any, dict[str, Any]]:
    from ray.tune.search.bohb import TuneBOHB

    # Ray converts the param_space to a ConfigSpace and merges the constants back into configs.
    search_alg = TuneBOHB(
        metric=metric,
        mode=mode,
        points_to_evaluate=[dict(p) for p in settings.points_to_evaluate] or None,
        seed=settings.seed,
    )
    return search_alg, to_ray(space)


#: Algorithm name -> builder(settings, space, metric, mode) -> (search_alg, param_space).
SEARCHERS: dict[str, Callable[..., tuple[Any, dict[str, Any]]]] = {
    "grid": _basic(grid_choices=True),
    "random": _basic(grid_choices=False),
    "hyperopt": _hyperopt,
    "bohb": _bohb,
}


def build_search(
    settings: SearchSettings, space: Space, metric: str, mode: str
) -> tuple[Any, dict[str, Any]]:
    """Create the search algorithm for a validated experiment.

    ``max_concurrent`` is applied here: Ray's grid/random generator takes it as an argument, and
    model-based searchers are wrapped in a ``ConcurrencyLimiter``. (``TuneConfig.max_concurrent_trials``
    does the latter but silently ignores the former.)

    Returns:
        ``(search_alg, param_space)`` for ``ray.tune.Tuner``.
    """
    from ray.tune.search import ConcurrencyLimiter, Searcher

    search_alg, param_space = SEARCHERS[settings.algorithm](settings, space, metric, mode)
    if settings.max_concurrent and isinstance(search_alg, Searcher):
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=settings.max_concurrent)
    return search_alg, param_space
