"""``hyperopt``: Tree-structured Parzen Estimator (Bergstra et al., 2011), through Ray's ``HyperOptSearch``.

The space is translated to ``hp.*`` (:mod:`tunefleet.search.hyperopt.space`) and lives in the
searcher; the Tuner gets an empty ``param_space``. Trials get flat configs, as from every other
algorithm (:class:`~tunefleet.search.hyperopt.searcher.FlatHyperOptSearch`). A seed makes the
proposals repeat when trials run one at a time (``max_concurrent: 1``): otherwise the results
TPE learns from arrive in an order the seed does not fix.

Warm start (``tunefleet extend``): each old trial becomes a finished Hyperopt trial
(:meth:`~tunefleet.search.hyperopt.searcher.FlatHyperOptSearch.add_evaluated_point`), so TPE's
model starts from them and ``n_initial_points`` counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, StrictFloat, StrictInt

from tunefleet.search import EvaluatedPoint, SearcherOptions, SearcherPlugin, SearchSettings
from tunefleet.search.spaces import Conditional, Grid, Space, walk


class HyperoptOptions(SearcherOptions):
    """The keys of ``search:`` that only ``hyperopt`` takes."""

    n_initial_points: StrictInt | None = Field(
        None, ge=1, description="Random trials before TPE takes over (Ray's default 20)."
    )
    gamma: StrictFloat | None = Field(
        None, gt=0, lt=1, description="TPE's quantile separating good from bad trials (Ray's default 0.25)."
    )


def build(
    options: HyperoptOptions, settings: SearchSettings, space: Space, metric: str, mode: str
) -> tuple[Any, dict[str, Any]]:
    from tunefleet.search.hyperopt.searcher import FlatHyperOptSearch
    from tunefleet.search.hyperopt.space import to_hyperopt

    search_alg = FlatHyperOptSearch(
        tunefleet_space=space,
        space=to_hyperopt(space),
        metric=metric,
        mode=mode,
        # Ray rewrites categorical values to indices in place: hand it copies.
        points_to_evaluate=[dict(p) for p in settings.points_to_evaluate] or None,
        random_state_seed=settings.seed,
        # Unset options keep Ray's defaults.
        **options.model_dump(exclude_none=True),
    )
    return search_alg, {}


def check(options: HyperoptOptions, space: Space, settings: SearchSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    sampled = [k for k, p in space.items() if p.sampled]
    if not sampled:
        problems.append(("space", "hyperopt needs at least one sampled hyperparameter"))
    problems += [
        (
            f"space.{path}.grid",
            "grid values cannot be used with search.algorithm hyperopt (TPE samples, "
            "it does not enumerate); use choice, or algorithm grid or random",
        )
        for path, _, param in walk(space)
        if isinstance(param, Grid)
    ]
    conditionals = [k for k, p in space.items() if isinstance(p, Conditional)]
    if conditionals and settings.points_to_evaluate:
        problems.append(
            (
                "search.points_to_evaluate",
                "Ray's HyperOptSearch cannot start from given points when the space has "
                f"conditional hyperparameters ({', '.join(conditionals)}); use algorithm random",
            )
        )
    for index, point in enumerate(settings.points_to_evaluate):
        missing = [k for k in sampled if k not in point]
        if missing:
            problems.append(
                (
                    f"search.points_to_evaluate.{index}",
                    f"hyperopt needs a value for every sampled hyperparameter; missing: {', '.join(missing)}",
                )
            )
    return problems


def warm_start(search_alg: Any, points: Sequence[EvaluatedPoint]) -> None:
    for point in points:
        search_alg.add_evaluated_point(point.config, point.value)


PLUGIN = SearcherPlugin(
    name="hyperopt", options=HyperoptOptions, build=build, check=check, warm_start=warm_start
)
