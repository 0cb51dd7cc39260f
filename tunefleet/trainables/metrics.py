"""Evaluation metrics computed on the model's device, without host round trips.

Every function returns 0-d tensors; :func:`to_floats` moves a whole batch of them to the host
in one transfer, so an evaluation costs one device synchronisation however many metrics it
reports. Definitions follow scikit-learn (macro averages over the classes present in the
targets or the predictions, zero where a ratio is 0/0), and the tests check them against it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "align_regression_output",
    "classification_metrics",
    "confusion_matrix",
    "regression_metrics",
    "to_floats",
]


def confusion_matrix(predictions: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """Counts ``C[i, j]`` of samples with target class ``i`` predicted as class ``j``.

    Args:
        predictions: Predicted class indices, shape ``(n,)``.
        targets: True class indices, shape ``(n,)``.
        num_classes: Number of classes ``C``.

    Returns:
        An int64 tensor of shape ``(C, C)`` on the inputs' device.
    """
    flat = targets.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    # sklearn's zero_division=0: a class never predicted has precision 0, not NaN.
    nonzero = denominator > 0
    return torch.where(nonzero, numerator / torch.where(nonzero, denominator, 1.0), 0.0)


def classification_metrics(logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
    """Cross-entropy loss, accuracy and macro precision/recall/F1 of a batch of logits.

    Args:
        logits: Unnormalised class scores, shape ``(n, C)``.
        targets: True class indices, shape ``(n,)``.

    Returns:
        0-d float tensors ``loss``, ``accuracy``, ``precision``, ``recall`` and ``f1``.
    """
    num_classes = logits.shape[1]
    cm = confusion_matrix(logits.argmax(dim=1), targets, num_classes).to(logits.dtype)
    true_positives = cm.diagonal()
    predicted = cm.sum(dim=0)
    actual = cm.sum(dim=1)
    precision = _safe_divide(true_positives, predicted)
    recall = _safe_divide(true_positives, actual)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    # Like sklearn without `labels=`: average over classes seen in targets or predictions.
    present = ((predicted + actual) > 0).to(logits.dtype)
    n_present = present.sum()
    return {
        "loss": F.cross_entropy(logits, targets),
        "accuracy": true_positives.sum() / cm.sum(),
        "precision": (precision * present).sum() / n_present,
        "recall": (recall * present).sum() / n_present,
        "f1": (f1 * present).sum() / n_present,
    }


def align_regression_output(predictions: Tensor, targets: Tensor) -> Tensor:
    """``predictions`` shaped like ``targets``, dropping a trailing output dimension of size 1.

    A model with one output returns ``(n, 1)`` for targets of shape ``(n,)``; comparing them
    directly would broadcast to ``(n, n)`` and give a silently wrong loss.

    Raises:
        ValueError: If the shapes differ in any other way.
    """
    if predictions.shape == targets.shape:
        return predictions
    if predictions.dim() == targets.dim() + 1 and predictions.shape[-1] == 1:
        squeezed = predictions.squeeze(-1)
        if squeezed.shape == targets.shape:
            return squeezed
    raise ValueError(
        f"model output of shape {tuple(predictions.shape)} does not match regression targets "
        f"of shape {tuple(targets.shape)}"
    )


def regression_metrics(predictions: Tensor, targets: Tensor) -> dict[str, Tensor]:
    """Mean squared error and coefficient of determination.

    Args:
        predictions: Model outputs, shape ``(n,)`` or ``(n, k)`` (``(n, 1)`` for ``(n,)`` targets).
        targets: True values, shape ``(n,)`` or ``(n, k)``.

    Returns:
        0-d float tensors ``loss`` (MSE) and ``r2`` (averaged uniformly over outputs, with
        sklearn's convention for constant targets: 1 if predicted exactly, else 0).
    """
    predictions = align_regression_output(predictions, targets)
    residual = ((targets - predictions) ** 2).sum(dim=0)
    total = ((targets - targets.mean(dim=0)) ** 2).sum(dim=0)
    r2 = torch.where(
        total > 0,
        1 - residual / total.clamp(min=torch.finfo(total.dtype).tiny),
        (residual == 0).to(total.dtype),
    )
    return {"loss": F.mse_loss(predictions, targets), "r2": r2.mean()}


def to_floats(metrics: Mapping[str, Tensor]) -> dict[str, float]:
    """Copies 0-d metric tensors to Python floats with a single device-to-host transfer."""
    if not metrics:
        return {}
    values = torch.stack([t.detach().reshape(()).float() for t in metrics.values()])
    return dict(zip(metrics, values.cpu().tolist(), strict=True))
