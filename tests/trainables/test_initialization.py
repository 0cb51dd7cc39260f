"""Weight initialisation schemes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from tunefleet.trainables.initialization import init_weights


@pytest.mark.parametrize("scheme", ["xavier", "he"])
def test_init_weights_reinitialises_linear_and_conv_layers(scheme: Any) -> None:
    torch.manual_seed(0)
    wide = nn.Linear(8 * 6, 200)
    model = nn.Sequential(nn.Conv1d(1, 8, 3), nn.Flatten(), wide, nn.Linear(200, 2))
    default = [p.detach().clone() for p in model.parameters()]
    init_weights(model, scheme)
    for layer in model.modules():
        if isinstance(layer, nn.Linear | nn.Conv1d):
            assert layer.bias is not None and torch.count_nonzero(layer.bias) == 0
    assert not any(torch.equal(a, b) for a, b in zip(default, model.parameters(), strict=True))
    # Variance of the 48 -> 200 layer matches the scheme (fan_in 48, fan_out 200).
    expected = 2 / (48 + 200) if scheme == "xavier" else 2 / 48
    assert wide.weight.var().item() == pytest.approx(expected, rel=0.1)


def test_default_init_leaves_torch_defaults() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 4)
    before = model.weight.detach().clone()
    init_weights(model, "default")
    assert torch.equal(model.weight, before)
