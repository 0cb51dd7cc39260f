"""Trainables that do no work, so that a sweep's wall time is the tuning framework's own overhead.

Both report ``score`` for ``iterations`` iterations (10 unless the config says otherwise). They
live in an importable module (not in a script) so that Ray workers and tunefleet's YAML loader
import the very same code: ``trainable: benchmarks.trivial:NoWork``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from ray import tune

__all__ = ["NoWork", "no_work", "no_work_experiment"]

REPORTED = frozenset({"score"})


class NoWork(tune.Trainable):
    """Class trainable: each ``step()`` returns ``score = x`` at once; actors are reusable."""

    reported_metrics = REPORTED

    def setup(self, config: dict[str, Any]) -> None:
        self.x = float(config.get("x", 0.0))

    def step(self) -> dict[str, Any]:
        return {"score": self.x}

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.x = float(new_config.get("x", 0.0))
        return True

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        return None

    def load_checkpoint(self, checkpoint: Any) -> None:
        return None


def no_work(config: dict[str, Any]) -> None:
    """Function trainable: reports ``score = x`` ``iterations`` times, nothing in between."""
    x = float(config.get("x", 0.0))
    for _ in range(int(config.get("iterations", 10))):
        tune.report({"score": x})


no_work.reported_metrics = REPORTED  # type: ignore[attr-defined]


def no_work_experiment(name: str, trainable: str, trials: int, iterations: int, storage: Path) -> str:
    """A tunefleet experiment file: random search over ``x`` for ``trials`` no-work trials.

    One CPU per trial and no trial checkpoints, like the hand-written Ray Tune sweeps it is
    compared with.
    """
    return textwrap.dedent(
        f"""\
        name: {name}
        trainable: {trainable}
        metric: score
        mode: max
        num_samples: {trials}
        max_iterations: {iterations}
        search: {{algorithm: random, seed: 0}}
        space:
          x: {{uniform: [0.0, 1.0]}}
          iterations: {iterations}
        resources: {{cpu: 1, gpu: 0}}
        checkpoint: {{frequency: 0, at_end: false}}
        storage: {storage}
        """
    )
