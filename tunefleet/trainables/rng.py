"""A trial's random streams: derived seeds, and the global generators' state as plain values.

Plain torch/numpy, no Ray. The global generators (torch, CUDA, numpy, Python) are what models
draw from (dropout) and what users' transforms draw from; their state is captured as tensors and
builtins only, so a checkpoint holding it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch

__all__ = [
    "AUGMENTATION_STREAM",
    "BATCH_ORDER_STREAM",
    "RANK_STREAM",
    "SAMPLE_STREAM",
    "derive_seed",
    "get_global_rngs",
    "sample_seed",
    "seed_global_rngs",
    "seed_sample_rngs",
    "set_global_rngs",
]

#: Stream numbers of :func:`derive_seed`: one independent stream per use, so that batch order,
#: augmentation and per-sample randomness are not correlated with weight init or each other.
BATCH_ORDER_STREAM = 1
AUGMENTATION_STREAM = 2
SAMPLE_STREAM = 3
#: The global generators (dropout) of ranks 1.. of a data-parallel trial; rank 0 keeps the
#: stream a single-process trial has (the continuation of weight initialisation).
RANK_STREAM = 4

_MASK64 = (1 << 64) - 1


def derive_seed(seed: int, stream: int, rank: int = 0) -> int:
    """A seed (32 bits) for an independent random stream of the trial seeded with ``seed``.

    ``rank`` gives each process of a data-parallel trial its own stream; rank 0's is the stream
    of a single-process trial, so one process gives the results it always gave.
    """
    entropy = [seed, stream] if rank == 0 else [seed, stream, rank]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _splitmix64(x: int) -> int:
    # The finaliser of SplitMix64 (Steele et al., 2014): a cheap bijective mix of 64-bit words.
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def sample_seed(base: int, epoch: int, position: int) -> int:
    """The seed of the sample at ``position`` of epoch ``epoch``'s permutation (64 bits).

    A pure function of the data position: the same sample at the same point of training gets the
    same random augmentation, whichever process loads it and whatever happened before.

    Args:
        base: ``derive_seed(trial seed, SAMPLE_STREAM)``.
        epoch: Index of the epoch (0 for the first permutation).
        position: Index of the sample in the epoch's permutation.
    """
    return _splitmix64(base ^ _splitmix64((epoch << 32) + position))


def seed_sample_rngs(seed: int) -> None:
    """Seeds the CPU torch, numpy and Python global generators for one sample.

    ``torch.default_generator.manual_seed`` rather than ``torch.manual_seed``: the latter also
    queues a lazy CUDA seeding that records a stack trace each call (about 0.7 ms, 200x the
    seeding itself), and a sample is loaded on the CPU anyway.
    """
    torch.default_generator.manual_seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)  # numpy's legacy seeding takes 32 bits
    random.seed(seed)


def seed_global_rngs(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_global_rngs(device: torch.device) -> dict[str, Any]:
    """The state of every global generator a training step may draw from, as plain values."""
    kind, keys, pos, has_gauss, cached_gaussian = cast(
        tuple[str, np.ndarray, int, int, float],
        np.random.get_state(legacy=True),  # the documented tuple form
    )
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # Tensors and builtins only, so the checkpoint loads with weights_only=True.
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_global_rngs(state: Mapping[str, Any], device: torch.device) -> None:
    """Inverse of :func:`get_global_rngs`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
