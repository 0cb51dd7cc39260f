"""CIFAR-10: the official archive's files, on-device augmentation, ResNet-18, the shipped experiments.

Nothing is downloaded: each test writes a small archive (a few hundred random images) in the
exact on-disk format and runs the real loading code on it.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import REPO, tunefleet
from tunefleet.config import load_experiment
from tunefleet.errors import ConfigError
from tunefleet.trainables import Cifar10ResNet
from tunefleet.trainables.cifar10 import (
    ARCHIVE_URL,
    CIFAR10_MEAN,
    CIFAR10_STD,
    FILES,
    find_cifar10,
    load_cifar10,
    read_batch,
    write_random_archive,
)
from tunefleet.trainables.models import ResNet18
from tunefleet.trainables.transforms import ImageBatchTransform, random_crop, random_horizontal_flip

from .helpers import assert_restore_continues_exactly, read_written_batch

EXPERIMENTS = ["cifar10_lr_batch_grid.yaml", "cifar10_asha.yaml", "cifar10_pbt.yaml"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 x 40 training and 50 test images in ``.../cifar-10-batches-py``."""
    return write_random_archive(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TUNEFLEET_CACHE pointing at an empty directory: the default data_dir has no data."""
    monkeypatch.setenv("TUNEFLEET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "cifar-10-batches-py"


# ------------------------------------------------------------------------ the archive


def test_batches_are_read_channel_major_with_their_labels(archive: Path) -> None:
    raw = read_written_batch(archive / "data_batch_2")
    images, labels = read_batch(archive / "data_batch_2")
    assert images.shape == (40, 3, 32, 32) and images.dtype == np.uint8
    assert labels.tolist() == raw[b"labels"] and labels.dtype == np.int64
    # Row i holds 1024 red values, then 1024 green, then 1024 blue, each 32 rows of 32.
    assert images[5, 1, 2, 3] == raw[b"data"][5, 1024 + 2 * 32 + 3]
    assert images[7, 2, 31, 0] == raw[b"data"][7, 2048 + 31 * 32]


def test_loader_splits_the_five_training_batches_and_keeps_the_test_batch(archive: Path) -> None:
    splits = load_cifar10(archive, val_fraction=0.1)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (180, 20, 50)
    assert splits.x_train.dtype == torch.uint8 and splits.y_train.dtype == torch.int64
    written = np.concatenate([read_written_batch(archive / f"data_batch_{i}")[b"data"] for i in range(1, 6)])
    ours = torch.cat([splits.x_train, splits.x_val]).reshape(200, 3072).numpy()
    assert sorted(map(bytes, ours)) == sorted(map(bytes, written))  # every image, once
    assert torch.equal(
        splits.x_test.reshape(50, 3072), torch.from_numpy(read_written_batch(archive / "test_batch")[b"data"])
    )
    assert torch.equal(load_cifar10(archive).x_val, splits.x_val)  # a fixed split


def _rewrite(archive: Path, tmp_path: Path, name: str, content: bytes) -> Path:
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in FILES:
        (copy / file).write_bytes((archive / file).read_bytes())
    (copy / name).write_bytes(content)
    return copy


class _RunsCode:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x80\x02}q\x00(U\x04data", "not a CIFAR-10 batch"),  # truncated
        (pickle.dumps([1, 2, 3]), "not a CIFAR-10 batch"),
        (
            pickle.dumps({b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4}),
            r"corrupt .*shape \(4, 1024\)",
        ),
        (pickle.dumps({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}), "corrupt .*float32"),
        (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}), "corrupt .*3 labels"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), r"corrupt .*0\.\.10"),
    ],
    ids=["truncated", "a-list", "wrong-shape", "wrong-dtype", "label-count", "label-range"],
)
def test_a_corrupt_batch_is_named_with_what_was_expected(
    archive: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    directory = _rewrite(archive, tmp_path, "data_batch_3", content)
    with pytest.raises(ValueError, match=message) as info:
        load_cifar10(directory)
    assert str(directory / "data_batch_3") in str(info.value)


def test_a_batch_that_would_run_code_is_refused_without_running_it(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    directory = _rewrite(archive, tmp_path, "test_batch", pickle.dumps({b"data": _RunsCode()}))
    with pytest.raises(ValueError, match=r"refusing to load posix\.system"):
        load_cifar10(directory)
    assert not (tmp_path / "pwned").exists()


def test_missing_data_names_the_path_the_files_and_how_to_fetch_them(tmp_path: Path, archive: Path) -> None:
    with pytest.raises(ValueError) as info:
        find_cifar10(tmp_path / "nowhere")
    message = str(info.value)
    assert f"CIFAR-10 not found in {tmp_path / 'nowhere'} (no such directory)" in message
    assert all(name in message for name in FILES)
    assert f"curl -L {ARCHIVE_URL} | tar -xz -C {tmp_path / 'nowhere'}" in message

    partial = _rewrite(archive, tmp_path, "test_batch", b"")
    (partial / "test_batch").unlink()
    with pytest.raises(ValueError, match="missing test_batch"):
        find_cifar10(partial)
    with pytest.raises(ValueError, match="must be an absolute path"):
        find_cifar10("data/cifar-10-batches-py")
    # The directory the archive unpacks into, or the one it was unpacked in.
    assert find_cifar10(archive) == find_cifar10(archive.parent) == archive


# ------------------------------------------------------------------------ augmentation


def test_random_crop_is_a_window_of_the_zero_padded_image() -> None:
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    cropped = random_crop(images, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        windows = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(cropped[i], padded[i, :, dy : dy + 8, dx : dx + 8])
        ]
        assert windows, f"image {i} is not a window of its padded image"
        offsets.add(windows[0])
    assert len(offsets) > 1  # the offset is drawn per image
    again = random_crop(images, 2, torch.Generator().manual_seed(0))
    assert torch.equal(again, cropped)  # the generator is the only source of randomness


def test_random_flip_mirrors_some_images_and_keeps_the_others() -> None:
    images = torch.randint(0, 256, (32, 3, 4, 4), dtype=torch.uint8)
    flipped = random_horizontal_flip(images, torch.Generator().manual_seed(1))
    mirrored = [torch.equal(flipped[i], images[i].flip(2)) for i in range(32)]
    kept = [torch.equal(flipped[i], images[i]) for i in range(32)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert any(mirrored) and any(kept)


def test_normalisation_uses_the_per_channel_statistics() -> None:
    transform = ImageBatchTransform(CIFAR10_MEAN, CIFAR10_STD, crop_padding=4, flip=True)
    images = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    expected = torch.tensor([(200 / 255 - m) / s for m, s in zip(CIFAR10_MEAN, CIFAR10_STD, strict=True)])
    normalised = transform(images)  # no generator: an evaluation batch, not augmented
    assert normalised.dtype == torch.float32
    assert torch.allclose(normalised[0, :, 5, 5], expected, atol=1e-5)
    augmented = transform(images, torch.Generator().manual_seed(0))
    assert augmented.shape == (2, 3, 32, 32) and not torch.equal(augmented, normalised)  # zero padding


# ------------------------------------------------------------------------ model and trainable


def test_resnet18_for_cifar_has_the_standard_size_and_stem() -> None:
    model = ResNet18(10)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    stem = model.stem[0]
    assert isinstance(stem, torch.nn.Conv2d) and stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    small = ResNet18(10, width=4)
    assert small(torch.zeros(3, 3, 32, 32)).shape == (3, 10)
    assert small.head[-1].in_features == 32  # 8 x width after four stages


def _tiny(archive: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "data_dir": str(archive),
        "width": 4,
        "batch_size": 16,
        "steps_per_iteration": 3,
        "max_iterations": 4,
        "dropout": 0.2,
        **overrides,
    }


def test_cifar10_resnet_checkpoint_with_augmentation_and_dropout_continues_bit_identically(
    archive: Path, tmp_path: Path
) -> None:
    assert_restore_continues_exactly(Cifar10ResNet, _tiny(archive), tmp_path)


def test_cifar10_resnet_defaults_are_the_usual_recipe(archive: Path) -> None:
    hp = Cifar10ResNet.Hyperparams.from_config({"data_dir": str(archive)})
    assert (hp.optimizer, hp.lr, hp.momentum, hp.weight_decay) == ("momentum", 0.1, 0.9, 5e-4)
    assert (hp.batch_size, hp.lr_schedule, hp.width, hp.val_fraction) == (128, "cosine", 64, 0.1)
    assert hp.steps_per_iteration == 45_000 // 128


def test_cifar10_resnet_reports_classification_metrics(archive: Path) -> None:
    trainable = Cifar10ResNet(config=_tiny(archive, steps_per_iteration=2))
    result = trainable.train()
    assert set(result) >= Cifar10ResNet.reported_metrics()
    assert 0 <= result["val_accuracy"] <= 1 and result["global_step"] == 2
    assert trainable.data.x_train.dtype == torch.uint8  # normalised batch by batch, on the device
    trainable.stop()


# ------------------------------------------------------------------------ experiments


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shipped_cifar10_experiments_validate_given_the_data(name: str, archive: Path) -> None:
    experiment = load_experiment(REPO / "experiments" / name, [f"space.data_dir={archive}"])
    assert experiment.trainable.ref == "cifar10_resnet"


def test_a_cifar10_experiment_without_data_is_invalid_even_with_the_default_data_dir(
    empty_cache: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(REPO / "experiments" / "cifar10_asha.yaml")
    (problem,) = info.value.problems
    assert problem.key == "space.data_dir"
    assert f"CIFAR-10 not found in {empty_cache} (no such directory)" in problem.message
    assert "data_batch_1" in problem.message and ARCHIVE_URL in problem.message


def test_a_cifar10_experiment_with_a_wrong_data_dir_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(REPO / "experiments" / "cifar10_pbt.yaml", [f"space.data_dir={tmp_path}"])
    (problem,) = info.value.problems
    assert problem.key == "space.data_dir"
    assert "is not a valid data_dir" in problem.message
    assert f"CIFAR-10 not found in {tmp_path} (missing data_batch_1," in problem.message


def test_validate_command_exits_2_naming_the_missing_data(tmp_path: Path) -> None:
    proc = tunefleet(
        "validate",
        "experiments/cifar10_lr_batch_grid.yaml",
        env={"TUNEFLEET_CACHE": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    output = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    assert f"CIFAR-10 not found in {tmp_path / 'cifar-10-batches-py'}" in output
    assert "Traceback" not in output and "tar -xz" in output


@pytest.mark.slow
def test_a_tiny_cifar10_grid_runs_under_ray(ray_local: None, archive: Path, tmp_path: Path) -> None:
    from rich.console import Console

    from tunefleet.analysis import load_results
    from tunefleet.runner import run_experiment

    overrides = [
        f"space.data_dir={archive}",
        "space.lr.grid=[0.1, 0.05]",
        "space.batch_size.grid=[16]",
        "space.steps_per_iteration=2",
        "space.width=4",
        "max_iterations=1",
        "resources.cpu=1",
    ]
    experiment = load_experiment(REPO / "experiments" / "cifar10_lr_batch_grid.yaml", overrides)
    console = Console(file=open(tmp_path / "progress.txt", "w"))  # noqa: SIM115
    outcome = run_experiment(experiment, storage=str(tmp_path / "results"), console=console)
    assert outcome.num_errors == 0
    trials = load_results(outcome.path).trials()
    assert len(trials) == 2 and set(trials["status"]) == {"TERMINATED"}
    assert trials["val_accuracy"].between(0, 1).all() and (trials["global_step"] == 2).all()
    assert sorted(trials["config/lr"]) == [0.05, 0.1]
