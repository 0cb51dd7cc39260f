"""``grid``: every combination of ``grid`` and ``choice`` values (Ray Tune's ``BasicVariantGenerator``).

Each combination is run ``num_samples`` times. Nothing is sampled, so continuous distributions
and conditionals are refused (``random`` crosses a grid with sampled values).
"""

from __future__ import annotations

from typing import Any

from tunefleet.search import SearcherOptions, SearcherPlugin, SearchSettings
from tunefleet.search.random import variant_generator
from tunefleet.search.spaces import Choice, Space, walk


class GridOptions(SearcherOptions):
    """``grid`` takes only the common keys of ``search:``."""


def build(
    options: GridOptions, settings: SearchSettings, space: Space, metric: str, mode: str
) -> tuple[Any, dict[str, Any]]:
    from tunefleet.search.ray_domains import to_ray

    return variant_generator(settings), to_ray(space, grid_choices=True)


def check(options: GridOptions, space: Space, settings: SearchSettings) -> list[tuple[str, str]]:
    return [
        (
            f"space.{path}.{param.kind}",
            "search.algorithm grid needs grid or choice values (or constants); "
            "use algorithm random to cross a grid with sampled values",
        )
        for path, _, param in walk(space)
        if param.sampled and not isinstance(param, Choice)
    ]


# The grid does not read the metric, so it takes a metric list as it takes one metric.
PLUGIN = SearcherPlugin(
    name="grid",
    options=GridOptions,
    build=build,
    check=check,
    enumerates_choices=True,
    single_objective_reason=lambda _o: None,
)
