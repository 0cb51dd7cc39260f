"""Optimizers built from :class:`TrainingHyperparams`, and their hyperparameters re-applied.

Plain torch, no Ray: the training loop calls these, and so can a notebook.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from tunefleet.trainables.hyperparams import TrainingHyperparams

__all__ = ["apply_optimizer_hyperparams", "build_optimizer"]

_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
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
