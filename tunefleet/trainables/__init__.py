"""PyTorch trainables for Ray Tune: a generic training loop plus built-in tasks.

Write a task by subclassing :class:`TorchTrainable` with a ``load_data`` and a
``build_model``; everything else (hyperparameter validation, optimizer, schedule, evaluation,
early stopping, checkpoints, actor reuse) comes from the base.
"""

from __future__ import annotations

from tunefleet.trainables.base import TorchTrainable
from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.tasks import (
    CNNHyperparams,
    DigitsCNN,
    DigitsMLP,
    LinearRegression,
    MLPHyperparams,
    Mnist1dCNN,
    Mnist1dCNNHyperparams,
    Mnist1dMLP,
)

__all__ = [
    "CNNHyperparams",
    "DataSplits",
    "DigitsCNN",
    "DigitsMLP",
    "LinearRegression",
    "MLPHyperparams",
    "Mnist1dCNN",
    "Mnist1dCNNHyperparams",
    "Mnist1dMLP",
    "TorchTrainable",
    "TrainingHyperparams",
]
