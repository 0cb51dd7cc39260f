"""Conditional hyperparameters: sampled only in their branch, flat configs from every back end."""

from __future__ import annotations

import numpy as np
import pytest
from hyperopt.pyll import stochastic
from ray.tune.search.variant_generator import generate_variants

from tunefleet.config import load_experiment
from tunefleet.errors import ConfigError
from tunefleet.search.hyperopt.space import flatten_conditionals, to_hyperopt
from tunefleet.search.ray_domains import to_ray
from tunefleet.search.spaces import Conditional, parse_space

SPACE = {
    "lr": {"loguniform": [1e-3, 1.0]},
    "optimizer": {
        "conditional": {
            "sgd": {},
            "momentum": {"momentum": {"uniform": [0.8, 0.99]}, "nesterov": {"choice": [True, False]}},
            "adam": {"beta1": {"uniform": [0.85, 0.95]}},
            "adamw": {"beta1": {"uniform": [0.5, 0.6]}, "weight_decay": 0.01},
        }
    },
}
DEPENDENTS = ("momentum", "nesterov", "beta1", "weight_decay")


def ray_samples(n: int, seed: int) -> list[dict]:
    space = to_ray(parse_space(SPACE, "test"))
    rng = np.random.RandomState(seed)
    return [
        spec["config"] for _ in range(n) for _, spec in generate_variants({"config": space}, random_state=rng)
    ]


def hyperopt_samples(n: int, seed: int) -> list[dict]:
    parsed = parse_space(SPACE, "test")
    rng = np.random.default_rng(seed)
    return [flatten_conditionals(stochastic.sample(to_hyperopt(parsed), rng), parsed) for _ in range(n)]


@pytest.mark.parametrize("sample", [ray_samples, hyperopt_samples], ids=["ray", "hyperopt"])
def test_each_config_is_flat_and_samples_only_the_chosen_branch(sample) -> None:
    branches = parse_space(SPACE, "test")["optimizer"]
    assert isinstance(branches, Conditional)
    configs = sample(200, 0)
    assert {c["optimizer"] for c in configs} == {"sgd", "momentum", "adam", "adamw"}
    for config in configs:
        assert set(config) == {"lr", "optimizer", *DEPENDENTS}
        chosen = branches.branch(config["optimizer"])
        for key in DEPENDENTS:
            if key in chosen:
                assert chosen[key].contains(config[key]), (key, config)
            else:
                assert config[key] is None, (key, config)


def test_same_key_in_two_branches_follows_each_branch() -> None:
    for config in ray_samples(200, 1) + hyperopt_samples(200, 1):
        if config["optimizer"] == "adam":
            assert 0.85 <= config["beta1"] <= 0.95
        if config["optimizer"] == "adamw":
            assert 0.5 <= config["beta1"] <= 0.6 and config["weight_decay"] == 0.01


def test_seeded_random_sampling_of_conditionals_repeats() -> None:
    assert ray_samples(20, 3) == ray_samples(20, 3)
    assert ray_samples(20, 3) != ray_samples(20, 4)


def test_conditional_round_trips_to_yaml() -> None:
    assert parse_space(SPACE, "test")["optimizer"].to_yaml() == {
        "conditional": {
            "sgd": {},
            "momentum": {"momentum": {"uniform": [0.8, 0.99]}, "nesterov": {"choice": [True, False]}},
            "adam": {"beta1": {"uniform": [0.85, 0.95]}},
            "adamw": {"beta1": {"uniform": [0.5, 0.6]}, "weight_decay": 0.01},
        }
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"conditional": []}, "space.opt.conditional: expected a mapping of option -> its hyperparameters"),
        (
            {"conditional": {"a": {"x": {"uniform": [1, 0]}}}},
            "space.opt.conditional.a.x.uniform: expected low < high",
        ),
        (
            {"conditional": {"a": {"x": {"conditional": {"b": {}}}}}},
            "space.opt.conditional.a: nested conditionals are not supported",
        ),
        (
            {"conditional": {"a": {"lr": 0.1}}},
            "space.opt.conditional.a.lr: 'lr' is also a hyperparameter of the space itself",
        ),
        (
            {"conditional": {"a": {"opt": 1}}},
            "space.opt.conditional.a.opt: 'opt' is also a hyperparameter of the space itself",
        ),
    ],
)
def test_malformed_conditional_names_its_key(entry, message) -> None:
    with pytest.raises(ConfigError) as info:
        parse_space({"lr": 0.1, "opt": entry}, "exp.yaml")
    assert any(message in str(p) for p in info.value.problems), info.value.problems


EXPERIMENT = """\
trainable: linear_regression
metric: val_loss
mode: min
num_samples: 6
max_iterations: 2
search: {algorithm: random, seed: 0}
space:
  steps_per_iteration: 5
  lr: {loguniform: [1.0e-3, 1.0e-1]}
  optimizer:
    conditional:
      sgd: {}
      momentum: {momentum: {uniform: [0.8, 0.99]}, nesterov: {choice: [true, false]}}
      adam: {beta1: {uniform: [0.85, 0.95]}}
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("momentum: {uniform", "momentun: {uniform"),
            "space.optimizer.conditional.momentum.momentun: linear_regression has no hyperparameter 'momentun' (did you mean 'momentum'?)",
        ),
        (("      sgd: {}", "      sgdd: {}"), "space.optimizer.conditional: 'sgdd' is not a valid optimizer"),
        (
            ("[0.85, 0.95]", "[0.85, 1.5]"),
            "space.optimizer.conditional.adam.beta1.uniform: 1.5 is not a valid beta1",
        ),
        (
            ("algorithm: random", "algorithm: grid"),
            "space.optimizer.conditional: search.algorithm grid needs grid or choice values",
        ),
        (
            ("seed: 0}", "seed: 0, points_to_evaluate: [{lr: 0.01, optimizer: sgd, momentum: 0.9}]}"),
            "search.points_to_evaluate.0.momentum: not sampled when optimizer is 'sgd'",
        ),
        (
            (
                "algorithm: random, seed: 0}",
                "algorithm: hyperopt, seed: 0, points_to_evaluate: [{lr: 0.01, optimizer: sgd}]}",
            ),
            "search.points_to_evaluate: Ray's HyperOptSearch cannot start from given points when the space has conditional hyperparameters (optimizer)",
        ),
    ],
)
def test_conditional_spaces_are_validated_against_the_trainable(write_experiment, edit, expected) -> None:
    old, new = edit
    assert old in EXPERIMENT
    with pytest.raises(ConfigError) as info:
        load_experiment(write_experiment(EXPERIMENT.replace(old, new)))
    assert any(expected in str(p) for p in info.value.problems), info.value.problems


@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("algorithm", ["random", "hyperopt"])
def test_torch_trainable_runs_every_branch_with_defaults_for_the_others(
    algorithm, write_experiment, tmp_path
) -> None:
    from rich.console import Console

    from tunefleet.run.tuner import build_tuner

    text = EXPERIMENT.replace("algorithm: random", f"algorithm: {algorithm}").replace(
        "num_samples: 6", "num_samples: 8"
    )
    experiment = load_experiment(write_experiment(text))
    results = build_tuner(experiment, str(tmp_path), algorithm, Console(quiet=True)).fit()
    assert not results.errors
    configs = [r.config for r in results]
    assert len({c["optimizer"] for c in configs}) >= 2
    for config in configs:
        assert (config["momentum"] is None) == (config["optimizer"] != "momentum")
        assert (config["beta1"] is None) == (config["optimizer"] != "adam")


LIST_CHOICE = {"betas": {"choice": [[0.9, 0.999], [0.8, 0.99]]}, "lr": {"uniform": [0.1, 1.0]}}


@pytest.mark.parametrize("grid", [False, True], ids=["random", "grid"])
def test_list_values_of_a_choice_reach_trials_unchanged_under_ray(grid: bool) -> None:
    space = to_ray(parse_space(LIST_CHOICE, "test"), grid_choices=grid)
    rng = np.random.RandomState(0)
    configs = [
        spec["config"]
        for _ in range(10)
        for _, spec in generate_variants({"config": space}, random_state=rng)
    ]
    assert {tuple(c["betas"]) for c in configs} == {(0.9, 0.999), (0.8, 0.99)}
    assert all(isinstance(c["betas"], list) for c in configs)


def test_list_values_of_a_choice_reach_trials_unchanged_under_hyperopt() -> None:
    # Plain Hyperopt hands lists back as tuples, and Ray's HyperOptSearch cannot find a list
    # of points_to_evaluate among the options (a known Ray Tune bug); both are avoided.
    from tunefleet.search.hyperopt.searcher import FlatHyperOptSearch

    parsed = parse_space(LIST_CHOICE, "test")
    search = FlatHyperOptSearch(
        tunefleet_space=parsed,
        space=to_hyperopt(parsed),
        metric="m",
        mode="max",
        random_state_seed=0,
        points_to_evaluate=[{"betas": [0.8, 0.99], "lr": 0.5}],
    )
    configs = [search.suggest(str(i)) for i in range(10)]
    assert configs[0] == {"betas": [0.8, 0.99], "lr": 0.5}
    assert {tuple(c["betas"]) for c in configs} == {(0.9, 0.999), (0.8, 0.99)}
    assert all(isinstance(c["betas"], list) for c in configs)
