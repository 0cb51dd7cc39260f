"""Datasets: shapes, fixed splits, and the MNIST-1D cache (generated, never downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tunefleet.trainables import DataSplits
from tunefleet.trainables import data as data_module
from tunefleet.trainables.data import (
    carve_validation,
    load_digits,
    load_mnist1d,
    make_linear_regression,
)


def test_carve_validation_is_a_fixed_disjoint_split() -> None:
    x = torch.arange(100).reshape(50, 2)
    y = torch.arange(50)
    x_train, y_train, x_val, y_val = carve_validation(x, y, 0.2)
    assert (len(x_train), len(x_val)) == (40, 10)
    assert set(y_train.tolist()).isdisjoint(y_val.tolist())
    assert sorted(y_train.tolist() + y_val.tolist()) == list(range(50))
    assert torch.equal(x_val[:, 0], 2 * y_val)  # rows stay paired
    # Fixed across calls (every trial validates on the same samples), changed by the seed.
    assert torch.equal(carve_validation(x, y, 0.2)[3], y_val)
    assert not torch.equal(carve_validation(x, y, 0.2, seed=1)[3], y_val)


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_carve_validation_rejects_empty_parts(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        carve_validation(torch.zeros(10, 1), torch.zeros(10), fraction)


def test_data_splits_check_lengths_and_move_together() -> None:
    with pytest.raises(ValueError, match="x_val has 3 samples but y_val has 2"):
        DataSplits(
            torch.zeros(4), torch.zeros(4), torch.zeros(3), torch.zeros(2), torch.zeros(1), torch.zeros(1)
        )
    splits = make_linear_regression(n=50, d=2)
    moved = splits.to("cpu")
    assert moved.x_train.device.type == "cpu" and torch.equal(moved.y_test, splits.y_test)


def test_digits_are_standardised_images_with_a_fixed_split() -> None:
    splits = load_digits()
    assert splits.x_train.shape[1:] == (1, 8, 8)
    assert len(splits.x_train) + len(splits.x_val) + len(splits.x_test) == 1797
    assert len(splits.x_test) == 360
    assert splits.y_train.dtype == torch.int64 and splits.x_train.dtype == torch.float32
    assert sorted(splits.y_test.unique().tolist()) == list(range(10))
    train_pixels = torch.cat([splits.x_train, splits.x_val]).flatten(1)
    assert train_pixels.mean(0).abs().max() < 1e-4
    assert torch.equal(load_digits().x_test, splits.x_test)


def test_linear_regression_is_seeded_and_nearly_linear() -> None:
    splits = make_linear_regression(n=1000, d=5, noise=0.1)
    assert splits.x_train.shape[1] == 5 and splits.y_train.shape == (len(splits.x_train),)
    assert len(splits.x_test) == 200
    x = torch.cat([splits.x_train, torch.ones(len(splits.x_train), 1)], 1).double()
    solution = torch.linalg.lstsq(x, splits.y_train.double().unsqueeze(1)).solution
    residual = splits.y_train.double() - (x @ solution).squeeze(1)
    assert residual.std().item() == pytest.approx(0.1, rel=0.15)
    assert torch.equal(make_linear_regression(n=1000, d=5).y_test, splits.y_test)
    assert not torch.equal(make_linear_regression(n=1000, d=5, seed=1).y_test, splits.y_test)


@pytest.fixture
def isolated_mnist1d_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TUNEFLEET_CACHE", str(tmp_path))
    data_module._mnist1d_arrays.cache_clear()
    yield tmp_path
    data_module._mnist1d_arrays.cache_clear()


def test_mnist1d_is_generated_once_then_read_from_disk(
    isolated_mnist1d_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = []
    generate = data_module._generate_mnist1d

    def counting_generate(args: dict[str, object]) -> dict[str, np.ndarray]:
        generated.append(args)
        return generate(args)

    monkeypatch.setattr(data_module, "_generate_mnist1d", counting_generate)
    # A small variant keeps the test fast; the code path is the default dataset's.
    first = load_mnist1d(num_samples=200)
    assert len(generated) == 1
    assert len(list(isolated_mnist1d_cache.glob("mnist1d-*.npz"))) == 1
    assert len(first.x_train) + len(first.x_val) == 160 and first.x_train.shape[1] == 40

    load_mnist1d(num_samples=200, val_fraction=0.5)  # in-process cache
    data_module._mnist1d_arrays.cache_clear()
    again = load_mnist1d(num_samples=200)  # disk cache
    assert len(generated) == 1
    assert torch.equal(again.x_test, first.x_test) and torch.equal(again.y_train, first.y_train)

    load_mnist1d(num_samples=300)  # other dataset args: another file
    assert len(generated) == 2
    assert len(list(isolated_mnist1d_cache.glob("mnist1d-*.npz"))) == 2


def test_corrupt_mnist1d_cache_is_regenerated(isolated_mnist1d_cache: Path) -> None:
    first = load_mnist1d(num_samples=200)
    (path,) = isolated_mnist1d_cache.glob("mnist1d-*.npz")
    path.write_bytes(b"not an npz")
    data_module._mnist1d_arrays.cache_clear()
    assert torch.equal(load_mnist1d(num_samples=200).x_test, first.x_test)


def test_mnist1d_rejects_unknown_dataset_args() -> None:
    with pytest.raises(ValueError, match="unknown mnist1d dataset args"):
        load_mnist1d(num_sample=10)


def test_default_mnist1d_has_the_standard_shape() -> None:
    splits = load_mnist1d()
    assert len(splits.x_train) + len(splits.x_val) == 4000 and len(splits.x_val) == 800
    assert splits.x_test.shape == (1000, 40)
    assert sorted(splits.y_test.unique().tolist()) == list(range(10))
