"""Device-side metrics agree with scikit-learn's definitions, batch by batch too."""

from __future__ import annotations

import pytest
import torch
from sklearn import metrics as skm

from tunefleet.trainables.metrics import (
    ClassificationAccumulator,
    RegressionAccumulator,
    align_regression_output,
    classification_metrics,
    confusion_matrix,
    regression_metrics,
    to_floats,
)


def _classification_case(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets where class 3 is never predicted and class 4 never a target."""
    gen = torch.Generator().manual_seed(seed)
    n, classes = 300, 6
    targets = torch.randint(0, classes, (n,), generator=gen)
    targets[targets == 4] = 5
    logits = torch.randn(n, classes, generator=gen)
    logits[torch.arange(n), targets] += 1.0  # better than chance, not perfect
    logits[:, 3] -= 10.0  # mild enough that log_loss does not clip its probabilities
    return logits, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn(seed: int) -> None:
    logits, targets = _classification_case(seed)
    predictions = logits.argmax(1).numpy()
    y = targets.numpy()
    assert 3 not in predictions and 4 not in y  # the edge cases sklearn's macro average handles
    ours = to_floats(classification_metrics(logits, targets))

    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, predictions), abs=1e-6)
    for name, fn in [
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ]:
        expected = fn(y, predictions, average="macro", zero_division=0)
        assert ours[name] == pytest.approx(expected, abs=1e-6), name
    probabilities = torch.softmax(logits.double(), 1).numpy()
    expected_loss = skm.log_loss(y, probabilities, labels=list(range(logits.shape[1])))
    assert ours["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_confusion_matrix_matches_sklearn() -> None:
    logits, targets = _classification_case(0)
    predictions = logits.argmax(1)
    ours = confusion_matrix(predictions, targets, 6).numpy()
    expected = skm.confusion_matrix(targets.numpy(), predictions.numpy(), labels=list(range(6)))
    assert (ours == expected).all()


@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_match_sklearn(outputs: int) -> None:
    gen = torch.Generator().manual_seed(0)
    targets = torch.randn(200, outputs, generator=gen).squeeze(-1)
    predictions = targets + 0.3 * torch.randn(200, outputs, generator=gen).squeeze(-1)
    ours = to_floats(regression_metrics(predictions, targets))
    assert ours["loss"] == pytest.approx(skm.mean_squared_error(targets, predictions), rel=1e-5)
    assert ours["r2"] == pytest.approx(skm.r2_score(targets, predictions), rel=1e-5)


def test_r2_of_constant_targets_follows_sklearn() -> None:
    targets = torch.full((10,), 2.0)
    assert to_floats(regression_metrics(targets.clone(), targets))["r2"] == 1.0
    assert to_floats(regression_metrics(targets + 1, targets))["r2"] == 0.0
    assert skm.r2_score(targets, targets + 1) == 0.0


def test_single_output_column_is_aligned_with_flat_targets() -> None:
    # (n, 1) against (n,) would broadcast to (n, n) and give a silently wrong loss.
    predictions, targets = torch.arange(4.0).reshape(4, 1), torch.arange(4.0)
    assert align_regression_output(predictions, targets).shape == (4,)
    assert to_floats(regression_metrics(predictions, targets))["loss"] == 0.0
    with pytest.raises(ValueError, match="does not match"):
        align_regression_output(torch.zeros(4, 2), targets)


def test_to_floats_returns_python_floats_in_order() -> None:
    values = to_floats({"b": torch.tensor(2.0), "a": torch.tensor([1.5])})
    assert values == {"b": 2.0, "a": 1.5}
    assert list(values) == ["b", "a"]
    assert all(type(v) is float for v in values.values())


@pytest.mark.parametrize("seed", [0, 1])
def test_classification_accumulated_over_batches_equals_the_whole_set(seed: int) -> None:
    logits, targets = _classification_case(seed)
    accumulator = ClassificationAccumulator()
    for chunk, target in zip(logits.split(64), targets.split(64), strict=True):  # a ragged last batch
        accumulator.update(chunk, target)
    whole = to_floats(classification_metrics(logits, targets))
    assert to_floats(accumulator.compute()) == pytest.approx(whole, rel=1e-6)


@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_accumulated_over_batches_equals_the_whole_set(outputs: int) -> None:
    gen = torch.Generator().manual_seed(0)
    # Targets far from zero: R^2 from running sums must not lose their spread to cancellation.
    targets = 1000 + torch.randn(200, outputs, generator=gen).squeeze(-1)
    predictions = targets + 0.3 * torch.randn(200, outputs, generator=gen).squeeze(-1)
    accumulator = RegressionAccumulator()
    for chunk, target in zip(predictions.split(64), targets.split(64), strict=True):
        accumulator.update(chunk, target)
    ours = to_floats(accumulator.compute())
    assert ours["loss"] == pytest.approx(skm.mean_squared_error(targets, predictions), rel=1e-5)
    assert ours["r2"] == pytest.approx(skm.r2_score(targets.double(), predictions.double()), rel=1e-5)


def test_accumulated_r2_of_constant_targets_follows_sklearn() -> None:
    targets = torch.full((10,), 0.1)
    for predictions, expected in ((targets.clone(), 1.0), (targets + 1, 0.0)):
        accumulator = RegressionAccumulator()
        accumulator.update(predictions[:3], targets[:3])
        accumulator.update(predictions[3:], targets[3:])
        assert to_floats(accumulator.compute())["r2"] == expected


def test_accumulator_sums_add_up_across_processes() -> None:
    # What a multi-process evaluation does: each process scores its part, the sums are added.
    logits, targets = _classification_case(2)
    parts = [ClassificationAccumulator(), ClassificationAccumulator()]
    parts[0].update(logits[:100], targets[:100])
    parts[1].update(logits[100:], targets[100:])
    combined = ClassificationAccumulator()
    combined.load_sums({k: parts[0].sums[k] + parts[1].sums[k] for k in parts[0].sums})
    whole = to_floats(classification_metrics(logits, targets))
    assert to_floats(combined.compute()) == pytest.approx(whole, rel=1e-6)
