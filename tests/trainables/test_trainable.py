"""The TorchTrainable contract: reported metrics, exact checkpoints, actor reuse, early stopping.

Trainables are instantiated directly (no Ray cluster): ``train()`` and ``save()``/``restore()``
are the same methods Tune calls on the actor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from tunefleet.trainables import (
    DigitsCNN,
    DigitsMLP,
    LinearRegression,
    Mnist1dCNN,
    Mnist1dMLP,
    TorchTrainable,
    TrainingHyperparams,
)
from tunefleet.trainables.base import CHECKPOINT_FILE
from tunefleet.trainables.cost import count_parameters
from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.schedules import lr_multiplier

from .helpers import (
    assert_restore_continues_exactly,
    assert_same_tensors,
    deterministic_metrics,
    same_weights,
)

BUILTINS: list[type[TorchTrainable[Any]]] = [
    Mnist1dMLP,
    Mnist1dCNN,
    DigitsMLP,
    DigitsCNN,
    LinearRegression,
]

#: Small DigitsMLP trial: 1150 training images, so 100-image batches leave a ragged epoch end.
DIGITS: dict[str, Any] = {
    "hidden": 32,
    "steps_per_iteration": 25,
    "batch_size": 100,
    "max_iterations": 4,
}


def _run(
    cls: type[TorchTrainable[Any]], config: dict[str, Any], iterations: int
) -> tuple[Any, list[dict[str, Any]]]:
    trainable = cls(config=dict(config))  # Ray pops its keys from the dict it is given
    return trainable, [trainable.train() for _ in range(iterations)]


# ------------------------------------------------------------------------ reported metrics


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda c: c.__name__)
def test_every_builtin_reports_exactly_its_declared_metrics(cls: type[TorchTrainable[Any]]) -> None:
    trainable = cls(config={"steps_per_iteration": 3, "batch_size": 16})
    result = trainable.step()
    assert set(result) - {"done"} == trainable.reported_metrics()
    assert result["done"] is False and result["early_stopped"] is False
    assert result["global_step"] == 3 and type(result["global_step"]) is int
    assert result["diverged"] is False
    assert result["world_size"] == 1 and type(result["world_size"]) is int  # one process
    assert result["params"] == count_parameters(trainable.model) and type(result["params"]) is int
    assert result["latency_ms"] > 0
    counters = {"early_stopped", "diverged", "global_step", "world_size", "params"}
    for name in trainable.reported_metrics() - counters:
        value = result[name]
        assert type(value) is float and torch.isfinite(torch.tensor(value)), name


def test_reported_metrics_depend_on_the_task() -> None:
    assert "val_accuracy" in DigitsMLP.reported_metrics()
    assert "val_r2" in LinearRegression.reported_metrics()
    assert "val_accuracy" not in LinearRegression.reported_metrics()
    assert {"val_loss", "train_loss", "lr"} <= LinearRegression.reported_metrics()


def test_counters_and_lr_describe_the_iteration() -> None:
    config = {
        "lr": 0.1,
        "lr_schedule": "step",
        "lr_step_every": 1,
        "steps_per_iteration": 10,
        "batch_size": 64,
    }
    trainable, results = _run(LinearRegression, config, 2)
    n_train = len(trainable.data.x_train)
    assert [r["global_step"] for r in results] == [10, 20]
    # The lr the iteration's last step used: halved after the first 10 steps.
    assert [r["lr"] for r in results] == [0.1, 0.05]
    assert results[0]["epoch"] == pytest.approx(640 / n_train)
    assert results[1]["epoch"] == pytest.approx(1 + (1280 - n_train) / n_train)


def test_batch_larger_than_training_set_is_capped_to_full_batch() -> None:
    _, results = _run(LinearRegression, {"batch_size": 10**6, "steps_per_iteration": 3}, 1)
    assert results[0]["epoch"] == 3.0


def test_training_learns() -> None:
    _, regression = _run(LinearRegression, {"lr": 0.05, "steps_per_iteration": 50}, 3)
    assert regression[-1]["val_r2"] > 0.9
    _, digits = _run(DigitsMLP, {"steps_per_iteration": 50}, 3)
    assert digits[-1]["val_accuracy"] > 0.9
    assert digits[-1]["train_loss"] < digits[0]["train_loss"]


def test_numpy_scalars_in_config_are_accepted() -> None:
    import numpy as np

    trainable = DigitsMLP(config={"lr": np.float64(1e-3), "hidden": np.int64(8), "steps_per_iteration": 1})
    assert trainable.hp.hidden == 8
    trainable.train()


def test_runs_on_cpu_outside_ray() -> None:
    trainable = DigitsMLP(config={"hidden": 8, "steps_per_iteration": 1})
    assert trainable.device == torch.device("cpu")
    assert trainable.data.x_train.device.type == "cpu"
    assert next(trainable.model.parameters()).device.type == "cpu"


# ------------------------------------------------------------------------ reproducibility


def test_same_config_reproduces_and_seed_changes_results() -> None:
    config = {**DIGITS, "dropout": 0.3}
    a, results_a = _run(DigitsMLP, config, 2)
    b, results_b = _run(DigitsMLP, config, 2)
    c, _ = _run(DigitsMLP, {**config, "seed": 1}, 2)
    assert [deterministic_metrics(a, r) for r in results_a] == [
        deterministic_metrics(b, r) for r in results_b
    ]
    assert same_weights(a.model, b.model)
    assert not same_weights(a.model, c.model)


def test_seed_alone_determines_initial_weights() -> None:
    config = {**DIGITS, "dropout": 0.3}
    torch.manual_seed(1)
    a = DigitsMLP(config=dict(config))
    torch.manual_seed(2)  # whatever state the process is in
    b = DigitsMLP(config=dict(config))
    c = DigitsMLP(config={**config, "seed": 1})
    assert same_weights(a.model, b.model)
    assert not same_weights(a.model, c.model)


def test_trials_leave_the_process_random_state_alone() -> None:
    torch.manual_seed(5)
    before = torch.get_rng_state()
    _run(DigitsMLP, {**DIGITS, "dropout": 0.3, "steps_per_iteration": 2}, 2)
    assert torch.equal(torch.get_rng_state(), before)


def test_trials_in_one_process_do_not_share_random_streams() -> None:
    # Dropout draws from torch's global generator; each trial must still see only its own.
    config = {**DIGITS, "dropout": 0.3}
    alone, _ = _run(DigitsMLP, config, 2)
    a = DigitsMLP(config=dict(config))
    b = DigitsMLP(config={**config, "seed": 1})
    for _ in range(2):
        a.train()
        b.train()
        torch.rand(100)  # anything else the process does between iterations
    assert same_weights(a.model, alone.model)


# ------------------------------------------------------------------------ checkpoints

CHECKPOINT_CASES = [
    pytest.param(
        DigitsMLP,
        {**DIGITS, "dropout": 0.3, "l1": 1e-5, "lr_schedule": "step", "lr_step_every": 1},
        id="digits_mlp-adam-step",
    ),
    pytest.param(
        Mnist1dCNN,
        {
            "channels": 8,
            "dropout": 0.2,
            "optimizer": "momentum",
            "nesterov": True,
            "lr": 0.05,
            "lr_schedule": "cosine",
            "steps_per_iteration": 25,
            "batch_size": 96,
            "max_iterations": 4,
        },
        id="mnist1d_cnn-nesterov-cosine",
    ),
    pytest.param(
        DigitsCNN,
        {
            "channels": 4,
            "dropout": 0.3,
            "optimizer": "rmsprop",
            "lr_schedule": "exponential",
            "steps_per_iteration": 25,
            "batch_size": 100,
            "max_iterations": 4,
        },
        id="digits_cnn-rmsprop-exponential",
    ),
    pytest.param(
        LinearRegression,
        {
            "optimizer": "adamw",
            "weight_decay": 0.01,
            "lr_schedule": "inverse_sqrt",
            "steps_per_iteration": 25,
            "batch_size": 100,
            "max_iterations": 4,
        },
        id="linear_regression-adamw-inverse_sqrt",
    ),
    pytest.param(
        DigitsCNN,
        {
            "channels": 4,
            "dropout": 0.3,
            "precision": "bf16",
            "channels_last": True,
            "grad_accumulation": 3,
            "grad_clip": 0.5,
            "optimizer": "momentum",
            "lr": 0.05,
            "steps_per_iteration": 6,
            "batch_size": 100,
            "max_iterations": 4,
        },
        id="digits_cnn-bf16-channels_last-accumulation-clip",
    ),
    # fp16 on the CPU is slow and refused by experiment validation, but torch runs it: here it
    # exercises the gradient scaler (enabled, with state) through a checkpoint.
    pytest.param(
        DigitsMLP,
        {
            "hidden": 16,
            "dropout": 0.3,
            "precision": "fp16",
            "grad_clip": 1.0,
            "steps_per_iteration": 6,
            "batch_size": 100,
            "max_iterations": 4,
        },
        id="digits_mlp-fp16-scaler-clip",
    ),
]


@pytest.mark.parametrize(("cls", "config"), CHECKPOINT_CASES)
def test_checkpoint_restore_continues_bit_identically(
    cls: type[TorchTrainable[Any]], config: dict[str, Any], tmp_path: Path
) -> None:
    assert_restore_continues_exactly(cls, config, tmp_path)


def test_checkpoint_is_one_file_of_plain_values(tmp_path: Path) -> None:
    trainable, _ = _run(DigitsMLP, {**DIGITS, "steps_per_iteration": 2}, 1)
    assert trainable.save_checkpoint(str(tmp_path)) is None
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert state["global_step"] == 2
    assert state["hyperparams"] == trainable.hp.model_dump()
    assert state["format"] == 2
    assert {"model", "optimizer", "scheduler", "grad_scaler", "data_position", "rng"} <= set(state)
    assert {"epochs_completed", "permutation", "position", "generator"} == set(state["data_position"])


#: A format-1 checkpoint, written by tunefleet at commit 4cdf5a0 (before mixed precision and
#: streamed data) after 1 iteration of FORMAT1["config"], and that version's weights after 3.
FORMAT1 = Path(__file__).parent / "data" / "format1"
FORMAT1_EXPECTED = Path(__file__).parent / "data" / "format1_expected_after_3_iterations.pt"


def test_format1_checkpoint_of_the_previous_version_continues_bit_identically() -> None:
    # A user's sweep started before the upgrade resumes after it, exactly where it was.
    expected = torch.load(FORMAT1_EXPECTED, weights_only=True)
    assert torch.load(FORMAT1 / CHECKPOINT_FILE, weights_only=True)["format"] == 1
    resumed = DigitsMLP(config=dict(expected["config"]))
    resumed.load_checkpoint(str(FORMAT1))
    for _ in range(2):
        resumed.train()
    assert resumed.global_step == expected["global_step"]
    assert_same_tensors(resumed.model.state_dict(), expected["model"])
    assert_same_tensors(resumed.optimizer.state_dict(), expected["optimizer"])


def test_checkpoint_of_an_unknown_format_is_refused_naming_the_file(tmp_path: Path) -> None:
    trainable, _ = _run(DigitsMLP, {**DIGITS, "steps_per_iteration": 1}, 1)
    trainable.save_checkpoint(str(tmp_path))
    state = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    torch.save({**state, "format": 99}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(ValueError, match=r"state\.pt: unknown checkpoint format 99"):
        trainable.load_checkpoint(str(tmp_path))


def test_restore_with_changed_hyperparameters_keeps_state_and_applies_new_values(
    tmp_path: Path,
) -> None:
    # A PBT exploit: Tune resets the actor to the mutated config, then restores the checkpoint.
    config = {**DIGITS, "lr": 1e-3, "lr_schedule": "step", "lr_step_every": 1}
    source, _ = _run(DigitsMLP, config, 2)
    checkpoint = source.save(str(tmp_path / "checkpoint"))

    mutated = {**config, "lr": 4e-3, "beta1": 0.5, "dropout": 0.5}
    target = DigitsMLP(config=dict(config))
    assert target.reset(dict(mutated))
    target.restore(checkpoint)

    assert same_weights(target.model, source.model)
    assert target.global_step == 50
    group = target.optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(4e-3 * lr_multiplier(target.hp)(50))
    assert group["betas"] == (0.5, 0.999)
    # The moment estimates carry over; only the hyperparameters changed.
    assert_same_tensors(target.optimizer.state_dict()["state"], source.optimizer.state_dict()["state"])
    assert all(m.p == 0.5 for m in target.model.modules() if isinstance(m, torch.nn.Dropout))

    result = target.train()
    assert result["global_step"] == 75
    assert result["lr"] == pytest.approx(4e-3 * lr_multiplier(target.hp)(74))


def test_restore_with_another_optimizer_starts_its_state_fresh(tmp_path: Path) -> None:
    source, _ = _run(DigitsMLP, DIGITS, 1)
    checkpoint = source.save(str(tmp_path / "checkpoint"))
    target = DigitsMLP(config={**DIGITS, "optimizer": "momentum", "lr": 0.01})
    target.restore(checkpoint)
    assert same_weights(target.model, source.model)
    assert isinstance(target.optimizer, torch.optim.SGD) and not target.optimizer.state
    assert target.optimizer.param_groups[0]["lr"] == 0.01
    target.train()


def test_restore_into_another_architecture_names_the_changed_knob(tmp_path: Path) -> None:
    source, _ = _run(DigitsMLP, {**DIGITS, "steps_per_iteration": 1}, 1)
    checkpoint = source.save(str(tmp_path / "checkpoint"))
    target = DigitsMLP(config={**DIGITS, "hidden": 64})
    with pytest.raises(ValueError, match=r"changed: hidden"):
        target.restore(checkpoint)


# ------------------------------------------------------------------------ actor reuse


def test_reset_config_matches_fresh_trial() -> None:
    config_a = {**DIGITS, "steps_per_iteration": 20}
    config_b = {
        **DIGITS,
        "hidden": 48,
        "seed": 7,
        "optimizer": "momentum",
        "lr": 0.05,
        "dropout": 0.2,
        "lr_schedule": "cosine",
        "batch_size": 50,
        "steps_per_iteration": 20,
        "early_stopping_patience": 5,
    }
    reused, _ = _run(DigitsMLP, config_a, 2)
    assert reused.reset(dict(config_b))  # what Tune calls with reuse_actors=True
    reused_results = [reused.train() for _ in range(3)]
    fresh, fresh_results = _run(DigitsMLP, config_b, 3)

    assert [deterministic_metrics(reused, r) for r in reused_results] == [
        deterministic_metrics(fresh, r) for r in fresh_results
    ]
    assert [r["training_iteration"] for r in reused_results] == [1, 2, 3]
    assert_same_tensors(reused.model.state_dict(), fresh.model.state_dict())
    assert_same_tensors(reused.optimizer.state_dict(), fresh.optimizer.state_dict())


def test_reset_config_discards_previous_weights() -> None:
    config = {**DIGITS, "early_stopping_patience": 1, "early_stopping_min_delta": 1e9}
    trainable = DigitsMLP(config=dict(config))
    initial = {k: v.clone() for k, v in trainable.model.state_dict().items()}
    results = [trainable.train() for _ in range(2)]
    assert results[-1]["early_stopped"]
    trained = {k: v.clone() for k, v in trainable.model.state_dict().items()}

    assert trainable.reset_config(dict(config)) is True
    after = trainable.model.state_dict()
    assert_same_tensors(after, initial)
    assert not all(torch.equal(after[k], trained[k]) for k in after)
    assert trainable.global_step == 0 and not trainable.optimizer.state
    assert trainable.optimizer.param_groups[0]["lr"] == trainable.hp.lr
    assert trainable.train()["early_stopped"] is False


class _CountingDigits(DigitsMLP):
    loads: ClassVar[int] = 0

    def load_data(self, hp: Any) -> DataSplits:
        type(self).loads += 1
        return super().load_data(hp)


def test_reset_config_reuses_loaded_data() -> None:
    config = {**DIGITS, "steps_per_iteration": 1}
    trainable = _CountingDigits(config=dict(config))
    assert _CountingDigits.loads == 1
    trainable.reset_config({**config, "seed": 3, "lr": 0.01, "hidden": 16})
    _CountingDigits(config=dict(config))
    assert _CountingDigits.loads == 1
    # val_fraction decides the split, so changing it loads again.
    trainable.reset_config({**config, "val_fraction": 0.3})
    assert _CountingDigits.loads == 2
    assert len(trainable.data.x_val) == round(0.3 * 1437)


# ------------------------------------------------------------------------ early stopping


def test_early_stopping_sets_done() -> None:
    # With min_delta this large only the first evaluation counts as an improvement.
    config = {
        "steps_per_iteration": 5,
        "early_stopping_patience": 2,
        "early_stopping_min_delta": 1e9,
    }
    _, results = _run(LinearRegression, config, 3)
    assert [r["done"] for r in results] == [False, False, True]
    assert [r["early_stopped"] for r in results] == [False, False, True]


def test_improving_trial_does_not_stop_early() -> None:
    config = {"lr": 0.01, "steps_per_iteration": 20, "early_stopping_patience": 1}
    _, results = _run(LinearRegression, config, 4)
    assert not any(r["done"] or r["early_stopped"] for r in results)


def test_no_patience_means_no_early_stopping() -> None:
    _, results = _run(LinearRegression, {"steps_per_iteration": 2, "early_stopping_min_delta": 1e9}, 3)
    assert not any(r["done"] for r in results)


# ------------------------------------------------------------------------ subclassing


def test_subclass_declarations_are_checked_at_definition() -> None:
    with pytest.raises(TypeError, match="task must be"):

        class _BadTask(DigitsMLP):
            task = "ranking"  # type: ignore[assignment]

    with pytest.raises(TypeError, match="unknown hyperparameters"):

        class _BadDataKeys(DigitsMLP):
            data_hyperparams = ("val_fraction", "image_size")

    with pytest.raises(TypeError, match="must subclass TrainingHyperparams"):

        class _BadHyperparams(DigitsMLP):
            Hyperparams = dict  # type: ignore[assignment]


def test_a_minimal_subclass_gets_the_whole_loop() -> None:
    class Hyperparams(TrainingHyperparams):
        width: int = 4

    class Tiny(TorchTrainable[Hyperparams]):
        task = "regression"

        def load_data(self, hp: Hyperparams) -> DataSplits:
            from tunefleet.trainables.data import make_linear_regression

            return make_linear_regression(n=100, d=3, val_fraction=hp.val_fraction)

        def build_model(self, hp: Hyperparams, data: DataSplits) -> torch.nn.Module:
            return torch.nn.Sequential(torch.nn.Linear(3, hp.width), torch.nn.Linear(hp.width, 1))

    Tiny.Hyperparams = Hyperparams
    trainable = Tiny(config={"width": 2, "steps_per_iteration": 2})
    assert set(trainable.train()) >= Tiny.reported_metrics()


# ------------------------------------------------------------------------ defaults


@pytest.mark.slow
def test_mnist1d_cnn_defaults_reach_90_percent_in_24_iterations() -> None:
    _, results = _run(Mnist1dCNN, {"max_iterations": 24}, 24)
    assert results[-1]["test_accuracy"] >= 0.90
