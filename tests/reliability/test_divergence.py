"""A diverged trial is marked, stopped, and is the worst trial there is to Hyperopt."""

from __future__ import annotations

import math

import numpy as np
import torch

from tunefleet.divergence import StopDiverged, is_diverged
from tunefleet.search.hyperopt.searcher import FlatHyperOptSearch
from tunefleet.search.hyperopt.space import to_hyperopt
from tunefleet.search.spaces import parse_space
from tunefleet.trainables.tasks import DigitsMLP


def test_a_builtin_trainable_reports_a_nan_loss_as_diverged_and_done() -> None:
    torch.set_num_threads(1)
    trainable = DigitsMLP(config={"steps_per_iteration": 5, "batch_size": 16, "lr": 1e8, "optimizer": "sgd"})
    try:
        result = trainable.train()
    finally:
        trainable.stop()
    assert math.isnan(result["train_loss"]) or math.isinf(result["train_loss"])
    assert result["diverged"] is True and result["done"] is True


def test_non_finite_metrics_and_the_diverged_flag_count_as_diverged() -> None:
    assert is_diverged({"score": math.nan}, "score")
    assert is_diverged({"score": -math.inf}, "score")
    assert is_diverged({"score": 1.0, "diverged": True}, "score")
    assert not is_diverged({"score": 1.0, "diverged": False}, "score")
    assert not is_diverged({"other": math.nan}, "score")


def test_non_finite_numpy_and_torch_scalars_count_as_diverged() -> None:
    # Trainables often report what numpy or torch computed, without float().
    for value in (np.float32("nan"), np.float64("inf"), torch.tensor(math.nan), torch.tensor(-math.inf)):
        assert is_diverged({"score": value}, "score"), value
        assert StopDiverged("score", max_iterations=3)("t", {"score": value, "training_iteration": 1})
    for value in (np.float32(1.0), torch.tensor(1.0), np.int64(1)):
        assert not is_diverged({"score": value}, "score"), value
    assert is_diverged({"score": 1.0, "diverged": np.bool_(True)}, "score")
    assert is_diverged({"score": 1.0, "diverged": torch.tensor(True)}, "score")


def test_the_stopper_ends_diverged_trials_and_trials_at_their_budget() -> None:
    stopper = StopDiverged("score", max_iterations=3)
    assert stopper("t", {"score": math.nan, "training_iteration": 1})
    assert stopper("t", {"score": 1.0, "training_iteration": 3})
    assert not stopper("t", {"score": 1.0, "training_iteration": 2})
    assert not stopper.stop_all()


def test_hyperopt_records_a_diverged_trial_as_the_worst_loss_not_nan() -> None:
    space = parse_space({"x": {"uniform": [0.0, 1.0]}}, "exp.yaml")
    searcher = FlatHyperOptSearch(
        tunefleet_space=space, space=to_hyperopt(space), metric="score", mode="max", random_state_seed=0
    )
    reported = (
        ("good", 0.5),
        ("diverged", math.nan),
        ("numpy", np.float32(0.25)),
        ("numpy_nan", np.float32("nan")),
    )
    for trial_id, score in reported:
        assert searcher.suggest(trial_id) is not None
        searcher.on_trial_complete(trial_id, {"score": score})
    # Hyperopt minimizes -score; TPE cannot rank a NaN loss, an infinite one is simply the worst.
    losses = searcher._hpopt_trials.losses()
    assert losses == [-0.5, math.inf, -0.25, math.inf]
    assert all(type(loss) is float for loss in losses)  # what its saved state keeps
