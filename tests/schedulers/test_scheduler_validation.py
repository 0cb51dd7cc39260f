"""Scheduler options are validated with the rest of the experiment: key, expectation, fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tunefleet.config import load_experiment
from tunefleet.errors import ConfigError
from tunefleet.schedulers import SchedulerPlugin
from tunefleet.schedulers.fifo import FifoOptions
from tunefleet.schedulers.population import ray_mutations
from tunefleet.search.spaces import parse_space

BASE = """\
trainable: digits_mlp
metric: val_accuracy
mode: max
num_samples: 4
max_iterations: 8
space:
  lr: {loguniform: [1.0e-4, 1.0e-1]}
  momentum: {uniform: [0.8, 0.99]}
  optimizer: momentum
"""
PBT = """\
scheduler:
  type: pbt
  perturbation_interval: 2
  mutations: {lr: {loguniform: [1.0e-4, 1.0e-1]}, momentum: {uniform: [0.8, 0.99]}}
"""


def problems(write_experiment: Callable[..., Path], text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_experiment(write_experiment(text))
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "scheduler: {type: hyperband, grace_period: 2}\n",
            "scheduler.grace_period: unknown key; expected one of: reduction_factor, stop_last_trials",
        ),
        (
            "scheduler: {type: median_stopping, grace_period: 9}\n",
            "scheduler.grace_period: expected at most max_iterations (8), got 9",
        ),
        ("scheduler: {type: pbt}\n", "scheduler.mutations: required key is missing"),
        (
            PBT.replace("perturbation_interval: 2", "perturbation_interval: 8"),
            "scheduler.perturbation_interval: expected less than max_iterations (8), got 8: no trial would ever be perturbed",
        ),
        (
            PBT + "search: {algorithm: hyperopt}\n",
            "scheduler.type: a population needs search.algorithm grid or random to create its members, not hyperopt (Ray's PBT refuses model-based searchers)",
        ),
        (
            PBT + "checkpoint: {frequency: 3}\n",
            "scheduler.perturbation_interval: checkpoint.frequency is 3: under PBT trials checkpoint every perturbation_interval (2) iterations; remove checkpoint.frequency or set it to the same value",
        ),
        (
            PBT.replace("momentum: {uniform: [0.8, 0.99]}}", "momentum: {grid: [0.8, 0.9]}}"),
            "scheduler.mutations.momentum: expected a distribution or a choice to perturb, got grid",
        ),
        (
            PBT.replace("momentum: {uniform: [0.8, 0.99]}}", "momentum: {uniform: [0.8, 1.5]}}"),
            "scheduler.mutations.momentum.uniform: 1.5 is not a valid momentum: Input should be less than 1",
        ),
        (
            PBT.replace("momentum: {uniform: [0.8, 0.99]}}", "momentun: {uniform: [0.8, 0.99]}}"),
            "scheduler.mutations.momentun: digits_mlp has no hyperparameter 'momentun' (did you mean 'momentum'?)",
        ),
        (
            PBT.replace("quantile_fraction", "x").replace("type: pbt", "type: pbt\n  quantile_fraction: 0.7"),
            "scheduler.quantile_fraction: Input should be less than or equal to 0.5, got 0.7",
        ),
        (
            PBT.replace("type: pbt", "type: pb2").replace("{uniform: [0.8, 0.99]}}", "{choice: [0.8, 0.9]}}"),
            "scheduler.mutations.momentum: pb2 needs a range [low, high] to model, got choice",
        ),
        (
            "scheduler: {type: bohb}\n",
            "scheduler.type: search.algorithm bohb and scheduler bohb only run together; got search.algorithm random with scheduler bohb: use both, or neither",
        ),
        (
            "search: {algorithm: bohb}\n",
            "search.algorithm: search.algorithm bohb and scheduler bohb only run together; got search.algorithm bohb with scheduler fifo: use both, or neither",
        ),
    ],
)
def test_bad_scheduler_options_are_reported_with_their_key(
    write_experiment: Callable[..., Path], extra: str, expected: str
) -> None:
    found = problems(write_experiment, BASE + extra)
    assert any(p.startswith(expected) for p in found), found


def test_bohb_search_rejects_what_a_configspace_cannot_express(write_experiment: Callable[..., Path]) -> None:
    text = BASE.replace("optimizer: momentum", "optimizer: {conditional: {sgd: {}, momentum: {}}}")
    found = problems(write_experiment, text + "search: {algorithm: bohb}\nscheduler: {type: bohb}\n")
    assert (
        "space.optimizer.conditional: search.algorithm bohb (a ConfigSpace) cannot express conditional "
        "values; use algorithm random or hyperopt"
    ) in found


def test_a_missing_optional_dependency_names_the_extra_to_install() -> None:
    plugin = SchedulerPlugin(
        name="x", options=FifoOptions, build=lambda o, c: None, requires=(("no_such_module_xyz", "x"),)
    )
    assert plugin.missing_dependencies() == ["no_such_module_xyz (pip install 'tunefleet[x]')"]


def test_pbt_checkpoints_every_perturbation_interval(write_experiment: Callable[..., Path]) -> None:
    experiment = load_experiment(write_experiment(BASE + PBT))
    assert experiment.scheduler.checkpoint_frequency(experiment.scheduler_options) == 2


def test_mutations_reuse_the_space_syntax_and_stay_in_bounds() -> None:
    space = parse_space(
        {
            "lr": {"loguniform": [1e-3, 1e-1]},
            "batch_size": {"choice": [32, 64, 128]},
            "k": {"quniform": [2, 8, 2]},
        },
        "test",
    )
    mutations = ray_mutations(space)
    assert mutations["batch_size"] == [32, 64, 128]  # a list: explore moves to a neighbour
    assert mutations["lr"].lower == 1e-3
    assert space["lr"].clip(0.12) == 1e-1 and space["lr"].clip(5e-4) == 1e-3
    assert space["k"].clip(9.7) == 8 and space["k"].clip(4.9) == 4
