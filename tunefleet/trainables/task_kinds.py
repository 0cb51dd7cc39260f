"""What kind of prediction a trainable learns: its loss, its metrics and its targets' dtype.

The training loop knows nothing about classification or regression; it asks its task kind.
A trainable names one (``task = "classification"``) or gives its own :class:`TaskKind` object
for another kind of problem (a different loss, different metrics). Plain torch, no Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tunefleet.trainables.metrics import (
    ClassificationAccumulator,
    MetricAccumulator,
    RegressionAccumulator,
    align_regression_output,
)

__all__ = ["CLASSIFICATION", "REGRESSION", "TASK_KINDS", "TaskKind", "resolve_task_kind"]


@dataclass(frozen=True)
class TaskKind:
    """A kind of supervised task.

    Attributes:
        name: What experiment files and error messages call it.
        target_dtype: The dtype targets are cast to before the loss (a DataLoader collates
            Python ints to int64 and numpy floats to float64).
        val_metrics: Metrics reported on the validation set, as ``val_<name>``.
        test_metrics: Metrics reported on the test set, as ``test_<name>``.
    """

    name: str
    target_dtype: torch.dtype
    val_metrics: tuple[str, ...]
    test_metrics: tuple[str, ...]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The mean training loss of a batch."""
        raise NotImplementedError

    def accumulator(self) -> MetricAccumulator:
        """A fresh accumulator whose ``compute()`` has at least ``val_metrics`` and ``test_metrics``."""
        raise NotImplementedError

    def prepare_target(self, target: Tensor) -> Tensor:
        """``target`` in :attr:`target_dtype` (no copy when it already is)."""
        return target if target.dtype == self.target_dtype else target.to(self.target_dtype)

    @property
    def metric_names(self) -> frozenset[str]:
        """Every name of the evaluation metrics this kind reports (``val_*`` and ``test_*``)."""
        return frozenset([f"val_{m}" for m in self.val_metrics] + [f"test_{m}" for m in self.test_metrics])


class _Classification(TaskKind):
    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(output, target)

    def accumulator(self) -> MetricAccumulator:
        return ClassificationAccumulator()


class _Regression(TaskKind):
    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(align_regression_output(output, target), target)

    def accumulator(self) -> MetricAccumulator:
        return RegressionAccumulator()


#: Cross-entropy on int64 class indices; accuracy and macro precision/recall/F1.
CLASSIFICATION: TaskKind = _Classification(
    name="classification",
    target_dtype=torch.int64,
    val_metrics=("loss", "accuracy", "precision", "recall", "f1"),
    test_metrics=("loss", "accuracy", "f1"),
)
#: Mean squared error on float32 targets; R^2.
REGRESSION: TaskKind = _Regression(
    name="regression",
    target_dtype=torch.float32,
    val_metrics=("loss", "r2"),
    test_metrics=("loss", "r2"),
)

#: The task kinds a trainable can name by a string.
TASK_KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (CLASSIFICATION, REGRESSION)}


def resolve_task_kind(task: str | TaskKind) -> TaskKind:
    """The :class:`TaskKind` named by ``task`` (or ``task`` itself).

    Raises:
        ValueError: For an unknown name, listing the known ones.
    """
    if isinstance(task, TaskKind):
        return task
    try:
        return TASK_KINDS[task]
    except (KeyError, TypeError):
        known = " or ".join(repr(name) for name in TASK_KINDS)
        raise ValueError(f"must be {known} or a TaskKind, got {task!r}") from None
