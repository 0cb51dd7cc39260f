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


# ------------------------------------------------------------------------ data-parallel workers


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def test_a_data_parallel_worker_trains_on_its_gpu_over_nccl_and_checkpoints_to_the_cpu(
    ray_local: None, tmp_path: Path
) -> None:
    from .ranked import OneGpuRankBlobs, device_and_backend, state_digest

    config = {"hidden": 8, "dropout": 0.2, "steps_per_iteration": 4, "batch_size": 32, "precision": "bf16"}
    trainable = OneGpuRankBlobs(config=dict(config))
    try:
        result = trainable.train()
        assert _finite(result) and result["world_size"] == 1 and result["global_step"] == 4
        assert trainable.on_every_rank(device_and_backend) == [("cuda:0", "nccl")]
        saved = trainable.on_every_rank(state_digest)
        checkpoint = trainable.save(str(tmp_path / "checkpoint"))
        # Written by the trial's own process, which has no GPU: every tensor on the CPU.
        state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=True)
        assert {t.device.type for t in _tensors(state)} == {"cpu"}
        assert "cuda" in state["rng_by_rank"][0]["trial"]  # the rank's CUDA generator
        trainable.train()
        trainable.restore(checkpoint)
        assert trainable.on_every_rank(state_digest) == saved
        assert _finite(trainable.train())
    finally:
        trainable.stop()


def test_a_sweep_of_data_parallel_trials_gives_each_worker_a_gpu(ray_local: None, tmp_path: Path) -> None:
    from rich.console import Console

    from tunefleet.analysis import load_results
    from tunefleet.config import load_experiment
    from tunefleet.run.sweep import run_experiment

    (tmp_path / "exp.yaml").write_text(
        """\
trainable: tests.trainables.ranked:DeviceReportingBlobs
metric: val_loss
mode: min
num_samples: 2
max_iterations: 2
space: {hidden: 8, steps_per_iteration: 4, batch_size: 32, precision: fp16, lr: {loguniform: [1.0e-3, 1.0e-1]}}
resources: {workers: {count: 1, cpu: 1, gpu: 1}}
checkpoint: {frequency: 1}
"""
    )
    outcome = run_experiment(
        load_experiment(tmp_path / "exp.yaml"),
        storage=str(tmp_path / "results"),
        console=Console(file=open(tmp_path / "progress.txt", "w")),  # noqa: SIM115
    )
    assert (outcome.num_trials, outcome.num_errors) == (2, 0)
    history = load_results(outcome.path).history()
    assert set(history["device"]) == {"cuda:0"} and set(history["backend"]) == {"nccl"}
    assert set(history["world_size"]) == {1}
