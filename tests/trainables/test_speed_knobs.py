"""Speed knobs as hyperparameters: mixed precision, gradient accumulation and clipping,
channels-last, torch.compile; and the validation that keeps fp16 off trials without a GPU."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import REPO
from tunefleet.config import load_experiment
from tunefleet.errors import ConfigError
from tunefleet.trainables import DigitsCNN, DigitsMLP, LinearRegression, TorchTrainable

from .helpers import same_weights

#: DigitsMLP without dropout and with plain SGD: an update is the gradient times the lr, so
#: runs that compute the same gradient end with (nearly) the same weights.
PLAIN_SGD: dict[str, Any] = {
    "hidden": 32,
    "optimizer": "sgd",
    "lr": 0.1,
    "batch_size": 100,
    "steps_per_iteration": 4,
    "max_iterations": 4,
}


def _weights_after(cls: type[TorchTrainable[Any]], config: dict[str, Any], iterations: int = 1) -> Any:
    trainable = cls(config=dict(config))
    results = [trainable.train() for _ in range(iterations)]
    return trainable, results


def _close(a: torch.nn.Module, b: torch.nn.Module, **tolerance: float) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.allclose(sa[k].float(), sb[k].float(), **tolerance) for k in sa)


# ------------------------------------------------------------------------ gradient accumulation


@pytest.mark.parametrize("micro_batches", [2, 3, 7])
def test_grad_accumulation_gives_the_gradient_of_the_whole_batch(micro_batches: int) -> None:
    # 100 samples in 3 or 7 micro-batches are uneven (34/33/33, 15/15/14/...): each part's loss
    # must weigh by its size, not 1/k, for the gradient to be the batch mean's.
    whole, whole_results = _weights_after(DigitsMLP, PLAIN_SGD)
    split, split_results = _weights_after(DigitsMLP, {**PLAIN_SGD, "grad_accumulation": micro_batches})
    assert _close(whole.model, split.model, rtol=1e-5, atol=1e-6)
    assert not same_weights(whole.model, split.model)  # really computed in parts (rounding differs)
    assert split_results[0]["train_loss"] == pytest.approx(whole_results[0]["train_loss"], rel=1e-6)
    assert split_results[0]["global_step"] == 4  # optimizer steps, not micro-batches


def test_grad_accumulation_with_l1_adds_the_penalty_once_per_step() -> None:
    config = {**PLAIN_SGD, "l1": 1e-3}
    whole, _ = _weights_after(DigitsMLP, config)
    split, _ = _weights_after(DigitsMLP, {**config, "grad_accumulation": 4})
    assert _close(whole.model, split.model, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ gradient clipping


def _update_norm(config: dict[str, Any]) -> float:
    trainable = DigitsMLP(config={**config, "steps_per_iteration": 1})
    before = torch.cat([p.detach().flatten().clone() for p in trainable.model.parameters()])
    trainable.train()
    after = torch.cat([p.detach().flatten() for p in trainable.model.parameters()])
    return float((after - before).norm())


def test_grad_clip_bounds_the_global_gradient_norm() -> None:
    # Plain SGD with lr 1: the update is minus the gradient, so its norm is the gradient's.
    config = {**PLAIN_SGD, "lr": 1.0}
    unclipped = _update_norm(config)
    assert unclipped > 0.05
    assert _update_norm({**config, "grad_clip": 0.01}) == pytest.approx(0.01, rel=1e-4)
    assert _update_norm({**config, "grad_clip": 1e6}) == pytest.approx(unclipped, rel=1e-6)


# ------------------------------------------------------------------------ mixed precision


def test_bf16_autocast_runs_the_forward_in_bfloat16_and_stays_close_to_fp32() -> None:
    fp32, fp32_results = _weights_after(DigitsMLP, PLAIN_SGD)
    bf16, bf16_results = _weights_after(DigitsMLP, {**PLAIN_SGD, "precision": "bf16"})
    assert not same_weights(fp32.model, bf16.model)
    assert bf16_results[0]["train_loss"] == pytest.approx(fp32_results[0]["train_loss"], rel=0.02)
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # master weights stay fp32
    with bf16.loop._autocast():
        assert bf16.model(bf16.data.x_val[:2]).dtype == torch.bfloat16


def test_fp16_gradient_scaler_state_is_in_the_checkpoint_and_restored(tmp_path: Path) -> None:
    config = {**PLAIN_SGD, "precision": "fp16", "steps_per_iteration": 3}
    source, _ = _weights_after(DigitsMLP, config)
    scaler = source.loop.scaler.state_dict()
    assert source.loop.scaler.is_enabled() and scaler["_growth_tracker"] == 3
    source.save_checkpoint(str(tmp_path))
    assert torch.load(tmp_path / "state.pt", weights_only=True)["grad_scaler"] == scaler

    target = DigitsMLP(config=dict(config))
    assert target.loop.scaler.state_dict() != scaler  # a fresh scaler has not counted any step
    target.load_checkpoint(str(tmp_path))
    assert target.loop.scaler.state_dict() == scaler
    # A checkpoint saved without a scaler (fp32) continues in fp16 from a fresh one.
    fp32, _ = _weights_after(DigitsMLP, {**config, "precision": "fp32"})
    fp32.save_checkpoint(str(tmp_path))
    target.load_checkpoint(str(tmp_path))
    assert target.loop.scaler.state_dict()["_growth_tracker"] == 0
    assert same_weights(target.model, fp32.model)


# ------------------------------------------------------------------------ memory format


def test_channels_last_changes_the_layout_not_the_result() -> None:
    config = {"channels": 4, "steps_per_iteration": 3, "batch_size": 64}
    default, _ = _weights_after(DigitsCNN, config)
    channels_last, _ = _weights_after(DigitsCNN, {**config, "channels_last": True})
    conv = channels_last.model.features[2].weight  # 8 x 4 x 3 x 3 (one input channel is both)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert _close(default.model, channels_last.model, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------ torch.compile


def test_compile_trains_like_eager_and_checkpoints_the_plain_module(tmp_path: Path) -> None:
    # About 30 s on a cold 2-core machine (Inductor compiles C++), a few seconds once cached.
    config = {"optimizer": "sgd", "lr": 0.05, "steps_per_iteration": 3, "batch_size": 64}
    eager, eager_results = _weights_after(LinearRegression, config)
    start = time.perf_counter()
    compiled, compiled_results = _weights_after(LinearRegression, {**config, "compile": True})
    print(f"compile + 3 steps + evaluation: {time.perf_counter() - start:.1f} s")
    assert _close(eager.model, compiled.model, rtol=1e-5, atol=1e-6)
    assert compiled_results[0]["val_loss"] == pytest.approx(eager_results[0]["val_loss"], rel=1e-5)
    compiled.save_checkpoint(str(tmp_path))
    keys = torch.load(tmp_path / "state.pt", weights_only=True)["model"].keys()
    assert keys == eager.model.state_dict().keys()  # no "_orig_mod." prefix
    eager.load_checkpoint(str(tmp_path))  # portable between compile on and off
    assert same_weights(eager.model, compiled.model)


def test_compile_without_a_working_backend_says_how_to_proceed() -> None:
    import torch._inductor.config

    torch.compiler.reset()  # nothing compiled earlier in this process may be reused
    with torch._inductor.config.patch({"cpp.cxx": ("/nonexistent/c++",), "fx_graph_cache": False}):
        trainable = LinearRegression(config={"compile": True, "steps_per_iteration": 1})
        with pytest.raises(
            RuntimeError, match=r"compile: true, but torch\.compile could not compile"
        ) as info:
            trainable.train()
    assert "set compile: false" in str(info.value) and "C++ compiler" in str(info.value)
    torch.compiler.reset()


# ------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("precision", "fp8", "precision: Input should be 'fp32', 'bf16' or 'fp16'"),
        ("compile", "sometimes", "compile: Input should be a valid boolean"),
        ("channels_last", "maybe", "channels_last: Input should be a valid boolean"),
        ("grad_accumulation", 0, "grad_accumulation: Input should be greater than or equal to 1"),
        ("grad_clip", 0.0, "grad_clip: Input should be greater than 0"),
        ("num_workers", -1, "num_workers: Input should be greater than or equal to 0"),
    ],
)
def test_speed_knobs_reject_invalid_values_naming_the_key(key: str, value: Any, message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        DigitsMLP.Hyperparams.from_config({key: value})
    errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]
    assert len(errors) == 1 and errors[0].startswith(message)


FP16 = """\
trainable: digits_mlp
metric: val_accuracy
mode: max
max_iterations: 2
space:
  precision: {precision}
resources: {resources}
"""


@pytest.mark.parametrize(
    ("precision", "key"),
    [("fp16", "space.precision"), ("{choice: [fp32, fp16]}", "space.precision.choice")],
)
def test_fp16_on_trials_without_a_gpu_is_a_validation_error(
    write_experiment, precision: str, key: str
) -> None:
    path = write_experiment(FP16.format(precision=precision, resources="{cpu: 1}"))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert [str(p) for p in info.value.problems] == [
        f"{key}: fp16 needs a GPU, and this experiment's trials get none (resources.gpu and "
        "resources.workers.gpu are 0); use bf16 or fp32 on CPUs, or give each trial a GPU"
    ]


@pytest.mark.parametrize(
    ("precision", "resources"),
    [
        ("fp16", "{cpu: 1, gpu: 0.5}"),
        ("fp16", "{cpu: 1, workers: {count: 2, gpu: 1}}"),
        ("bf16", "{cpu: 1}"),
        ("{choice: [fp32, bf16]}", "{cpu: 1}"),
    ],
)
def test_fp16_with_a_gpu_and_bf16_anywhere_are_valid(
    write_experiment, precision: str, resources: str
) -> None:
    load_experiment(write_experiment(FP16.format(precision=precision, resources=resources)))


def test_pbt_mutating_precision_to_fp16_without_a_gpu_is_a_validation_error(tmp_path: Path) -> None:
    path = REPO / "experiments" / "mnist1d_pbt.yaml"
    with pytest.raises(ConfigError) as info:
        load_experiment(path, ["scheduler.mutations.precision={choice: [fp32, fp16]}"])
    assert [p.key for p in info.value.problems] == ["scheduler.mutations.precision.choice"]
