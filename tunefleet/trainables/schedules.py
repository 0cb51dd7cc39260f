"""Learning-rate schedules built from :class:`TrainingHyperparams`, as closed forms of the step.

Plain torch, no Ray.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR

from tunefleet.trainables.hyperparams import TrainingHyperparams

__all__ = ["build_lr_scheduler", "lr_multiplier"]


def lr_multiplier(hp: TrainingHyperparams) -> Callable[[int], float]:
    """The factor applied to ``hp.lr`` after ``t`` optimizer steps, for ``hp.lr_schedule``.

    With ``S = hp.steps_per_iteration``:

    - ``constant``: 1
    - ``step``: ``gamma ** (t // (lr_step_every * S))``
    - ``exponential``: ``gamma ** (t / S)`` (smooth, ``gamma`` per iteration)
    - ``cosine``: ``(1 + cos(pi * min(t, T) / T)) / 2`` with ``T = max_iterations * S``
    - ``inverse_sqrt``: ``1 / sqrt(1 + t / S)``

    Closed forms rather than recursive updates: the value at any step is exact, so a schedule
    can be restarted at any step (a checkpoint, a PBT exploit) without drift.

    Example:
        >>> f = lr_multiplier(TrainingHyperparams(lr_schedule="step", lr_step_every=2,
        ...                                       steps_per_iteration=10))
        >>> f(19), f(20), f(40)
        (1.0, 0.5, 0.25)
    """
    per_iteration = hp.steps_per_iteration
    gamma = hp.effective_lr_gamma
    if hp.lr_schedule == "constant":
        return lambda t: 1.0
    if hp.lr_schedule == "step":
        every = hp.effective_lr_step_every * per_iteration
        return lambda t: gamma ** (t // every)
    if hp.lr_schedule == "exponential":
        return lambda t: gamma ** (t / per_iteration)
    if hp.lr_schedule == "cosine":
        horizon = hp.total_steps
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, horizon) / horizon))
    if hp.lr_schedule == "inverse_sqrt":
        return lambda t: 1.0 / math.sqrt(1.0 + t / per_iteration)
    raise AssertionError(f"unhandled lr_schedule {hp.lr_schedule!r}")  # the Literal is closed


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    hp: TrainingHyperparams,
    *,
    start_step: int = 0,
) -> LambdaLR:
    """A scheduler for ``hp.lr_schedule``, to be stepped once per optimizer step.

    The multiplier is a plain function, so ``state_dict()`` holds only numbers (last step,
    base lrs) and round-trips through ``torch.load(weights_only=True)``.

    Args:
        optimizer: The optimizer whose learning rate is scheduled.
        hp: Validated hyperparameters; ``hp.lr`` is the base learning rate.
        start_step: Optimizer steps already taken; the schedule resumes there (used when a
            checkpoint continues under changed hyperparameters).

    Returns:
        A ``LambdaLR`` that has set every group's lr for step ``start_step``.
    """
    for group in optimizer.param_groups:
        # The scheduler's base lr; set explicitly because resuming (last_epoch >= 0) requires it
        # and a restored optimizer may carry another run's value.
        group["initial_lr"] = hp.lr
    # LambdaLR performs one step on construction, so last_epoch = start_step - 1 lands on
    # start_step and sets lr = hp.lr * multiplier(start_step).
    return LambdaLR(optimizer, lr_multiplier(hp), last_epoch=start_step - 1)
