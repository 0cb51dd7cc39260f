"""What a model costs to keep and to run: its parameter count and its per-sample inference time.

Plain torch, no Ray. The training loop reports both with every result (``params``,
``latency_ms``) so that a sweep can trade accuracy against them (``metric: [val_accuracy,
params]``). Every built-in trainable measures latency the same way (:func:`inference_latency_ms`):
the model in eval mode under ``torch.inference_mode()``, on the trial's device, in the trial's
precision, not compiled (``compile: true`` would recompile it for inference mode), on a fixed
batch of :data:`LATENCY_SAMPLES` validation samples; :data:`LATENCY_WARMUP` untimed runs, then
the median of :data:`LATENCY_REPEATS` timed runs (CUDA-synchronized), divided by the batch's size.
Time on a shared machine depends on what else runs there: compare latencies measured on the same
kind of device under similar load.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "LATENCY_REPEATS",
    "LATENCY_SAMPLES",
    "LATENCY_WARMUP",
    "count_parameters",
    "inference_latency_ms",
]

#: Samples in the timed batch (fewer when the validation set has fewer).
LATENCY_SAMPLES = 64
#: Untimed forward passes first (lazy initialisation, caches, cuDNN's algorithm search).
LATENCY_WARMUP = 3
#: Timed forward passes; their median is taken, which a single slow pass does not move.
LATENCY_REPEATS = 7


def count_parameters(model: nn.Module) -> int:
    """The trainable parameters of ``model`` (``requires_grad``); a shared tensor counts once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def inference_latency_ms(
    model: nn.Module,
    inputs: Tensor,
    *,
    context: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
    warmup: int = LATENCY_WARMUP,
    repeats: int = LATENCY_REPEATS,
) -> float:
    """Milliseconds per sample of a forward pass over ``inputs`` (one batch, on the model's device).

    Args:
        model: Put in eval mode for the measurement; its previous mode is restored.
        inputs: The batch, already on the device and in the model's input layout.
        context: Entered around each pass (the trial's autocast).
        warmup: Untimed passes before the timed ones.
        repeats: Timed passes; the median counts.

    Raises:
        ValueError: For an empty batch or ``repeats < 1``.
    """
    if len(inputs) == 0 or repeats < 1:
        raise ValueError(f"need a non-empty batch and repeats >= 1, got {len(inputs)} samples, {repeats}")
    cuda = inputs.device.type == "cuda"
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + repeats):
                if cuda:
                    torch.cuda.synchronize(inputs.device)
                start = time.perf_counter()
                with context():
                    model(inputs)
                if cuda:
                    torch.cuda.synchronize(inputs.device)  # the kernels, not their launch
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return 1000.0 * statistics.median(times) / len(inputs)
