"""Exact comparisons of trainable state and results, and small trainables, for the trainables tests."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tunefleet.trainables import TorchTrainable
from tunefleet.trainables.data import DatasetSplits, DataSplits
from tunefleet.trainables.models import MLP
from tunefleet.trainables.tasks import MLPHyperparams

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


# ------------------------------------------------------------------------ streamed data


class Blobs(Dataset[tuple[torch.Tensor, int]]):
    """``n`` samples of 16 features around one of 4 class centres: a map-style dataset.

    Items are ``(float32 tensor, int)``, as a user's dataset would return them; the data is a
    fixed function of ``seed``.
    """

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        centres = np.random.default_rng(0).normal(size=(4, 16))
        self.labels = rng.integers(0, 4, size=n)
        self.features = (centres[self.labels] + rng.normal(scale=1.5, size=(n, 16))).astype(np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.features[index]), int(self.labels[index])

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.features), torch.from_numpy(self.labels)


def jitter(x: torch.Tensor) -> torch.Tensor:
    """A random augmentation drawing from all three global generators (torch, numpy, Python)."""
    noise = 0.1 * torch.randn_like(x) + torch.from_numpy(
        np.random.normal(scale=0.1, size=x.shape).astype(np.float32)
    )
    sign = -1.0 if random.random() < 0.5 else 1.0
    return sign * x + noise


class StreamedBlobs(TorchTrainable[MLPHyperparams]):
    """Blobs streamed from datasets through DataLoaders, with random per-sample augmentation."""

    Hyperparams = MLPHyperparams
    task = "classification"

    def load_data(self, hp: MLPHyperparams) -> DatasetSplits:
        return DatasetSplits(Blobs(240, 1), Blobs(60, 2), Blobs(60, 3), train_transform=jitter)

    def build_model(self, hp: MLPHyperparams, data: Any) -> torch.nn.Module:
        return MLP(16, [hp.hidden] * hp.hidden_layers, 4, hp.activation, hp.dropout)


class TensorBlobs(StreamedBlobs):
    """The same blobs as tensors (no augmentation): the fast path of the same loop."""

    def load_data(self, hp: MLPHyperparams) -> DataSplits:
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
            Blobs(n, seed).as_tensors() for n, seed in ((240, 1), (60, 2), (60, 3))
        )
        return DataSplits(x_train, y_train, x_val, y_val, x_test, y_test)


class UnaugmentedStreamedBlobs(StreamedBlobs):
    """The same blobs streamed, without augmentation."""

    def load_data(self, hp: MLPHyperparams) -> DatasetSplits:
        return DatasetSplits(Blobs(240, 1), Blobs(60, 2), Blobs(60, 3))
