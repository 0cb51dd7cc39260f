"""TrainingHyperparams: defaults, ranges, readable errors, and what searchers hand over."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tunefleet.trainables import TrainingHyperparams
from tunefleet.trainables.tasks import (
    CNNHyperparams,
    MLPHyperparams,
    Mnist1dCNNHyperparams,
)


def _errors(model: type[TrainingHyperparams], config: dict[str, Any]) -> list[str]:
    """Validation errors as 'key: message', the form experiment validation shows users."""
    with pytest.raises(ValidationError) as info:
        model.from_config(config)
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dropout", 1.0, "dropout: Input should be less than 1"),
        ("dropout", -0.1, "dropout: Input should be greater than or equal to 0"),
        ("lr", 0.0, "lr: Input should be greater than 0"),
        ("momentum", 1.0, "momentum: Input should be less than 1"),
        ("beta1", 1.0, "beta1: Input should be less than 1"),
        ("beta2", -0.5, "beta2: Input should be greater than or equal to 0"),
        ("weight_decay", -1e-4, "weight_decay: Input should be greater than or equal to 0"),
        ("l1", -1.0, "l1: Input should be greater than or equal to 0"),
        ("batch_size", 0, "batch_size: Input should be greater than or equal to 1"),
        ("batch_size", 64.5, "batch_size: Input should be a valid integer"),
        ("lr_gamma", 0.0, "lr_gamma: Input should be greater than 0"),
        ("lr_gamma", 1.5, "lr_gamma: Input should be less than or equal to 1"),
        ("lr_step_every", 0, "lr_step_every: Input should be greater than or equal to 1"),
        ("steps_per_iteration", 0, "steps_per_iteration: Input should be greater than or equal"),
        ("early_stopping_patience", 0, "early_stopping_patience: Input should be greater than"),
        ("early_stopping_min_delta", -1.0, "early_stopping_min_delta: Input should be greater"),
        ("max_iterations", 0, "max_iterations: Input should be greater than or equal to 1"),
        ("val_fraction", 0.0, "val_fraction: Input should be greater than 0"),
        ("val_fraction", 0.6, "val_fraction: Input should be less than or equal to 0.5"),
        ("seed", -1, "seed: Input should be greater than or equal to 0"),
        ("optimizer", "lbfgs", "optimizer: Input should be 'sgd', 'momentum', 'adam', 'adamw'"),
        ("lr_schedule", "linear", "lr_schedule: Input should be 'constant', 'step'"),
        ("init", "orthogonal", "init: Input should be 'default', 'xavier' or 'he'"),
        ("activation", "swish", "activation: Input should be 'relu', 'leaky_relu', 'gelu'"),
    ],
)
def test_hyperparams_reject_out_of_range_values(key: str, value: Any, message: str) -> None:
    errors = _errors(TrainingHyperparams, {key: value})
    assert len(errors) == 1
    assert errors[0].startswith(message)


_TASK_RANGE_CASES = [
    pytest.param(model, key, value, id=f"{model.__name__}-{key}")
    for model in (MLPHyperparams, CNNHyperparams, Mnist1dCNNHyperparams)
    for key, value in [("lr", 0.0), ("batch_size", 0), ("dropout", 1.0), ("hidden", 0), ("channels", 0)]
    if key in model.model_fields
]


@pytest.mark.parametrize(("model", "key", "value"), _TASK_RANGE_CASES)
def test_task_hyperparams_keep_the_base_ranges(
    model: type[TrainingHyperparams], key: str, value: Any
) -> None:
    # Tasks override some defaults (Mnist1dCNN: lr, batch_size, dropout); the ranges must stay.
    assert _errors(model, {key: value})[0].startswith(f"{key}: Input should be")


def test_unknown_key_is_rejected() -> None:
    assert _errors(TrainingHyperparams, {"learning_rate": 1e-3}) == [
        "learning_rate: Extra inputs are not permitted"
    ]


def test_defaults_match_the_documented_values() -> None:
    hp = TrainingHyperparams()
    assert (hp.seed, hp.lr, hp.optimizer, hp.batch_size, hp.lr_schedule) == (
        0,
        1e-3,
        "adam",
        64,
        "constant",
    )
    assert (hp.momentum, hp.beta1, hp.beta2, hp.weight_decay, hp.l1, hp.dropout) == (
        0.9,
        0.9,
        0.999,
        0.0,
        0.0,
        0.0,
    )
    assert (hp.steps_per_iteration, hp.max_iterations, hp.val_fraction) == (100, 100, 0.2)
    assert hp.early_stopping_patience is None and hp.early_stopping_min_delta == 0.0
    assert (hp.init, hp.activation, hp.nesterov) == ("default", "relu", False)


def test_numpy_scalars_from_searchers_become_python_values() -> None:
    hp = MLPHyperparams.from_config(
        {
            "lr": np.float64(3e-3),
            "batch_size": np.int64(128),
            "hidden": np.int32(50),
            "nesterov": np.bool_(True),
            "optimizer": np.str_("momentum"),
            "dropout": np.float32(0.25),
        }
    )
    assert hp.lr == 3e-3 and type(hp.lr) is float
    assert hp.batch_size == 128 and type(hp.batch_size) is int
    assert hp.hidden == 50 and type(hp.hidden) is int
    assert hp.nesterov is True
    assert hp.optimizer == "momentum" and type(hp.optimizer) is str
    assert hp.dropout == 0.25


def test_integral_floats_are_accepted_for_integer_knobs() -> None:
    # hyperopt's quniform samples 128.0, not 128.
    assert TrainingHyperparams.from_config({"batch_size": 128.0}).batch_size == 128


def test_ray_reserved_keys_are_ignored() -> None:
    hp = TrainingHyperparams.from_config({"lr": 0.1, "__trial_info__": object()})
    assert hp.lr == 0.1


@pytest.mark.parametrize(("alias", "scheme"), [("glorot", "xavier"), ("kaiming", "he")])
def test_init_accepts_common_aliases(alias: str, scheme: str) -> None:
    assert TrainingHyperparams(init=alias).init == scheme  # type: ignore[arg-type]


def test_schedule_defaults_depend_on_schedule_and_budget() -> None:
    assert TrainingHyperparams(lr_schedule="step").effective_lr_gamma == 0.5
    assert TrainingHyperparams(lr_schedule="exponential").effective_lr_gamma == 0.9
    assert TrainingHyperparams(lr_schedule="step", lr_gamma=0.2).effective_lr_gamma == 0.2
    assert TrainingHyperparams(max_iterations=30).effective_lr_step_every == 10
    assert TrainingHyperparams(max_iterations=2).effective_lr_step_every == 1
    assert TrainingHyperparams(max_iterations=30, lr_step_every=4).effective_lr_step_every == 4


def test_hyperparams_are_immutable() -> None:
    hp = TrainingHyperparams()
    with pytest.raises(ValidationError):
        hp.lr = 1.0
