"""Importance, marginal effects, compute accounting and rungs on real (tiny) sweeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ray.tune import ExperimentAnalysis

from tests.analysis.helpers import copy_without
from tunefleet.analysis import load_results
from tunefleet.analysis.compute import compute_accounting
from tunefleet.analysis.curves import learning_curves, optimization_history, rung_counts
from tunefleet.analysis.hyperparams import hyperparameters
from tunefleet.analysis.importance import importance, marginal_effects

pytestmark = pytest.mark.slow


def test_importance_ranks_the_only_hyperparameter_that_matters_first(lr_experiment: Path) -> None:
    ranking = importance(load_results(lr_experiment))

    assert list(ranking.columns) == ["name", "scale", "importance", "std", "share", "num_trials"]
    assert ranking.iloc[0]["name"] == "lr"
    assert ranking.iloc[0]["share"] > 0.8
    assert set(ranking["name"]) == {"lr", "width", "dropout", "optimizer"}
    assert ranking["num_trials"].iloc[0] == 24


def test_when_the_metric_is_pure_noise_no_hyperparameter_is_important(
    lr_experiment: Path, tmp_path: Path
) -> None:
    # Scored on the trials the forest was fitted to, every hyperparameter that differs between
    # trials gets credit for the noise the forest memorised through it (0.24 to 0.56 of R² for
    # lr, width and dropout here); out of bag the noise is not predictable: none is credited.
    rng = np.random.default_rng(0)
    draws = []
    for draw in range(4):  # the mean of 4 noise draws: 24 trials give noisy estimates
        noisy = tmp_path / f"noise{draw}"
        shutil.copytree(lr_experiment, noisy)
        for result_file in sorted(noisy.glob("*/result.json")):
            rows = [json.loads(line) for line in result_file.read_text().splitlines()]
            noise = rng.normal()  # one value per trial, whatever its hyperparameters
            for row in rows:
                row["score"] = noise
            result_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
        draws.append(importance(load_results(noisy)).set_index("name")["importance"])

    mean = pd.concat(draws, axis=1).mean(axis=1)

    assert set(mean.index) == {"lr", "width", "dropout", "optimizer"}
    assert (mean < 0.05).all(), mean  # about zero or below: shuffling it does not hurt the fit


def test_scales_come_from_the_space_in_tunefleet_yaml(lr_experiment: Path) -> None:
    params = hyperparameters(load_results(lr_experiment)).set_index("name")

    assert params["scale"].to_dict() == {
        "lr": "log",
        "width": "linear",
        "dropout": "linear",
        "optimizer": "categorical",
    }
    assert set(params["source"]) == {"tunefleet.yaml"}


def test_without_tunefleet_yaml_scales_are_inferred_from_the_values(
    lr_experiment: Path, tmp_path: Path
) -> None:
    copy = copy_without(lr_experiment, tmp_path / "plain", "tunefleet.yaml")

    params = hyperparameters(load_results(copy)).set_index("name")

    # 24 log-uniform draws over 3 decades span more than 2; width 8..127 does not.
    assert params.loc["lr", "scale"] == "log"
    assert params.loc["width", "scale"] == "linear"
    assert params.loc["optimizer", "scale"] == "categorical"
    assert set(params["source"]) == {"inferred"}


def test_marginal_effects_hold_every_ranked_trial_once_per_hyperparameter(lr_experiment: Path) -> None:
    results = load_results(lr_experiment)
    effects = marginal_effects(results)
    trials = results.trials().set_index("trial_id")

    assert len(effects) == 4 * 24
    lr = effects[effects["name"] == "lr"].set_index("trial_id")
    assert (lr["value"] == trials.loc[lr.index, "config/lr"]).all()
    assert (lr["metric"] == trials.loc[lr.index, "value"]).all()


def test_compute_accounting_sums_the_trials_as_ray_records_them(asha_experiment: Path) -> None:
    results = load_results(asha_experiment, metric="val_loss", mode="min")
    ray_trials = ExperimentAnalysis(str(asha_experiment)).trials
    reported = [t for t in ray_trials if t.last_result.get("training_iteration")]

    accounting = compute_accounting(results)

    assert accounting.num_trials == len(reported)
    assert accounting.trial_iterations == sum(t.last_result["training_iteration"] for t in reported)
    assert accounting.trial_seconds == pytest.approx(sum(t.last_result["time_total_s"] for t in reported))
    assert accounting.max_iterations == 4  # the most any trial ran (no tunefleet.yaml)
    assert accounting.full_trial_iterations == 4 * len(reported)
    assert accounting.full_trial_seconds >= accounting.trial_seconds
    assert accounting.cpus_per_trial is None  # a plain Ray Tune directory does not say
    assert accounting.nodes["trial_iterations"].sum() == accounting.trial_iterations
    assert set(accounting.nodes["node_ip"]) == {t.last_result["node_ip"] for t in reported}


def _with_scheduler(
    experiment: Path, target: Path, scheduler: dict[str, object], max_iterations: int
) -> Path:
    """A copy of an experiment directory whose tunefleet.yaml says this scheduler section."""
    shutil.copytree(experiment, target)
    settings = {"metric": "val_loss", "mode": "min", "max_iterations": max_iterations, "scheduler": scheduler}
    (target / "tunefleet.yaml").write_text(yaml.safe_dump(settings))
    return target


def _final_iterations(path: Path) -> list[int]:
    trials = ExperimentAnalysis(str(path)).trials
    return [t.last_result["training_iteration"] for t in trials if t.last_result.get("training_iteration")]


def test_rungs_follow_the_asha_settings_of_tunefleet_yaml(asha_experiment: Path, tmp_path: Path) -> None:
    scheduler = {"type": "asha", "grace_period": 1, "reduction_factor": 2}
    copy = _with_scheduler(asha_experiment, tmp_path / "asha", scheduler, max_iterations=4)
    finals = _final_iterations(copy)

    rungs = rung_counts(load_results(copy))

    assert list(rungs["iteration"]) == [1, 2, 4]
    assert list(rungs["trials_reached"]) == [sum(f >= r for f in finals) for r in (1, 2, 4)]


def test_rungs_follow_the_brackets_of_hyperband_not_the_asha_formula(
    asha_experiment: Path, tmp_path: Path
) -> None:
    # Ray's HyperBand with max_t=20, eta=3 starts its brackets at 20, 6 and 2 iterations
    # (20 / 3**s, rounded down) and multiplies by 3 up to 20: rungs 2, 6 and 18, not 1, 3, 9.
    scheduler = {"type": "hyperband", "reduction_factor": 3}
    copy = _with_scheduler(asha_experiment, tmp_path / "hyperband", scheduler, max_iterations=20)

    rungs = rung_counts(load_results(copy))

    assert list(rungs["iteration"]) == [2, 6, 18, 20]


def test_rungs_of_a_bohb_sweep_are_its_hyperband_brackets(asha_experiment: Path, tmp_path: Path) -> None:
    scheduler = {"type": "bohb", "reduction_factor": 2}
    copy = _with_scheduler(asha_experiment, tmp_path / "bohb", scheduler, max_iterations=8)

    rungs = rung_counts(load_results(copy))

    assert list(rungs["iteration"]) == [1, 2, 4, 8]


@pytest.mark.parametrize(
    "scheduler",
    [
        {"type": "asha", "grace_periods": 2},  # a key this tunefleet does not know (another version)
        {"type": "asha", "reduction_factor": "two"},
        {"type": "successive_halving"},  # a scheduler this tunefleet does not know
        {"type": "fifo"},  # no rungs
    ],
)
def test_rungs_are_where_trials_stopped_when_the_scheduler_section_gives_none(
    asha_experiment: Path, tmp_path: Path, scheduler: dict[str, object]
) -> None:
    copy = _with_scheduler(asha_experiment, tmp_path / "copy", scheduler, max_iterations=4)
    finals = _final_iterations(copy)

    rungs = rung_counts(load_results(copy))

    assert list(rungs["iteration"]) == sorted(set(finals))


def test_learning_curves_mark_trials_stopped_before_the_budget(asha_experiment: Path) -> None:
    results = load_results(asha_experiment, metric="val_loss", mode="min")
    curves = learning_curves(results)
    last = curves.groupby("trial_id").agg(
        iteration=("training_iteration", "max"), early=("stopped_early", "first")
    )
    status = results.trial_info().set_index("trial_id")["status"]

    for trial_id, row in last.iterrows():
        assert row["early"] == (row["iteration"] < 4 and status[trial_id] != "ERROR")


def test_optimization_history_best_so_far_ends_at_the_best_trial(lr_experiment: Path) -> None:
    results = load_results(lr_experiment)
    history = optimization_history(results)

    assert len(history) == 24
    assert history["best_so_far"].iloc[-1] == results.summary()["best"]["value"]
    assert history["best_so_far"].is_monotonic_increasing
    assert (history["end_wall_time_s"] > 0).all()
