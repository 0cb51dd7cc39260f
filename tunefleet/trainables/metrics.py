"""Evaluation metrics computed on the model's device, without host round trips.

Every function returns 0-d tensors; :func:`to_floats` moves a whole batch of them to the host
in one transfer, so an evaluation costs one device synchronisation however many metrics it
reports. Definitions follow scikit-learn (macro averages over the classes present in the
targets or the predictions, zero where a ratio is 0/0), and the tests check them against it.

An evaluation set that does not fit one forward pass (or arrives from a DataLoader) is scored
with an accumulator: ``update`` per batch keeps only sums (a confusion matrix, sums of squares),
``compute`` gives the same metrics as the one-shot functions. Sums add up across processes, so a
multi-process (DDP) evaluation all-reduces :meth:`MetricAccumulator.sums` and computes once.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ClassificationAccumulator",
    "MetricAccumulator",
    "RegressionAccumulator",
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


def _scores_from_confusion(cm: Tensor) -> dict[str, Tensor]:
    """Accuracy and macro precision/recall/F1 from a confusion matrix (float)."""
    true_positives = cm.diagonal()
    predicted = cm.sum(dim=0)
    actual = cm.sum(dim=1)
    precision = _safe_divide(true_positives, predicted)
    recall = _safe_divide(true_positives, actual)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    # Like sklearn without `labels=`: average over classes seen in targets or predictions.
    present = ((predicted + actual) > 0).to(cm.dtype)
    n_present = present.sum()
    return {
        "accuracy": true_positives.sum() / cm.sum(),
        "precision": (precision * present).sum() / n_present,
        "recall": (recall * present).sum() / n_present,
        "f1": (f1 * present).sum() / n_present,
    }


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
    return {"loss": F.cross_entropy(logits, targets), **_scores_from_confusion(cm)}


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


class MetricAccumulator:
    """Sums over the batches of an evaluation set, turned into metrics at the end.

    ``update`` adds a batch; ``sums`` are every statistic kept (tensors on the batches' device,
    which add up elementwise across processes); ``compute`` returns the metrics as 0-d tensors.
    """

    def update(self, output: Tensor, target: Tensor) -> None:
        raise NotImplementedError

    @property
    def sums(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def load_sums(self, sums: dict[str, Tensor]) -> None:
        """Replaces the sums (with all-reduced ones, in a multi-process evaluation)."""
        raise NotImplementedError

    def compute(self) -> dict[str, Tensor]:
        raise NotImplementedError


class ClassificationAccumulator(MetricAccumulator):
    """:func:`classification_metrics` over many batches: a confusion matrix and a loss sum.

    Example:
        >>> acc = ClassificationAccumulator()
        >>> acc.update(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        >>> acc.update(torch.tensor([[0.0, 3.0]]), torch.tensor([1]))
        >>> round(acc.compute()["accuracy"].item(), 4)
        0.6667
    """

    def __init__(self) -> None:
        self._confusion: Tensor | None = None
        self._loss_sum: Tensor | None = None

    def update(self, output: Tensor, target: Tensor) -> None:
        num_classes = output.shape[1]
        confusion = confusion_matrix(output.argmax(dim=1), target, num_classes)
        loss = F.cross_entropy(output, target, reduction="sum").double()
        if self._confusion is None or self._loss_sum is None:
            self._confusion, self._loss_sum = confusion, loss
        else:
            self._confusion += confusion
            self._loss_sum += loss

    @property
    def sums(self) -> dict[str, Tensor]:
        if self._confusion is None or self._loss_sum is None:
            raise ValueError("no batch was evaluated")
        return {"confusion": self._confusion, "loss_sum": self._loss_sum}

    def load_sums(self, sums: dict[str, Tensor]) -> None:
        self._confusion, self._loss_sum = sums["confusion"], sums["loss_sum"]

    def compute(self) -> dict[str, Tensor]:
        sums = self.sums
        cm = sums["confusion"].double()
        scores = _scores_from_confusion(cm)
        return {"loss": (sums["loss_sum"] / cm.sum()).float(), **{k: v.float() for k, v in scores.items()}}


class RegressionAccumulator(MetricAccumulator):
    """:func:`regression_metrics` over many batches, from float64 sums per output.

    R^2 needs the targets' spread around their mean over the whole set; it comes from the sums
    of ``y`` and ``y**2`` (float64, so the subtraction keeps its precision on any realistic set).
    """

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] | None = None

    def update(self, output: Tensor, target: Tensor) -> None:
        predictions = align_regression_output(output, target).double()
        y = target.double()
        batch = {
            "count": torch.tensor(float(len(y)), dtype=torch.float64, device=y.device),
            "squared_error": ((y - predictions) ** 2).sum(dim=0),
            "target_sum": y.sum(dim=0),
            "target_square_sum": (y**2).sum(dim=0),
        }
        if self._sums is None:
            self._sums = batch
        else:
            for key, value in batch.items():
                self._sums[key] += value

    @property
    def sums(self) -> dict[str, Tensor]:
        if self._sums is None:
            raise ValueError("no batch was evaluated")
        return self._sums

    def load_sums(self, sums: dict[str, Tensor]) -> None:
        self._sums = dict(sums)

    def compute(self) -> dict[str, Tensor]:
        sums = self.sums
        n = sums["count"]
        residual = sums["squared_error"]
        total = (sums["target_square_sum"] - sums["target_sum"] ** 2 / n).clamp(min=0)
        # A constant target leaves only rounding in `total`; sklearn's convention applies then.
        constant = total <= 1e-12 * sums["target_square_sum"]
        r2 = torch.where(
            constant,
            (residual == 0).double(),
            1 - residual / torch.where(constant, 1.0, total),
        )
        return {"loss": (residual.sum() / (n * residual.numel())).float(), "r2": r2.mean().float()}
