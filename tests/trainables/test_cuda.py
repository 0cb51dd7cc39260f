"""The GPU paths of the training loop: skipped without CUDA (run them on a GPU machine).

Trainables pick CUDA only inside a Ray actor with a GPU; these tests force it with
``select_device``. They check that each path runs on the device and that a checkpoint carries
its device state (CUDA generator, gradient scaler); bit-exact continuation on a GPU also needs
deterministic kernels, which these tests do not ask torch for.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from tunefleet.trainables import Cifar10ResNet, DigitsMLP, TorchTrainable
from tunefleet.trainables.cifar10 import write_random_archive

from .helpers import StreamedBlobs, assert_same_tensors, same_weights

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def on_cuda(cls: type[TorchTrainable[Any]]) -> type[TorchTrainable[Any]]:
    """``cls`` training on the GPU outside Ray."""
    return type(f"Cuda{cls.__name__}", (cls,), {"select_device": lambda self: torch.device("cuda")})


def _finite(result: dict[str, Any]) -> bool:
    return all(math.isfinite(result[k]) for k in ("train_loss", "val_loss", "test_loss"))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cifar10_resnet_trains_on_the_gpu_with_mixed_precision_and_channels_last(
    tmp_path: Path, precision: str
) -> None:
    archive = write_random_archive(tmp_path / "cifar-10-batches-py")
    config = {
        "data_dir": str(archive),
        "width": 16,
        "batch_size": 32,
        "steps_per_iteration": 5,
        "precision": precision,
        "channels_last": True,
        "grad_clip": 1.0,
    }
    trainable = on_cuda(Cifar10ResNet)(config=config)
    result = trainable.train()
    assert _finite(result) and result["global_step"] == 5
    assert trainable.data.x_train.device.type == "cuda" and trainable.data.x_train.dtype == torch.uint8
    assert trainable.loop.augmentation.device.type == "cuda"
    assert trainable.loop.scaler.is_enabled() == (precision == "fp16")
    trainable.stop()


def test_checkpoint_on_the_gpu_restores_its_device_state(tmp_path: Path) -> None:
    archive = write_random_archive(tmp_path / "cifar-10-batches-py")
    config = {"data_dir": str(archive), "width": 8, "batch_size": 16, "steps_per_iteration": 3}
    config |= {"precision": "fp16", "dropout": 0.2}
    cls = on_cuda(Cifar10ResNet)
    source = cls(config=dict(config))
    source.train()
    checkpoint = source.save(str(tmp_path / "checkpoint"))
    target = cls(config=dict(config))
    target.restore(checkpoint)
    assert same_weights(source.model, target.model)
    assert target.loop.scaler.state_dict() == source.loop.scaler.state_dict()
    assert torch.equal(target.loop.augmentation.get_state(), source.loop.augmentation.get_state())
    assert_same_tensors(target.loop._rng, source.loop._rng)  # includes the CUDA generator
    assert _finite(target.train())
    source.stop()
    target.stop()


def test_a_gpu_checkpoint_continues_on_the_cpu(tmp_path: Path) -> None:
    config = {"hidden": 16, "dropout": 0.2, "steps_per_iteration": 3, "batch_size": 64}
    gpu = on_cuda(DigitsMLP)(config=dict(config))
    gpu.train()
    checkpoint = gpu.save(str(tmp_path / "checkpoint"))
    cpu = DigitsMLP(config=dict(config))
    cpu.restore(checkpoint)
    assert same_weights(cpu.model, gpu.model)
    assert _finite(cpu.train())


def test_streamed_batches_reach_the_gpu_from_workers() -> None:
    trainable = on_cuda(StreamedBlobs)(config={"hidden": 8, "num_workers": 2, "steps_per_iteration": 4})
    result = trainable.train()
    assert _finite(result) and result["global_step"] == 4
    assert next(trainable.model.parameters()).device.type == "cuda"
    trainable.stop()
