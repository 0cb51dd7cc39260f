"""Reported values as numbers: a real scalar of Python, numpy or torch is the same number."""

from __future__ import annotations

import math

import numpy as np
import torch

from tunefleet.scalars import python_scalars, real_value


def test_real_scalars_of_python_numpy_and_torch_become_python_floats() -> None:
    for value, expected in (
        (1.5, 1.5),
        (3, 3.0),
        (np.float16(1.5), 1.5),
        (np.float32(1.5), 1.5),
        (np.float64(1.5), 1.5),
        (np.int64(3), 3.0),
        (np.array(1.5), 1.5),
        (torch.tensor(1.5), 1.5),
        (torch.tensor(1.5, dtype=torch.bfloat16), 1.5),
        (torch.tensor(3), 3.0),
        (torch.tensor(1.5, requires_grad=True), 1.5),  # a loss reported as it is
        (10**400, math.inf),
    ):
        converted = real_value(value)
        assert type(converted) is float and converted == expected, value


def test_non_finite_library_scalars_stay_non_finite() -> None:
    for value in (np.float32("nan"), torch.tensor(math.nan), np.array(math.nan)):
        assert math.isnan(real_value(value)), value  # type: ignore[arg-type]
    for value in (np.float32("inf"), torch.tensor(-math.inf)):
        assert math.isinf(real_value(value)), value  # type: ignore[arg-type]


def test_what_is_not_one_real_number_has_no_value() -> None:
    for value in (
        None,
        True,
        np.bool_(True),
        torch.tensor(True),
        "1.5",
        "null",
        1 + 2j,
        np.complex64(1),
        [1.0],
        np.array([1.0]),
        torch.tensor([1.0]),
        {"value": 1.0},
    ):
        assert real_value(value) is None, value


def test_results_keep_their_shape_with_library_scalars_unwrapped() -> None:
    result = {
        "loss": np.float32(0.5),
        "step": np.int64(3),
        "done": np.bool_(False),
        "acc": torch.tensor(0.25),
        "name": "x",
        "nested": {"nan": np.float64("nan"), "list": [1, 2]},
    }
    plain = python_scalars(result)
    assert plain["loss"] == 0.5 and type(plain["loss"]) is float
    assert plain["step"] == 3 and type(plain["step"]) is int
    assert plain["done"] is False
    assert plain["acc"] == 0.25 and type(plain["acc"]) is float
    assert plain["name"] == "x" and plain["nested"]["list"] == [1, 2]
    assert math.isnan(plain["nested"]["nan"]) and type(plain["nested"]["nan"]) is float
    assert type(result["loss"]) is np.float32  # the reported result itself is left as it is
