"""Search algorithms are plugins: each validates its own keys of ``search:`` and converts the space."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from tunefleet.config import SearchSettings, load_experiment
from tunefleet.errors import ConfigError
from tunefleet.search import SEARCHERS, build_search, get_searcher
from tunefleet.search.hyperopt.searcher import FlatHyperOptSearch
from tunefleet.search.hyperopt.space import hyperopt_expression
from tunefleet.search.optuna.space import SuggestConfig
from tunefleet.search.ray_domains import ray_domain
from tunefleet.search.spaces import DISTRIBUTIONS, Grid, Normal, parse_space

BASE = """\
trainable: digits_mlp
metric: val_accuracy
mode: max
num_samples: 4
max_iterations: 4
space:
  lr: {loguniform: [1.0e-4, 1.0e-1]}
  momentum: {uniform: [0.8, 0.99]}
  optimizer: momentum
"""


def problems(write_experiment: Callable[..., Path], search: str, extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_experiment(write_experiment(BASE + f"search: {search}\n" + extra))
    return [str(p) for p in caught.value.problems]


def test_every_registered_module_defines_the_plugin_of_its_name() -> None:
    assert [get_searcher(name).name for name in SEARCHERS] == list(SEARCHERS)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (
            "{algorithm: optuan}",
            "search.algorithm: unknown search algorithm 'optuan' (did you mean 'optuna'?); expected one of: grid, random, hyperopt, bohb, optuna",
        ),
        (
            "{algorithm: hyperopd}",
            "search.algorithm: unknown search algorithm 'hyperopd' (did you mean 'hyperopt'?); expected one of: grid, random, hyperopt, bohb, optuna",
        ),
        (
            "{algorithm: random, gamma: 0.3}",
            "search.gamma: only used by algorithm hyperopt, not random; expected one of: algorithm, max_concurrent, points_to_evaluate, seed",
        ),
        (
            "{algorithm: random, n_initial_point: 3}",
            "search.n_initial_point: unknown key; expected one of: algorithm, max_concurrent, points_to_evaluate, seed",
        ),
        (
            "{algorithm: hyperopt, n_initial_point: 3}",
            "search.n_initial_point: unknown key (did you mean 'n_initial_points'?); expected one of: algorithm, gamma, max_concurrent, n_initial_points, points_to_evaluate, seed",
        ),
        ("{algorithm: hyperopt, gamma: 1.5}", "search.gamma: Input should be less than 1, got 1.5"),
        (
            "{algorithm: hyperopt, n_initial_points: true}",
            "search.n_initial_points: Input should be a valid integer",
        ),
        ("{algorithm: 3}", "search.algorithm: Input should be a valid string, got 3"),
    ],
)
def test_each_algorithm_takes_only_its_own_keys(
    write_experiment: Callable[..., Path], search: str, expected: str
) -> None:
    found = problems(write_experiment, search)
    assert any(p.startswith(expected) for p in found), found


def test_problems_of_the_common_keys_and_of_the_algorithms_own_come_together(
    write_experiment: Callable[..., Path],
) -> None:
    found = problems(write_experiment, "{algorithm: hyperopt, seed: true, gamma: .nan}")
    assert [p.split(":")[0] for p in found] == ["search.seed", "search.gamma"]


def test_an_unset_key_of_another_algorithm_is_accepted_as_before(
    write_experiment: Callable[..., Path],
) -> None:
    experiment = load_experiment(write_experiment(BASE + "search: {algorithm: random, gamma: null}\n"))
    assert experiment.searcher.name == "random"


def test_the_algorithms_own_keys_reach_its_searcher(write_experiment: Callable[..., Path]) -> None:
    path = write_experiment(BASE + "search: {algorithm: hyperopt, n_initial_points: 3, gamma: 0.4}\n")
    experiment = load_experiment(path)
    assert experiment.searcher_options.model_dump() == {"n_initial_points": 3, "gamma": 0.4}
    search_alg, param_space = build_search(experiment.search, experiment.space, "val_accuracy", "max")
    assert isinstance(search_alg, FlatHyperOptSearch) and param_space == {}
    # Ray binds them to TPE's suggest function.
    assert search_alg.algo.keywords == {"n_startup_jobs": 3, "gamma": 0.4}


def test_build_search_refuses_a_key_the_algorithm_does_not_take() -> None:
    # Ray drops unknown keyword arguments silently; settings built in Python get the same check as files.
    settings = SearchSettings(algorithm="random", gamma=0.3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"search\.gamma: only used by algorithm hyperopt, not random"):
        build_search(settings, parse_space({"x": {"uniform": [0, 1]}}, "test"), "m", "max")


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ("search: {algorithm: bohb}\n", "search.algorithm"),
        ("search: {algorithm: random}\nscheduler: {type: bohb}\n", "scheduler.type"),
    ],
)
def test_bohb_search_and_scheduler_run_together_by_one_rule(
    write_experiment: Callable[..., Path], sections: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_experiment(write_experiment(BASE + sections))
    found = [str(p) for p in caught.value.problems if "only run together" in p.message]
    algorithm, scheduler = ("bohb", "fifo") if key == "search.algorithm" else ("random", "bohb")
    assert found == [
        f"{key}: search.algorithm bohb and scheduler bohb only run together; got search.algorithm "
        f"{algorithm} with scheduler {scheduler}: use both, or neither"
    ]


#: Arguments of every distribution of the YAML.
EXAMPLES: dict[str, Any] = {
    "uniform": [0.0, 1.0],
    "loguniform": [1e-3, 1.0],
    "quniform": [8, 64, 8],
    "qloguniform": [1.0, 100.0, 0.5],
    "randint": [0, 3],
    "normal": [0.0, 1.0],
    "choice": ["a", "b"],
    "grid": [1, 2],
    "constant": {"a": 1},
    "conditional": {"sgd": {}, "adam": {"beta1": {"uniform": [0.8, 0.9]}}},
}


@pytest.mark.parametrize("kind", sorted(DISTRIBUTIONS))
def test_every_back_end_converts_every_distribution(kind: str) -> None:
    # A new distribution needs a case in each back end's converter; the parameter classes know none.
    assert set(EXAMPLES) == set(DISTRIBUTIONS)
    param = parse_space({"x": {kind: EXAMPLES[kind]}}, "test")["x"]
    assert ray_domain(param) is not None
    if isinstance(param, Grid):
        return  # TPE does not enumerate: validation refuses grid values for hyperopt and optuna
    assert hyperopt_expression(param, "x") is not None
    if isinstance(param, Normal):
        return  # Optuna samples within bounds: validation refuses normal values for optuna
    config = SuggestConfig({"x": param})(optuna.create_study().ask())
    assert param.contains(config["x"])
