"""A model's cost as the built-in trainables report it: ``params`` and ``latency_ms`` (no Ray).

No test here passes or fails on how fast the machine is: a sleeping model gives latencies a
lower bound that load cannot break, and the rest counts calls.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from tunefleet.trainables import DigitsMLP, LinearRegression, Mnist1dMLP
from tunefleet.trainables.cost import (
    LATENCY_REPEATS,
    LATENCY_SAMPLES,
    LATENCY_WARMUP,
    count_parameters,
    inference_latency_ms,
)
from tunefleet.trainables.models import MLP


class Recorder(nn.Module):
    """A linear layer that records how it was called, and sleeps ``sleep_s`` per call."""

    def __init__(self, sleep_s: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)
        self.sleep_s = sleep_s
        self.calls: list[dict[str, Any]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.calls.append(
            {"training": self.training, "inference": torch.is_inference_mode_enabled(), "batch": len(x)}
        )
        time.sleep(self.sleep_s)
        return self.linear(x)


def test_params_counts_trainable_parameters_once() -> None:
    mlp = MLP(40, [100, 100], 10)
    assert count_parameters(mlp) == (40 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10)

    shared = nn.Linear(3, 3)
    tied = nn.Sequential(shared, shared)
    assert count_parameters(tied) == 12
    shared.bias.requires_grad_(False)
    assert count_parameters(tied) == 9


def test_latency_is_the_per_sample_time_of_a_batch_in_eval_and_inference_mode() -> None:
    model = Recorder(sleep_s=0.01)
    model.train()

    latency = inference_latency_ms(model, torch.zeros(8, 4))

    assert latency >= 10.0 / 8  # every timed pass sleeps 10 ms for 8 samples
    assert len(model.calls) == LATENCY_WARMUP + LATENCY_REPEATS
    assert all(c == {"training": False, "inference": True, "batch": 8} for c in model.calls)
    assert model.training  # its mode is given back


def test_latency_runs_every_pass_inside_the_given_context() -> None:
    entered = []

    @contextlib.contextmanager
    def context() -> Iterator[None]:
        entered.append(True)
        yield

    inference_latency_ms(Recorder(), torch.zeros(2, 4), context=context, warmup=1, repeats=3)

    assert len(entered) == 4


@pytest.mark.parametrize(("samples", "repeats"), [(0, 3), (2, 0)])
def test_latency_of_nothing_is_an_error(samples: int, repeats: int) -> None:
    with pytest.raises(ValueError, match="non-empty batch"):
        inference_latency_ms(Recorder(), torch.zeros(samples, 4), repeats=repeats)


def test_a_trial_reports_its_model_size_and_a_latency_measured_at_its_first_and_last_iteration() -> None:
    trainable = DigitsMLP(config={"hidden": 16, "steps_per_iteration": 2, "max_iterations": 4})
    measured = []
    loop = trainable.loop
    loop.model.register_forward_hook(
        lambda _m, inputs, _o: (
            measured.append(loop.global_step) if torch.is_inference_mode_enabled() else None
        )
    )

    results = [trainable.train() for _ in range(4)]

    assert {r["params"] for r in results} == {(64 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)}
    latencies = [r["latency_ms"] for r in results]
    assert all(math.isfinite(v) and v > 0 for v in latencies)
    assert latencies[1] == latencies[2] == latencies[0]  # the first measurement, carried
    # Timed on the first validation samples, after iterations 1 and 4 only (global steps 2, 8).
    assert measured == [2] * (LATENCY_WARMUP + LATENCY_REPEATS) + [8] * (LATENCY_WARMUP + LATENCY_REPEATS)
    assert trainable.loop._latency_inputs is not None
    assert len(trainable.loop._latency_inputs) == LATENCY_SAMPLES


def test_params_and_latency_are_declared_so_that_validation_accepts_them_as_metrics() -> None:
    assert {"params", "latency_ms"} <= Mnist1dMLP.reported_metrics()
    assert {"params", "latency_ms"} <= LinearRegression.reported_metrics()
