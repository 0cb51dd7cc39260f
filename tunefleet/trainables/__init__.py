"""PyTorch trainables for Ray Tune: a generic training loop plus built-in tasks.

Write a task by subclassing :class:`TorchTrainable` with a ``load_data`` (tensors or datasets)
and a ``build_model``; everything else (hyperparameter validation, optimizer, schedule, mixed
precision, DataLoaders, evaluation, early stopping, checkpoints, actor reuse) comes from the base.
"""

from __future__ import annotations

from tunefleet.trainables.base import TorchTrainable
from tunefleet.trainables.data import DatasetSplits, DataSplits
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.task_kinds import CLASSIFICATION, REGRESSION, TaskKind
from tunefleet.trainables.tasks import (
    Cifar10Hyperparams,
    Cifar10ResNet,
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
    "CLASSIFICATION",
    "REGRESSION",
    "CNNHyperparams",
    "Cifar10Hyperparams",
    "Cifar10ResNet",
    "DataSplits",
    "DatasetSplits",
    "DigitsCNN",
    "DigitsMLP",
    "LinearRegression",
    "MLPHyperparams",
    "Mnist1dCNN",
    "Mnist1dCNNHyperparams",
    "Mnist1dMLP",
    "TaskKind",
    "TorchTrainable",
    "TrainingHyperparams",
]
