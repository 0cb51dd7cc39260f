"""Ray's ``WandbLoggerCallback`` (Ray 2.60, wandb 0.31), fixed where it fails a sweep.

Ray logs each trial from an actor of its own (W&B wants one process per run), fed by a queue.
What is changed, and why:

- **Offline needs no API key**: Ray asks for one unless the driver's ``WANDB_MODE`` says offline,
  and ``mode: offline`` passed to ``wandb.init`` (tunefleet's default) does not count there.
- **A stopped sweep ends at once**: at the end of a sweep Ray waits for every logging actor to
  finish, but the actors of trials still unfinished (Ctrl-C, ``time_budget``) were never told
  to: the driver waited ``upload_timeout`` (30 minutes) before killing them. They are told now
  (:func:`tunefleet.ray_internals.stop_wandb_logging`).
- **A resumed sweep continues each trial's run** (``resume="allow"``, set by the plugin; Ray
  passes ``resume=False``, and W&B refuses a second run with the same id online). Offline,
  W&B writes a second folder for the run id, which ``wandb sync`` uploads into the same run.
"""

from __future__ import annotations

from typing import Any

from ray.air.integrations.wandb import WandbLoggerCallback

from tunefleet.ray_internals import stop_wandb_logging

__all__ = ["WandbCallback"]


class WandbCallback(WandbLoggerCallback):
    """Every trial a W&B run: its config as the run's config, its results logged at step
    ``training_iteration``; ``wandb_init`` keyword arguments (mode, dir, resume...) pass through."""

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if self.kwargs.get("mode") in ("offline", "disabled"):
            return  # project and group are set by the plugin; no key needed
        super().setup(*args, **kwargs)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        stop_wandb_logging(self)  # trials a stopped sweep leaves unfinished
        super().on_experiment_end(trials, **info)
