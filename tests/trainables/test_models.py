"""Model shapes, the MNIST-1D paper's CNN, and activations by name."""

from __future__ import annotations

from typing import get_args

import pytest
import torch
from torch import nn

from tunefleet.trainables.hyperparams import ActivationName
from tunefleet.trainables.models import MLP, CNN1d, CNN2d, Linear, activation


def _parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_cnn1d_defaults_are_the_mnist1d_paper_model() -> None:
    model = CNN1d(40, 10)
    # ConvBase of Greydanus (2020): 150 + 1900 + 1900 conv weights+biases, 125 -> 10 linear.
    assert _parameter_count(model) == 150 + 1900 + 1900 + 1260
    assert model(torch.zeros(3, 40)).shape == (3, 10)
    assert model(torch.zeros(3, 1, 40)).shape == (3, 10)


def test_cnn1d_rejects_inputs_too_short_for_its_convolutions() -> None:
    with pytest.raises(ValueError, match="leave nothing"):
        CNN1d(2, 10)


@pytest.mark.parametrize(
    ("model", "x", "out"),
    [
        (MLP(64, [32, 16], 10, activation="gelu", dropout=0.5), torch.zeros(5, 1, 8, 8), (5, 10)),
        (MLP(40, [], 10), torch.zeros(5, 40), (5, 10)),
        (CNN2d(8, 10, channels=4), torch.zeros(5, 1, 8, 8), (5, 10)),
        (CNN2d(8, 10, channels=4), torch.zeros(5, 8, 8), (5, 10)),
        (Linear(10), torch.zeros(5, 10), (5, 1)),
    ],
)
def test_models_map_inputs_to_outputs(model: nn.Module, x: torch.Tensor, out: tuple[int, ...]) -> None:
    assert model(x).shape == out


def test_dropout_is_configurable_and_off_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = MLP(10, [100], 2, dropout=0.5)
    x = torch.randn(4, 10)
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", get_args(ActivationName))
def test_every_activation_name_builds_a_fresh_module(name: ActivationName) -> None:
    first, second = activation(name), activation(name)
    assert isinstance(first, nn.Module) and first is not second
    assert first(torch.zeros(2)).shape == (2,)


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        activation("swish")  # type: ignore[arg-type]
