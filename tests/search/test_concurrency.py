"""``search.max_concurrent`` limits every search algorithm (Ray's Tuner setting would ignore it for grid/random)."""

from __future__ import annotations

import pytest
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from tunefleet.config.schema import SearchSettings
from tunefleet.search import build_search, parse_space

SPACE = parse_space({"lr": {"loguniform": [1e-4, 1e-1]}}, "exp.yaml")


@pytest.mark.parametrize("algorithm", ["grid", "random"])
def test_grid_and_random_generators_take_the_limit(algorithm: str) -> None:
    search_alg, _ = build_search(SearchSettings(algorithm=algorithm, max_concurrent=3), SPACE, "loss", "min")
    assert isinstance(search_alg, BasicVariantGenerator)
    assert search_alg.max_concurrent == 3


def test_model_based_searchers_are_wrapped_in_a_concurrency_limiter() -> None:
    settings = SearchSettings(algorithm="hyperopt", seed=0, max_concurrent=2)
    search_alg, _ = build_search(settings, SPACE, "loss", "min")
    assert isinstance(search_alg, ConcurrencyLimiter)
    assert search_alg.max_concurrent == 2


def test_no_limit_by_default() -> None:
    random_alg, _ = build_search(SearchSettings(algorithm="random"), SPACE, "loss", "min")
    hyperopt_alg, _ = build_search(SearchSettings(algorithm="hyperopt"), SPACE, "loss", "min")
    assert random_alg.max_concurrent == 0  # Ray's "unlimited"
    assert not isinstance(hyperopt_alg, ConcurrencyLimiter)
