"""One YAML space, two back ends: Ray Tune domains and Hyperopt expressions agree."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pytest
from hyperopt.pyll import stochastic
from ray.tune.search.hyperopt import HyperOptSearch

from tunefleet.errors import ConfigError
from tunefleet.search.hyperopt.space import to_hyperopt
from tunefleet.search.ray_domains import to_ray
from tunefleet.search.spaces import parse_space

EVERY_DISTRIBUTION = {
    "u": {"uniform": [-1.0, 2.0]},
    "lu": {"loguniform": [1e-4, 1e-1]},
    "qu": {"quniform": [0.0, 1.0, 0.25]},
    "qu_int": {"quniform": [32, 256, 32]},
    "qlu": {"qloguniform": [5.0, 1000.0, 5.0]},
    "qlu_int": {"qloguniform": [8, 512, 8]},
    "ri": {"randint": [2, 9]},
    "n": {"normal": [0.5, 0.1]},
    "c": {"choice": ["sgd", "adam", 3]},
    "k": 7,
    "const_map": {"constant": {"a": 1}},
}


def test_hyperopt_translation_equals_rays_own_conversion() -> None:
    # Ray can convert its domains to hp.* itself; tunefleet translates the YAML directly (no
    # grid, conditional spaces later). Same rng, same samples: the expressions are equivalent.
    space = parse_space(EVERY_DISTRIBUTION, "test")
    ours = to_hyperopt(space)
    rays = HyperOptSearch.convert_search_space(to_ray(space))
    for seed in range(20):
        a = stochastic.sample(ours, np.random.default_rng(seed))
        b = stochastic.sample(rays, np.random.default_rng(seed))
        assert a == b


@pytest.mark.parametrize("name", [k for k, v in EVERY_DISTRIBUTION.items() if isinstance(v, dict)])
def test_ray_and_hyperopt_draw_from_the_same_support(name: str) -> None:
    space = parse_space({name: EVERY_DISTRIBUTION[name]}, "test")
    param = space[name]
    rng = np.random.default_rng(0)
    hyperopt_draws = [stochastic.sample(to_hyperopt(space), rng)[name] for _ in range(300)]
    domain = to_ray(space)[name]
    ray_draws = (
        list(domain.sample(size=300, random_state=np.random.RandomState(0)))
        if hasattr(domain, "sample")
        else [domain] * 300
    )
    for draws in (hyperopt_draws, ray_draws):
        assert all(param.contains(v) for v in draws)
    assert kinds(hyperopt_draws) == kinds(ray_draws)


@pytest.mark.parametrize(
    "name",
    [
        k
        for k, v in EVERY_DISTRIBUTION.items()
        if isinstance(v, dict) and "choice" not in v and "constant" not in v
    ],
)
def test_support_holds_every_value_either_back_end_draws(name: str) -> None:
    # Validation judges a distribution by its support: type and range must hold for every draw.
    space = parse_space({name: EVERY_DISTRIBUTION[name]}, "test")
    support = space[name].support()
    rng = np.random.default_rng(3)
    draws = [stochastic.sample(to_hyperopt(space), rng)[name] for _ in range(300)]
    draws += list(to_ray(space)[name].sample(size=300, random_state=np.random.RandomState(3)))
    assert all(support.low <= v <= support.high for v in draws)
    assert all(float(v).is_integer() for v in draws) == support.integral
    assert support.bounded == (name != "n")


def test_support_of_a_quantized_float_range_is_integral_only_with_a_whole_step() -> None:
    space = parse_space({"a": {"quniform": [2.0, 10.0, 2.0]}, "b": {"quniform": [2, 10, 0.5]}}, "test")
    assert space["a"].support().integral
    assert not space["b"].support().integral


def kinds(values: list) -> set[str]:
    """int / float / other type names, numpy scalars counted as the Python kind they stand for."""
    return {
        "int"
        if isinstance(v, numbers.Integral)
        else "float"
        if isinstance(v, numbers.Real)
        else type(v).__name__
        for v in values
    }


def test_loguniform_is_uniform_in_log_space_in_both_backends() -> None:
    space = parse_space({"lr": {"loguniform": [1e-4, 1e-0]}}, "test")
    rng = np.random.default_rng(1)
    hyp = np.array([stochastic.sample(to_hyperopt(space), rng)["lr"] for _ in range(2000)])
    ray = np.asarray(to_ray(space)["lr"].sample(size=2000, random_state=np.random.RandomState(1)))
    for draws in (hyp, ray):
        # median of log10 should sit in the middle of [-4, 0]
        assert abs(np.median(np.log10(draws)) + 2.0) < 0.15


def test_integer_quantized_values_are_ints_and_multiples_of_q() -> None:
    space = parse_space({"bs": {"quniform": [32, 256, 32]}}, "test")
    rng = np.random.default_rng(2)
    values = {stochastic.sample(to_hyperopt(space), rng)["bs"] for _ in range(200)}
    values |= set(to_ray(space)["bs"].sample(size=200, random_state=np.random.RandomState(2)))
    assert values <= {32 * k for k in range(1, 9)}
    assert all(isinstance(v, (int, np.integer)) for v in values)


def test_grid_becomes_grid_search_and_choice_can_be_enumerated() -> None:
    space = parse_space({"lr": {"grid": [0.1, 0.01]}, "bs": {"choice": [32, 64]}}, "test")
    assert to_ray(space)["lr"] == {"grid_search": [0.1, 0.01]}
    assert to_ray(space, grid_choices=True)["bs"] == {"grid_search": [32, 64]}
    assert not isinstance(to_ray(space)["bs"], dict)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"loguniform": [0.0, 1.0]}, "space.x.loguniform: expected 0 < low < high"),
        ({"qloguniform": [-1, 10, 1]}, "space.x.qloguniform: expected 0 < low < high"),
        ({"uniform": [1.0]}, "space.x.uniform: expected a list of two numbers [low, high]"),
        ({"uniform": ["a", 1]}, "space.x.uniform: expected two finite numbers"),
        ({"uniform": [0, math.inf]}, "space.x.uniform: expected two finite numbers"),
        ({"quniform": [0, 1, 0]}, "space.x.quniform: expected a step q > 0"),
        ({"quniform": [1, 10, 4]}, "space.x.quniform: expected low and high to be multiples of q = 4, got 1"),
        ({"randint": [0.5, 3]}, "space.x.randint: expected integers [low, high) (high exclusive)"),
        ({"normal": [0, -1]}, "space.x.normal: expected std > 0"),
        ({"choice": []}, "space.x.choice: expected a non-empty list of values"),
        ({"choice": [1, 1]}, "space.x.choice: expected distinct values"),
        ({"grid": "abc"}, "space.x.grid: expected a non-empty list of values"),
        ({"choice": [{"uniform": [0, 1]}]}, "nested distributions are not supported"),
        ({"a": 1, "b": 2}, "space.x: expected a distribution with a single key"),
        ({"logunifrom": [1, 2]}, "space.x: unknown distribution 'logunifrom'"),
    ],
)
def test_malformed_distribution_names_its_key(entry, message) -> None:
    with pytest.raises(ConfigError) as info:
        parse_space({"x": entry}, "exp.yaml")
    assert message in str(info.value.problems[0])


def test_contains_respects_each_support() -> None:
    space = parse_space(EVERY_DISTRIBUTION, "test")
    assert space["ri"].contains(8) and not space["ri"].contains(9)  # high is exclusive
    assert space["lu"].contains(1e-2) and not space["lu"].contains(0.5)
    assert space["c"].contains("adam") and not space["c"].contains("rmsprop")
    assert space["k"].contains(7) and not space["k"].contains(8)


def test_a_boolean_is_not_an_integer_option() -> None:
    # Python says True == 1; a choice of [1, 2] must not accept true (nor [true, false] accept 1).
    space = parse_space({"n": {"choice": [1, 2]}, "b": {"grid": [True, False]}}, "test")
    assert space["n"].contains(1) and not space["n"].contains(True)
    assert space["b"].contains(False) and not space["b"].contains(0)
