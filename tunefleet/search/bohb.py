"""``bohb``: BOHB's model-based sampler (Falkner et al., 2018), Ray's ``TuneBOHB``.

A kernel-density model per budget proposes the configurations; the HyperBand brackets that give
those budgets are ``scheduler: {type: bohb}`` (Ray's ``HyperBandForBOHB``). The two only work
together: :data:`PLUGIN` says so (``scheduler="bohb"``), and validation applies that one rule both
ways. Ray converts the ``param_space`` to a ConfigSpace, which has no grid, no conditional of
tunefleet's kind and no unbounded distribution. Needs the ``bohb`` extra:
``pip install 'tunefleet[bohb]'`` (hpbandster and ConfigSpace).
"""

from __future__ import annotations

from typing import Any

from tunefleet.search import SearcherOptions, SearcherPlugin, SearchSettings
from tunefleet.search.spaces import Conditional, Grid, Normal, Space, walk


class BohbOptions(SearcherOptions):
    """``bohb`` takes only the common keys of ``search:``."""


def build(
    options: BohbOptions, settings: SearchSettings, space: Space, metric: str, mode: str
) -> tuple[Any, dict[str, Any]]:
    from ray.tune.search.bohb import TuneBOHB

    from tunefleet.search.ray_domains import to_ray

    # Ray converts the param_space to a ConfigSpace and merges the constants back into configs.
    search_alg = TuneBOHB(
        metric=metric,
        mode=mode,
        points_to_evaluate=[dict(p) for p in settings.points_to_evaluate] or None,
        seed=settings.seed,
    )
    return search_alg, to_ray(space)


def check(options: BohbOptions, space: Space, settings: SearchSettings) -> list[tuple[str, str]]:
    return [
        (
            f"space.{path}.{param.kind}",
            f"search.algorithm bohb (a ConfigSpace) cannot express {param.kind} values; "
            "use algorithm random or hyperopt",
        )
        for path, _, param in walk(space)
        if isinstance(param, Grid | Conditional | Normal)
    ]


PLUGIN = SearcherPlugin(
    name="bohb",
    options=BohbOptions,
    build=build,
    check=check,
    scheduler="bohb",
    requires=(("hpbandster", "bohb"), ("ConfigSpace", "bohb")),
)
