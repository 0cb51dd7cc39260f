"""Exact comparisons of trainable state and results, and small trainables, for the trainables tests."""

from __future__ import annotations

import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tunefleet.trainables import TorchTrainable
from tunefleet.trainables.data import DatasetSplits, DataSplits
from tunefleet.trainables.models import MLP
from tunefleet.trainables.tasks import MLPHyperparams

#: Reported metrics that measure wall time and so legitimately differ between identical runs.
TIMING_METRICS = frozenset({"samples_per_s", "latency_ms"})


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


def assert_restore_continues_exactly(
    cls: type[TorchTrainable[Any]], config: dict[str, Any], tmp_path: Path, iterations: int = 4
) -> None:
    """N straight iterations equal N/2 + save + restore into a new instance + N/2, bit for bit.

    The checkpoint is taken mid-epoch; the instance restored into has trained already, so
    anything a restore forgets shows up as a difference. Every trainable made is stopped.
    """
    half = iterations // 2
    made: list[TorchTrainable[Any]] = []

    def run(n: int) -> tuple[TorchTrainable[Any], list[dict[str, Any]]]:
        trainable = cls(config=dict(config))  # Ray pops its keys from the dict it is given
        made.append(trainable)
        return trainable, [trainable.train() for _ in range(n)]

    try:
        straight, straight_results = run(iterations)
        first, _ = run(half)
        assert first.loop.order.position not in (0, first.data.num_train)  # saved mid-epoch
        checkpoint = first.save(str(tmp_path / "checkpoint"))

        resumed, _ = run(1)
        resumed.restore(checkpoint)
        assert resumed.iteration == half
        resumed_results = [resumed.train() for _ in range(iterations - half)]

        assert [deterministic_metrics(resumed, r) for r in resumed_results] == [
            deterministic_metrics(straight, r) for r in straight_results[half:]
        ]
        assert [r["training_iteration"] for r in resumed_results] == list(range(half + 1, iterations + 1))
        assert_same_tensors(resumed.model.state_dict(), straight.model.state_dict())
        assert_same_tensors(resumed.optimizer.state_dict(), straight.optimizer.state_dict())
        assert_same_tensors(resumed.scheduler.state_dict(), straight.scheduler.state_dict())
        assert_same_tensors(resumed.loop.scaler.state_dict(), straight.loop.scaler.state_dict())

        # Control: the weights alone do not continue the run (optimizer state, schedule, batch
        # order and random streams matter), so the equalities above are not vacuous.
        weights_only, _ = run(0)
        state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=True)
        weights_only.model.load_state_dict(state["model"])
        for _ in range(iterations - half):
            weights_only.train()
        assert not same_weights(weights_only.model, straight.model)
    finally:
        for trainable in made:
            trainable.stop()


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


def read_written_batch(path: Path) -> dict[bytes, Any]:
    """A batch written by :func:`~tunefleet.trainables.cifar10.write_random_archive`, read back with plain pickle."""
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")
