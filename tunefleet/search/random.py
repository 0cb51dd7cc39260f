"""``random``: Ray Tune's random sampling (``BasicVariantGenerator``).

Every sampled hyperparameter is drawn from its distribution, seeded by ``search.seed``; ``grid``
values are crossed with the samples (each grid point gets ``num_samples`` trials).
``max_concurrent`` is the generator's own argument (Ray's ``TuneConfig.max_concurrent_trials``
would ignore it for this generator).
"""

from __future__ import annotations

from typing import Any

from tunefleet.search import SearcherOptions, SearcherPlugin, SearchSettings
from tunefleet.search.spaces import Space


class RandomOptions(SearcherOptions):
    """``random`` takes only the common keys of ``search:``."""


def variant_generator(settings: SearchSettings) -> Any:
    """Ray's ``BasicVariantGenerator`` with the common settings (also ``grid``'s generator)."""
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(
        points_to_evaluate=[dict(p) for p in settings.points_to_evaluate] or None,
        random_state=settings.seed,
        max_concurrent=settings.max_concurrent or 0,
    )


def build(
    options: RandomOptions, settings: SearchSettings, space: Space, metric: str, mode: str
) -> tuple[Any, dict[str, Any]]:
    from tunefleet.search.ray_domains import to_ray

    return variant_generator(settings), to_ray(space)


# Nothing here reads the metric, so a metric list is as good as one: random search is the
# baseline of multi-objective sweeps.
PLUGIN = SearcherPlugin(
    name="random", options=RandomOptions, build=build, single_objective_reason=lambda _o: None
)
