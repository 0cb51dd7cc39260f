"""A diverged trial is marked, stopped, and is the worst trial there is to Hyperopt."""

from __future__ import annotations

import math

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
    for trial_id, score in (("good", 0.5), ("diverged", math.nan)):
        assert searcher.suggest(trial_id) is not None
        searcher.on_trial_complete(trial_id, {"score": score})
    # Hyperopt minimizes -score; TPE cannot rank a NaN loss, an infinite one is simply the worst.
    assert searcher._hpopt_trials.losses() == [-0.5, math.inf]
