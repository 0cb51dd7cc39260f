"""A trainable's data: train / validation / test splits, as tensors or as datasets.

Two forms, one training loop (:mod:`tunefleet.trainables.loop`):

- :class:`DataSplits`: tensors. Small datasets live on the accelerator whole and the loop draws
  batches by indexing them, with optional batch transforms run on the device (augmentation
  drawing from the trial's checkpointed generator). The fast path.
- :class:`DatasetSplits`: map-style ``torch.utils.data.Dataset`` objects with per-sample
  transforms, loaded in batches by DataLoader worker processes. For data that does not fit in
  memory or needs per-sample decoding.

Nothing here downloads: MNIST-1D is generated locally (and cached), the digits ship with
scikit-learn, and the regression problem is synthetic.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

__all__ = [
    "DataSplits",
    "DatasetSplits",
    "EvalBatchTransform",
    "SampleTransform",
    "Splits",
    "TrainBatchTransform",
    "cache_dir",
    "carve_validation",
    "load_digits",
    "load_mnist1d",
    "make_linear_regression",
]

logger = logging.getLogger(__name__)


#: A random batch transform of training inputs on their device: ``(x, generator) -> x``. It must
#: draw its randomness from ``generator`` only (the trial's augmentation stream, checkpointed).
TrainBatchTransform = Callable[[Tensor, torch.Generator], Tensor]
#: A deterministic batch transform of evaluation inputs on their device: ``x -> x``.
EvalBatchTransform = Callable[[Tensor], Tensor]
#: A per-sample transform of a dataset item's features, run where the sample is loaded (in a
#: DataLoader worker). It may use torch's, numpy's or Python's global random generators: they are
#: seeded for each sample from its position in the data (see :mod:`tunefleet.trainables.streaming`).
SampleTransform = Callable[[Any], Any]


def _move(transform: Any, device: torch.device | str) -> Any:
    # Transforms holding tensors (normalisation constants) are modules; they follow the data.
    return transform.to(device) if isinstance(transform, nn.Module) else transform


# eq=False: a generated __eq__ would compare tensors elementwise and fail on bool().
@dataclasses.dataclass(frozen=True, eq=False)
class DataSplits:
    """Features and targets of the train, validation and test sets, as tensors.

    Classification targets are int64 class indices; regression targets are floats. The
    validation set drives early stopping and tuning; the test set is only reported.

    Attributes:
        train_batch_transform: Applied to every training batch on the device before the model
            (augmentation, normalisation); see :data:`TrainBatchTransform`.
        eval_batch_transform: Applied to every validation and test batch on the device.

    Raises:
        ValueError: If a split's features and targets differ in length.
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    train_batch_transform: TrainBatchTransform | None = None
    eval_batch_transform: EvalBatchTransform | None = None

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(f"x_{split} has {len(x)} samples but y_{split} has {len(y)}")

    @property
    def num_train(self) -> int:
        return len(self.x_train)

    def to(self, device: torch.device | str) -> DataSplits:
        """The same splits with every tensor (and tensor-holding transform) on ``device``."""
        return DataSplits(**{f.name: _move(getattr(self, f.name), device) for f in dataclasses.fields(self)})


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetSplits:
    """Map-style datasets of the train, validation and test sets, loaded by DataLoaders.

    Each item is a ``(features, target)`` pair: tensors, numpy arrays or numbers that the
    DataLoader's default collation stacks (targets: class indices or floats; they are cast to
    the task's dtype). The trainable builds the DataLoaders: worker processes, pinned memory
    and non-blocking copies on CUDA, persistent workers, and a batch order and per-sample seeds
    that a checkpoint records exactly.

    Attributes:
        train_transform: Per-sample transform of training features (augmentation); see
            :data:`SampleTransform`.
        val_transform: Per-sample transform of validation features.
        test_transform: Per-sample transform of test features.

    Raises:
        TypeError: If a split is not a sized, indexable dataset.
        ValueError: If the training set is empty.
    """

    train: Dataset[Any]
    val: Dataset[Any]
    test: Dataset[Any]
    train_transform: SampleTransform | None = None
    val_transform: SampleTransform | None = None
    test_transform: SampleTransform | None = None

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            dataset = getattr(self, split)
            if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
                raise TypeError(
                    f"{split} must be a map-style dataset (with __len__ and __getitem__), "
                    f"got {type(dataset).__name__}"
                )
        if self.num_train == 0:
            raise ValueError("the training dataset is empty")

    @property
    def num_train(self) -> int:
        return len(self.train)  # type: ignore[arg-type]

    def to(self, device: torch.device | str) -> DatasetSplits:
        """The splits themselves: samples move to the device batch by batch."""
        return self


#: What ``load_data`` returns.
Splits = DataSplits | DatasetSplits


def carve_validation(
    x: Tensor, y: Tensor, fraction: float, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Splits a training set into training and validation parts at random.

    The split depends only on ``seed`` (not on a trial's seed), so every trial of an
    experiment is validated on the same samples and their metrics are comparable.

    Args:
        x: Features, first dimension is the sample.
        y: Targets, same length as ``x``.
        fraction: Share of the samples held out, in ``(0, 1)``; at least one sample is held
            out and at least one kept.
        seed: Seed of the split.

    Returns:
        ``(x_train, y_train, x_val, y_val)``.

    Raises:
        ValueError: If ``fraction`` is outside ``(0, 1)`` or there are fewer than two samples.
    """
    n = len(x)
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    if n < 2:
        raise ValueError(f"need at least 2 samples to carve a validation set, got {n}")
    n_val = min(max(1, round(n * fraction)), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:n_val].to(x.device), order[n_val:].to(x.device)
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def _splits(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    val_fraction: float,
    target_dtype: torch.dtype,
) -> DataSplits:
    # torch.tensor copies, so callers can never write into a cached array.
    xt = torch.tensor(x_train, dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=target_dtype)
    x_tr, y_tr, x_val, y_val = carve_validation(xt, yt, val_fraction)
    return DataSplits(
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_val,
        y_val=y_val,
        x_test=torch.tensor(x_test, dtype=torch.float32),
        y_test=torch.tensor(y_test, dtype=target_dtype),
    )


# --------------------------------------------------------------------------- MNIST-1D


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$TUNEFLEET_CACHE`` or ``~/.cache/tunefleet``."""
    return Path(os.environ.get("TUNEFLEET_CACHE") or Path.home() / ".cache" / "tunefleet")


def _mnist1d_default_args() -> dict[str, Any]:
    from mnist1d.data import get_dataset_args  # heavy import (matplotlib): only when generating

    args: dict[str, Any] = get_dataset_args(as_dict=True)
    args.pop("url", None)  # where the canonical pickle lives; irrelevant to generation
    return args


def _mnist1d_cache_key(args: dict[str, Any]) -> str:
    try:
        version = metadata.version("mnist1d")
    except metadata.PackageNotFoundError:
        version = "unknown"
    blob = json.dumps({"args": args, "mnist1d": version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _generate_mnist1d(args: dict[str, Any]) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    # make_dataset reseeds numpy's and Python's global RNGs; the trainable seeds after loading.
    data = make_dataset(ObjectView(dict(args)))
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as npz:
            return {k: npz[k] for k in ("x", "y", "x_test", "y_test")}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as err:  # truncated or foreign file: regenerate
        logger.warning("ignoring unreadable dataset cache %s (%s)", path, err)
        return None


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: trials in other processes may generate the same file concurrently,
        # and none of them must ever read a half-written one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, x=arrays["x"], y=arrays["y"], x_test=arrays["x_test"], y_test=arrays["y_test"])
        os.replace(tmp, path)
    except OSError as err:  # a read-only home must not stop training; it only costs time
        logger.warning("could not cache dataset at %s (%s)", path, err)


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(args_json: str) -> dict[str, np.ndarray]:
    """MNIST-1D arrays for the given dataset args, from the disk cache or generated."""
    args = json.loads(args_json)
    path = cache_dir() / f"mnist1d-{_mnist1d_cache_key(args)}.npz"
    arrays = _read_npz(path)
    if arrays is None:
        arrays = _generate_mnist1d(args)
        _write_npz(path, arrays)
    for a in arrays.values():
        a.setflags(write=False)  # shared by every caller in this process
    return arrays


def load_mnist1d(val_fraction: float = 0.2, **dataset_args: Any) -> DataSplits:
    """MNIST-1D (Greydanus, 2020): 4000 train / 1000 test sequences of length 40, 10 classes.

    Generated locally with ``mnist1d.data.make_dataset`` and the package's default dataset
    args (never downloaded), then cached in-process and on disk under :func:`cache_dir`,
    keyed by the dataset args and the mnist1d version.

    Args:
        val_fraction: Share of the 4000 training sequences held out for validation.
        **dataset_args: Overrides of ``mnist1d.data.get_dataset_args()`` (e.g.
            ``num_samples``), for experiments on variants of the dataset.

    Returns:
        Splits with ``x`` of shape ``(n, 40)`` (float32, standardised by mnist1d) and ``y``
        int64 labels.
    """
    args = _mnist1d_default_args()
    unknown = set(dataset_args) - set(args)
    if unknown:
        raise ValueError(f"unknown mnist1d dataset args {sorted(unknown)}; valid: {sorted(args)}")
    args.update(dataset_args)
    arrays = _mnist1d_arrays(json.dumps(args, sort_keys=True))
    return _splits(arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"], val_fraction, torch.int64)


# --------------------------------------------------------------------------- digits


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x, y = bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    # Per-pixel standardisation with training statistics only; border pixels that are always
    # blank have zero spread and are left centred rather than divided by zero.
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    arrays = ((x_train - mean) / std, y_train, (x_test - mean) / std, y_test)
    for a in arrays:
        a.setflags(write=False)
    return arrays


def load_digits(val_fraction: float = 0.2) -> DataSplits:
    """scikit-learn's 8x8 handwritten digits (1797 images, bundled, 10 classes).

    A fixed, stratified 80/20 train/test split (seed 0); pixels standardised with the
    training set's per-pixel mean and standard deviation.

    Args:
        val_fraction: Share of the training images held out for validation.

    Returns:
        Splits with ``x`` of shape ``(n, 1, 8, 8)`` (float32) and ``y`` int64 labels.
    """
    x_train, y_train, x_test, y_test = _digits_arrays()
    return _splits(x_train[:, None], y_train, x_test[:, None], y_test, val_fraction, torch.int64)


# --------------------------------------------------------------------------- regression


def make_linear_regression(
    n: int = 2000,
    d: int = 10,
    noise: float = 0.1,
    seed: int = 0,
    val_fraction: float = 0.2,
) -> DataSplits:
    """A synthetic linear problem ``y = x @ w + b + noise * eps`` with Gaussian ``x`` and ``eps``.

    ``w`` is drawn with variance ``1/d`` so the signal has unit variance whatever ``d``; the
    best achievable R^2 is therefore about ``1 / (1 + noise**2)``. A fifth of the samples is
    the test set.

    Args:
        n: Number of samples (train + validation + test).
        d: Number of features.
        noise: Standard deviation of the additive noise.
        seed: Seed of the problem (weights, inputs and noise).
        val_fraction: Share of the training samples held out for validation.

    Returns:
        Splits with ``x`` of shape ``(n, d)`` and float32 targets of shape ``(n,)``.
    """
    if n < 10 or d < 1:
        raise ValueError(f"need n >= 10 and d >= 1, got n={n}, d={d}")
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d) / np.sqrt(d)
    b = rng.normal()
    x = rng.normal(size=(n, d))
    y = x @ w + b + noise * rng.normal(size=n)
    n_test = n // 5
    return _splits(x[n_test:], y[n_test:], x[:n_test], y[:n_test], val_fraction, torch.float32)
