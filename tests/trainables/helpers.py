"""Exact comparisons of trainable state and results, shared by the trainables tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tunefleet.trainables import TorchTrainable

#: Reported metrics that measure wall time and so legitimately differ between identical runs.
TIMING_METRICS = frozenset({"samples_per_s"})


def deterministic_metrics(trainable: TorchTrainable[Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """The reported metrics of ``result`` that must be reproducible bit for bit."""
    keep = trainable.reported_metrics() - TIMING_METRICS
    return {k: v for k, v in result.items() if k in keep}


def assert_same_tensors(a: Any, b: Any, path: str = "") -> None:
    """Recursively asserts two (nested) state dicts are identical, tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a.cpu(), b.cpu()), f"tensors differ at {path or 'root'}"
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping) and a.keys() == b.keys(), f"keys differ at {path}"
        for key in a:
            assert_same_tensors(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tensors(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
