"""A tiny checkpointing function trainable that can misbehave on request (no torch unless asked).

It prints a line when it starts and one per iteration (and one before allocating for ``oom``).

Config keys (constants in the test experiments):
    x: what is tuned; ``score`` peaks at x = 0.3.
    seconds: sleep per iteration, so that a sweep is still running when a test interrupts it.
    log: file that gets one line ``trial_id iteration pid`` per iteration actually executed.
    fault: ``raise_once`` (raise at iteration ``fault_at``, once per trial: a marker file next to
        ``log`` remembers), ``nan`` (a NaN score from ``fault_at`` on), ``numpy_nan`` (the
        same, every score reported as a numpy float32; Ray refuses torch tensors in
        ``tune.report``), ``oom`` (allocate a tensor no machine has memory for), or absent.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune


def counter(config: dict[str, Any]) -> None:
    """Reports ``score`` and checkpoints its iteration every iteration."""
    context = tune.get_context()
    trial_id = context.get_trial_id()
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            start = json.loads(Path(directory, "state.json").read_text())["iteration"]
    fault, fault_at = config.get("fault"), config.get("fault_at", 2)
    print(f"trial {trial_id} starts at iteration {start + 1}")
    if fault == "oom":
        import torch

        print("allocating a petabyte")
        torch.empty(2**50, dtype=torch.uint8)  # a petabyte: RuntimeError from the allocator
    log = Path(config["log"]) if config.get("log") else None
    for iteration in range(start + 1, config.get("iterations", 1000) + 1):
        time.sleep(config.get("seconds", 0.0))
        if log is not None:
            with log.open("a") as out:
                out.write(f"{trial_id} {iteration} {os.getpid()}\n")
        print(f"iteration {iteration}")
        if fault == "raise_once" and iteration == fault_at and log is not None:
            marker = log.with_name(f"failed-{trial_id}")
            if not marker.exists():
                marker.write_text("")
                raise RuntimeError(f"injected failure at iteration {iteration}")
        score: Any = -((config["x"] - 0.3) ** 2) + 0.01 * iteration
        if fault in ("nan", "numpy_nan") and iteration >= fault_at:
            score = math.nan
        if fault == "numpy_nan":
            score = np.float32(score)
        with tempfile.TemporaryDirectory() as directory:
            Path(directory, "state.json").write_text(json.dumps({"iteration": iteration}))
            tune.report({"score": score}, checkpoint=tune.Checkpoint.from_directory(directory))


counter.reported_metrics = frozenset({"score"})  # type: ignore[attr-defined]
