"""Warm-starting a searcher with an earlier sweep's results (``tunefleet extend``), without Ray.

The hook is fed a real ``HyperOptSearch``: the count and the values TPE then holds are checked,
and the configurations are read back from Hyperopt's own records.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunefleet.search import EvaluatedPoint, SearchSettings, build_search, get_searcher
from tunefleet.search.history import OldTrial, fit_history
from tunefleet.search.spaces import parse_space

SPACE = parse_space(
    {
        "lr": {"loguniform": [1.0e-4, 1.0e-1]},
        "width": {"choice": [16, 64, 128]},
        "layers": {"randint": [1, 4]},
        "batch_size": {"quniform": [16, 128, 16]},
        "optimizer": {
            "conditional": {"sgd": {}, "momentum": {"momentum": {"uniform": [0.8, 0.99]}}, "adam": {}}
        },
        "epochs": 3,
    },
    "exp.yaml",
)

HISTORY = [
    EvaluatedPoint(
        {"lr": 0.01, "width": 64, "layers": 2, "batch_size": 32, "optimizer": "sgd", "momentum": None}, 0.91
    ),
    EvaluatedPoint(
        {"lr": 0.001, "width": 16, "layers": 1, "batch_size": 128, "optimizer": "momentum", "momentum": 0.9},
        0.85,
    ),
    EvaluatedPoint(
        {"lr": 0.05, "width": 128, "layers": 3, "batch_size": 16, "optimizer": "adam", "momentum": None}, 0.5
    ),
    EvaluatedPoint(
        {"lr": 0.1, "width": 16, "layers": 3, "batch_size": 64, "optimizer": "adam", "momentum": None},
        math.nan,
    ),
]


def hyperopt_search(history: list[EvaluatedPoint], mode: str = "max") -> Any:
    settings = SearchSettings(algorithm="hyperopt", seed=0, n_initial_points=2)
    search_alg, _ = build_search(settings, SPACE, "accuracy", mode, history=history)
    return search_alg


def recorded_configs(search_alg: Any) -> list[dict[str, Any]]:
    """Each finished Hyperopt trial's configuration, decoded by Hyperopt from its records."""
    from hyperopt import space_eval

    from tunefleet.search.hyperopt.space import flatten_conditionals, to_hyperopt

    configs = []
    for trial in search_alg._hpopt_trials.trials:
        drawn = {label: values[0] for label, values in trial["misc"]["vals"].items() if values}
        config = flatten_conditionals(space_eval(to_hyperopt(SPACE), drawn), SPACE)
        configs.append({k: v for k, v in config.items() if k != "epochs"})
    return configs


@pytest.mark.parametrize("mode", ["max", "min"])
def test_hyperopt_warm_start_holds_exactly_the_old_results(mode: str) -> None:
    search_alg = hyperopt_search(HISTORY, mode)

    trials = search_alg._hpopt_trials
    assert len(trials.trials) == len(HISTORY)
    sign = -1.0 if mode == "max" else 1.0
    # Hyperopt minimizes: a max metric is negated; a diverged trial is the worst loss there is.
    assert trials.losses() == [sign * 0.91, sign * 0.85, sign * 0.5, math.inf]
    assert recorded_configs(search_alg) == [point.config for point in HISTORY]


def test_hyperopt_proposes_from_the_model_once_warm() -> None:
    # n_initial_points 2 < 4 old trials: the first proposal is TPE's, and a value of the space.
    search_alg = hyperopt_search(HISTORY)
    config = search_alg.suggest("new-trial")
    assert all(SPACE[k].contains(v) for k, v in config.items() if k in SPACE)
    assert len(search_alg._hpopt_trials.trials) == len(HISTORY) + 1


def test_searcher_without_history_is_built_as_before() -> None:
    search_alg = hyperopt_search([])
    assert search_alg._hpopt_trials.trials == []


@pytest.mark.parametrize("mode", ["max", "min"])
def test_optuna_warm_start_holds_exactly_the_old_results(mode: str) -> None:
    settings = SearchSettings.model_validate({"algorithm": "optuna", "sampler": "tpe", "seed": 0})
    search_alg, _ = build_search(settings, SPACE, "accuracy", mode, history=HISTORY)

    trials = search_alg.study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE"] * len(HISTORY)
    # A diverged trial is the worst value there is in the study's direction.
    worst = -math.inf if mode == "max" else math.inf
    assert [t.value for t in trials] == [0.91, 0.85, 0.5, worst]
    # The study's parameters decode back to the flat configs (branch hyperparameters included).
    configs = [search_alg.suggest_config(optuna_trial_of(t)) for t in trials]
    assert [{k: v for k, v in c.items() if k != "epochs"} for c in configs] == [p.config for p in HISTORY]
    # Then the sampler proposes a new configuration of the space.
    config = search_alg.suggest("after-warm-start")
    assert all(SPACE[k].contains(v) for k, v in config.items() if k in SPACE and v is not None)


def optuna_trial_of(frozen: Any) -> Any:
    import optuna

    return optuna.trial.FixedTrial(frozen.params)


def test_searchers_that_do_not_learn_from_results_take_no_history() -> None:
    # Their proposals do not depend on results: the old trials are history only.
    assert get_searcher("random").warm_start is None
    assert get_searcher("grid").warm_start is None


# -- old trials against a changed space ------------------------------------------------------


def old(trial_id: str, value: float = 0.5, **config: Any) -> OldTrial:
    base = {
        "lr": 0.01,
        "width": 64,
        "layers": 2,
        "batch_size": 32,
        "optimizer": "sgd",
        "momentum": None,
        "epochs": 3,
    }
    return OldTrial(trial_id, {**base, **config}, value)


def test_trials_inside_the_new_space_are_fed_with_their_sampled_keys_only() -> None:
    fit = fit_history(
        [old("a", max_iterations=10), old("b", 0.7, optimizer="momentum", momentum=0.95)], SPACE
    )
    assert fit.outside == [] and fit.report() is None
    assert fit.point_ids == ["a", "b"]
    assert fit.points[1] == EvaluatedPoint(
        {"lr": 0.01, "width": 64, "layers": 2, "batch_size": 32, "optimizer": "momentum", "momentum": 0.95},
        0.7,
    )


def test_trials_outside_a_narrowed_space_are_reported_with_the_reason() -> None:
    narrowed = {
        **SPACE,
        **parse_space({"lr": {"loguniform": [1.0e-4, 1.0e-2]}, "width": {"choice": [16, 64]}}, "x"),
    }
    trials = [old("a", lr=0.05), old("b", lr=0.02), old("c", width=128), old("d"), old("e", lr=1.0e-5)]

    fit = fit_history(trials, narrowed)

    assert fit.point_ids == ["d"]
    assert fit.outside == [
        ("a", "lr 0.05 > 0.01"),
        ("b", "lr 0.02 > 0.01"),
        ("c", "width 128 is no longer offered (choice [16, 64])"),
        ("e", "lr 1e-05 < 0.0001"),
    ]
    assert fit.report() == (
        "4 of 5 old trials are outside the new space and are not fed to the searcher (they stay in "
        "the history): lr 0.05 > 0.01 (1 trial); lr 0.02 > 0.01 (1 trial); width 128 is no longer "
        "offered (choice [16, 64]) (1 trial); lr 1e-05 < 0.0001 (1 trial)"
    )


def test_a_branch_hyperparameter_is_checked_only_when_its_branch_was_taken() -> None:
    narrowed = {
        **SPACE,
        **parse_space(
            {"optimizer": {"conditional": {"sgd": {}, "momentum": {"momentum": {"uniform": [0.8, 0.9]}}}}},
            "x",
        ),
    }
    fit = fit_history(
        [old("a"), old("b", optimizer="momentum", momentum=0.95), old("c", optimizer="adam")], narrowed
    )
    assert fit.point_ids == ["a"]
    assert [reason for _, reason in fit.outside] == [
        "momentum 0.95 > 0.9",
        "optimizer 'adam' is no longer offered (conditional ['sgd', 'momentum'])",
    ]


def test_an_added_key_takes_the_default_and_a_removed_key_must_have_had_it() -> None:
    grown = {**SPACE, **parse_space({"dropout": {"uniform": [0.0, 0.5]}}, "x")}
    assert fit_history([old("a")], grown).outside == [
        ("a", "dropout was not in the old space and has no default")
    ]
    assert fit_history([old("a")], grown, {"dropout": 0.1}).points[0].config["dropout"] == 0.1

    shrunk = {k: v for k, v in SPACE.items() if k != "width"}
    fit = fit_history([old("a", width=64), old("b", width=128)], shrunk, {"width": 128})
    assert fit.point_ids == ["b"]
    assert fit.outside == [("a", "width 64 was removed from the space (now the default 128)")]


def test_a_hyperparameter_now_constant_must_have_had_that_value() -> None:
    fixed = {**SPACE, **parse_space({"width": 64}, "x")}
    fit = fit_history([old("a"), old("b", width=16)], fixed)
    assert fit.point_ids == ["a"] and "width" not in fit.points[0].config
    assert fit.outside == [("b", "width 16 != 64 (now fixed)")]
