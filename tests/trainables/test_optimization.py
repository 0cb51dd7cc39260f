"""Optimizers and learning-rate schedules built from hyperparameters."""

from __future__ import annotations

import io
import itertools
import math
from typing import Any, get_args

import pytest
import torch
from torch import nn

from tunefleet.trainables import TrainingHyperparams
from tunefleet.trainables.hyperparams import LrScheduleName, OptimizerName
from tunefleet.trainables.optimizers import apply_optimizer_hyperparams, build_optimizer
from tunefleet.trainables.schedules import build_lr_scheduler

from .helpers import assert_same_tensors


def _roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _lrs(hp: TrainingHyperparams, steps: int) -> list[float]:
    """The lr each of ``steps`` optimizer steps uses, scheduler stepped after each one."""
    optimizer = build_optimizer([nn.Parameter(torch.zeros(1))], hp)
    scheduler = build_lr_scheduler(optimizer, hp)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("schedule", get_args(LrScheduleName))
@pytest.mark.parametrize("optimizer_name", get_args(OptimizerName))
def test_each_optimizer_and_schedule_builds_and_steps(
    optimizer_name: OptimizerName, schedule: LrScheduleName
) -> None:
    torch.manual_seed(0)
    hp = TrainingHyperparams(
        optimizer=optimizer_name,
        lr_schedule=schedule,
        lr=0.01,
        weight_decay=1e-3,
        nesterov=True,
        steps_per_iteration=2,
        max_iterations=3,
    )
    model = nn.Linear(4, 1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    optimizer = build_optimizer(model.parameters(), hp)
    scheduler = build_lr_scheduler(optimizer, hp)
    before = [p.detach().clone() for p in model.parameters()]
    losses = []
    for _ in range(4):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    # Both state dicts hold plain values only, so checkpoints load with weights_only=True.
    assert_same_tensors(_roundtrip(optimizer.state_dict()), optimizer.state_dict())
    assert_same_tensors(_roundtrip(scheduler.state_dict()), scheduler.state_dict())


@pytest.mark.parametrize(
    ("hp", "expected_type", "expected_group"),
    [
        (TrainingHyperparams(optimizer="sgd", momentum=0.5), torch.optim.SGD, {"momentum": 0.0}),
        (
            TrainingHyperparams(optimizer="momentum", momentum=0.8, nesterov=True),
            torch.optim.SGD,
            {"momentum": 0.8, "nesterov": True},
        ),
        # Nesterov with no momentum is plain SGD; torch would reject the combination.
        (
            TrainingHyperparams(optimizer="momentum", momentum=0.0, nesterov=True),
            torch.optim.SGD,
            {"momentum": 0.0, "nesterov": False},
        ),
        (
            TrainingHyperparams(optimizer="adam", beta1=0.8, beta2=0.99, weight_decay=0.1),
            torch.optim.Adam,
            {"betas": (0.8, 0.99), "weight_decay": 0.1},
        ),
        (
            TrainingHyperparams(optimizer="adamw", weight_decay=0.1),
            torch.optim.AdamW,
            {"weight_decay": 0.1},
        ),
        (
            TrainingHyperparams(optimizer="rmsprop", momentum=0.7),
            torch.optim.RMSprop,
            {"momentum": 0.7},
        ),
    ],
)
def test_optimizer_receives_its_hyperparameters(
    hp: TrainingHyperparams, expected_type: type, expected_group: dict[str, Any]
) -> None:
    optimizer = build_optimizer(nn.Linear(2, 1).parameters(), hp)
    assert type(optimizer) is expected_type
    group = optimizer.param_groups[0]
    assert group["lr"] == hp.lr
    assert {k: group[k] for k in expected_group} == expected_group


def test_lr_schedules_follow_their_formula() -> None:
    # 10 optimizer steps per iteration, a 6-iteration budget: 60 steps in all.
    base: dict[str, Any] = {"lr": 0.1, "steps_per_iteration": 10, "max_iterations": 6}

    constant = _lrs(TrainingHyperparams(**base, lr_schedule="constant"), 60)
    assert constant == [0.1] * 61

    # Defaults: halve every max_iterations // 3 = 2 iterations (20 steps).
    step = _lrs(TrainingHyperparams(**base, lr_schedule="step"), 60)
    assert step[:20] == [0.1] * 20
    assert step[20:40] == [0.05] * 20
    assert step[40:60] == [0.025] * 20
    custom = _lrs(TrainingHyperparams(**base, lr_schedule="step", lr_gamma=0.1, lr_step_every=1), 20)
    assert custom[9] == 0.1 and custom[10] == pytest.approx(0.01) and custom[20] == pytest.approx(1e-3)

    # Default 0.9 per iteration, decayed smoothly per step.
    exponential = _lrs(TrainingHyperparams(**base, lr_schedule="exponential"), 60)
    assert exponential[0] == 0.1
    assert exponential[5] == pytest.approx(0.1 * 0.9**0.5)
    assert exponential[10] == pytest.approx(0.09)
    assert exponential[60] == pytest.approx(0.1 * 0.9**6)

    # Half a cosine over the whole budget, reaching exactly 0 at its end and staying there.
    cosine = _lrs(TrainingHyperparams(**base, lr_schedule="cosine"), 70)
    assert cosine[0] == 0.1
    assert cosine[15] == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    assert cosine[30] == pytest.approx(0.05)
    assert cosine[60:] == [0.0] * 11
    assert all(a > b for a, b in itertools.pairwise(cosine[:61]))

    # 1 / sqrt(1 + iterations done).
    inverse_sqrt = _lrs(TrainingHyperparams(**base, lr_schedule="inverse_sqrt"), 60)
    assert inverse_sqrt[0] == 0.1
    assert inverse_sqrt[10] == pytest.approx(0.1 / math.sqrt(2))
    assert inverse_sqrt[30] == pytest.approx(0.05)


def test_scheduler_resumes_at_a_given_step_with_a_new_base_lr() -> None:
    # What a PBT exploit needs: the same point of the schedule, scaled to the new lr.
    old = TrainingHyperparams(lr=0.1, lr_schedule="step", lr_step_every=1, steps_per_iteration=10)
    optimizer = build_optimizer([nn.Parameter(torch.zeros(1))], old)
    build_lr_scheduler(optimizer, old)
    new = old.model_copy(update={"lr": 0.4})
    apply_optimizer_hyperparams(optimizer, new)
    scheduler = build_lr_scheduler(optimizer, new, start_step=25)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.4 * 0.25)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.4 * 0.125)


def test_apply_optimizer_hyperparams_keeps_state() -> None:
    param = nn.Parameter(torch.ones(3))
    hp = TrainingHyperparams(optimizer="adam", lr=0.1)
    optimizer = build_optimizer([param], hp)
    param.grad = torch.ones(3)
    optimizer.step()
    moments = {k: v.clone() for k, v in optimizer.state[param].items()}
    apply_optimizer_hyperparams(optimizer, hp.model_copy(update={"lr": 0.5, "beta1": 0.5}))
    assert optimizer.param_groups[0]["lr"] == 0.5
    assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    assert_same_tensors(dict(optimizer.state[param]), moments)
