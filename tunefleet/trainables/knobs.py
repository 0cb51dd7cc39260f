"""Pure torch builders that turn :class:`TrainingHyperparams` into optimizers, schedules and layers.

Nothing here knows about Ray: the trainable base calls these, and so can a notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from tunefleet.trainables.hyperparams import (
    ActivationName,
    InitScheme,
    TrainingHyperparams,
)

__all__ = [
    "activation",
    "apply_optimizer_hyperparams",
    "build_lr_scheduler",
    "build_optimizer",
    "init_weights",
    "lr_multiplier",
]

_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def _optimizer_kwargs(hp: TrainingHyperparams) -> dict[str, Any]:
    """The per-group hyperparameters of ``hp.optimizer``, as torch names them."""
    if hp.optimizer == "sgd":
        return {"lr": hp.lr, "momentum": 0.0, "weight_decay": hp.weight_decay}
    if hp.optimizer == "momentum":
        # Nesterov with zero momentum is plain SGD, but torch rejects the combination; a search
        # that samples momentum down to 0 should not crash on it.
        nesterov = hp.nesterov and hp.momentum > 0
        return {
            "lr": hp.lr,
            "momentum": hp.momentum,
            "nesterov": nesterov,
            "weight_decay": hp.weight_decay,
        }
    if hp.optimizer in ("adam", "adamw"):
        # For AdamW torch's weight_decay is the decoupled one; for Adam it is the L2 term.
        return {"lr": hp.lr, "betas": (hp.beta1, hp.beta2), "weight_decay": hp.weight_decay}
    if hp.optimizer == "rmsprop":
        return {"lr": hp.lr, "momentum": hp.momentum, "weight_decay": hp.weight_decay}
    raise AssertionError(f"unhandled optimizer {hp.optimizer!r}")  # the Literal is closed


def build_optimizer(
    params: Iterable[nn.Parameter] | Iterable[dict[str, Any]],
    hp: TrainingHyperparams,
) -> torch.optim.Optimizer:
    """The optimizer named by ``hp.optimizer`` with its hyperparameters from ``hp``.

    Args:
        params: Parameters (or parameter groups) to optimize.
        hp: Validated hyperparameters.

    Returns:
        A fresh ``torch.optim`` optimizer.

    Example:
        >>> model = nn.Linear(3, 1)
        >>> opt = build_optimizer(model.parameters(), TrainingHyperparams(optimizer="adamw"))
        >>> type(opt).__name__, opt.param_groups[0]["betas"]
        ('AdamW', (0.9, 0.999))
    """
    return _OPTIMIZERS[hp.optimizer](params, **_optimizer_kwargs(hp))


def apply_optimizer_hyperparams(optimizer: torch.optim.Optimizer, hp: TrainingHyperparams) -> None:
    """Overwrites the hyperparameters of every param group with those of ``hp``, keeping state.

    ``Optimizer.load_state_dict`` restores the saved groups' lr, betas, ... along with the
    moment estimates; when a checkpoint is continued under a different config (a PBT exploit),
    the new values must win while the optimizer state carries over.

    Args:
        optimizer: An optimizer built by :func:`build_optimizer` for the same ``hp.optimizer``.
        hp: The hyperparameters to apply.
    """
    kwargs = _optimizer_kwargs(hp)
    for group in optimizer.param_groups:
        group.update(kwargs)
        group["initial_lr"] = hp.lr


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


def init_weights(module: nn.Module, scheme: InitScheme, activation: ActivationName = "relu") -> None:
    """Re-initialises the weights of every linear and convolutional layer in ``module``.

    Args:
        module: Model to initialise in place (uses the global torch RNG).
        scheme: ``default`` keeps torch's layer defaults; ``xavier`` is Glorot-uniform;
            ``he`` is Kaiming-normal (fan-in) for ``activation``. Biases become zero for both.
        activation: The model's activation, which sets the He gain (ReLU's for the
            non-rectifiers, as is customary).
    """
    if scheme == "default":
        return
    for layer in module.modules():
        if not isinstance(layer, nn.Linear | nn.modules.conv._ConvNd):
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        elif activation == "leaky_relu":
            nn.init.kaiming_normal_(layer.weight, a=0.01, nonlinearity="leaky_relu")
        else:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def activation(name: ActivationName) -> nn.Module:
    """A fresh activation module by name (``leaky_relu`` uses torch's slope 0.01).

    Raises:
        ValueError: For an unknown name, listing the valid ones.
    """
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}") from None
