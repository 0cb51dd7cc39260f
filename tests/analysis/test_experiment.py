"""load_results / ExperimentResults against Ray's own ExperimentAnalysis on real experiments."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ray.tune import ExperimentAnalysis

from tests.analysis.helpers import copy_without
from tunefleet.analysis import ExperimentResults, load_results
from tunefleet.errors import ConfigError, TunefleetError

pytestmark = pytest.mark.slow  # the fixtures run two real sweeps (once per session)

# Scripted in conftest.py: which (lr, width) fails, how, and which one reports NaN last.
FAILING = (0.1, 32)
FAILURE = "ValueError: loss diverged at lr=0.1"
DIVERGING = (0.01, 8)

BOOKKEEPING = {"timestamp", "pid", "hostname", "node_ip", "date", "time_this_iter_s", "done"}
BOOKKEEPING |= {"config", "checkpoint_dir_name", "iterations_since_restore"}

# (fixture, metric, mode): the FIFO one reads them from its tunefleet.yaml.
EXPERIMENTS = [
    pytest.param("fifo_experiment", None, None, id="fifo-yaml"),
    pytest.param("asha_experiment", "val_loss", "min", id="asha-explicit"),
]


def _load(
    request: pytest.FixtureRequest, fixture: str, metric: str | None, mode: str | None, scope: Any
) -> tuple[ExperimentResults, ExperimentAnalysis]:
    path = request.getfixturevalue(fixture)
    results = load_results(path, metric=metric, mode=mode, scope=scope)
    ray_analysis = ExperimentAnalysis(str(path), default_metric=results.metric, default_mode=results.mode)
    return results, ray_analysis


def _ray_value(trial: Any, metric: str, mode: str, scope: str) -> float:
    stats = trial.metric_analysis.get(metric)
    return math.nan if stats is None else stats["last" if scope == "last" else mode]


def _config_of(trial_row: pd.Series) -> tuple[float, int]:
    return (trial_row["config/optim/lr"], trial_row["config/model/width"])


@pytest.mark.parametrize("scope", ["last", "all"])
@pytest.mark.parametrize(("fixture", "metric", "mode"), EXPERIMENTS)
def test_best_trial_and_config_match_ray_get_best_trial(
    request: pytest.FixtureRequest, fixture: str, metric: str | None, mode: str | None, scope: str
) -> None:
    results, ray_analysis = _load(request, fixture, metric, mode, scope)
    ray_best = ray_analysis.get_best_trial(results.metric, results.mode, scope)
    summary = results.summary()

    assert ray_best is not None
    assert summary["best"]["trial_id"] == ray_best.trial_id
    assert summary["best"]["config"] == ray_analysis.get_best_config(scope=scope)
    assert summary["best"]["value"] == pytest.approx(
        _ray_value(ray_best, results.metric, results.mode, scope)
    )
    assert results.trials()["trial_id"].iloc[0] == ray_best.trial_id


def test_scope_last_and_all_pick_the_scripted_best_trials(fifo_experiment: Path) -> None:
    best_last = load_results(fifo_experiment, scope="last").trials().iloc[0]
    best_all = load_results(fifo_experiment, scope="all").trials().iloc[0]

    assert _config_of(best_last) == (0.1, 8)
    assert best_last["value"] == pytest.approx(0.80)
    assert best_last["training_iteration"] == 4
    assert _config_of(best_all) == (0.01, 32)
    assert best_all["value"] == pytest.approx(0.90)
    assert best_all["training_iteration"] == 2  # the peak, not the last iteration


@pytest.mark.parametrize("scope", ["last", "all"])
@pytest.mark.parametrize(("fixture", "metric", "mode"), EXPERIMENTS)
def test_trials_are_sorted_best_first_with_unranked_trials_last(
    request: pytest.FixtureRequest, fixture: str, metric: str | None, mode: str | None, scope: str
) -> None:
    results, ray_analysis = _load(request, fixture, metric, mode, scope)
    trials = results.trials()
    values = trials["value"].to_numpy()
    ranked = np.isfinite(values)
    ray_ranked = {
        t.trial_id
        for t in ray_analysis.trials
        if math.isfinite(_ray_value(t, results.metric, results.mode, scope))
    }

    assert len(trials) == len(ray_analysis.trials)
    assert list(ranked) == sorted(ranked, reverse=True)  # no ranked trial after an unranked one
    finite = values[ranked]
    expected = np.sort(finite) if results.mode == "min" else np.sort(finite)[::-1]
    assert list(finite) == list(expected)
    # Ray ranks the same trials, except that one NaN report poisons its min/max statistics.
    assert ray_ranked <= set(trials["trial_id"][ranked])


@pytest.mark.parametrize("scope", ["last", "all"])
@pytest.mark.parametrize(("fixture", "metric", "mode"), EXPERIMENTS)
def test_each_row_is_the_reported_result_at_the_ranking_point(
    request: pytest.FixtureRequest, fixture: str, metric: str | None, mode: str | None, scope: str
) -> None:
    results, ray_analysis = _load(request, fixture, metric, mode, scope)

    for row in results.trials().itertuples(index=False):
        ray_trial = next(t for t in ray_analysis.trials if t.trial_id == row.trial_id)
        ray_value = _ray_value(ray_trial, results.metric, results.mode, scope)
        if math.isfinite(ray_value):
            assert row.value == pytest.approx(ray_value)
        frame = ray_analysis.trial_dataframes[row.trial_id]
        if frame.empty:
            assert pd.isna(row.training_iteration)
            continue
        reported = frame.set_index("training_iteration").loc[row.training_iteration]
        assert row.time_total_s == pytest.approx(reported["time_total_s"])
        assert row.test_accuracy == pytest.approx(reported["test_accuracy"], nan_ok=True)


def test_a_trial_whose_last_report_is_nan_ranks_last_by_scope_last(fifo_experiment: Path) -> None:
    trials = load_results(fifo_experiment, scope="last").trials()
    diverged = trials[[_config_of(r) == DIVERGING for _, r in trials.iterrows()]].iloc[0]

    assert math.isnan(diverged["value"])
    assert diverged["training_iteration"] == 4
    assert trials.index[trials["trial_id"] == diverged["trial_id"]][0] >= 2  # after 2 ranked


def test_scope_all_ranks_a_trial_by_its_best_value_despite_a_later_nan(
    fifo_experiment: Path,
) -> None:
    trials = load_results(fifo_experiment, scope="all").trials()
    diverged = trials[[_config_of(r) == DIVERGING for _, r in trials.iterrows()]].iloc[0]

    assert diverged["value"] == pytest.approx(0.60)
    assert diverged["training_iteration"] == 3


def test_trials_have_metric_and_flattened_config_columns_but_no_bookkeeping(
    fifo_experiment: Path,
) -> None:
    results = load_results(fifo_experiment)
    trials = results.trials()
    ray_configs = ExperimentAnalysis(str(fifo_experiment)).get_all_configs(prefix=True)

    assert list(trials.columns[:6]) == [
        "trial_id",
        "status",
        "diverged",
        "value",
        "training_iteration",
        "time_total_s",
    ]
    assert {"score", "test_accuracy", "val_loss", "extra/lr_scaled", "error"} <= set(trials)
    assert not BOOKKEEPING & set(trials)
    config_columns = [c for c in trials if c.startswith("config/")]
    assert config_columns == ["config/optim/lr", "config/model/width", "config/model/activation"]
    for row in trials.to_dict("records"):
        assert {c: row[c] for c in config_columns} == ray_configs[row["trial_id"]]


@pytest.mark.parametrize(("fixture", "metric", "mode"), EXPERIMENTS)
def test_history_holds_every_reported_result(
    request: pytest.FixtureRequest, fixture: str, metric: str | None, mode: str | None
) -> None:
    results, ray_analysis = _load(request, fixture, metric, mode, "last")
    history = results.history()

    assert list(history.columns[:3]) == ["trial_id", "training_iteration", "time_total_s"]
    assert not BOOKKEEPING & set(history)
    assert {"score", "test_accuracy", "val_loss"} <= set(history)
    for trial_id, frame in ray_analysis.trial_dataframes.items():
        rows = history[history["trial_id"] == trial_id]
        assert list(rows["training_iteration"]) == list(frame.get("training_iteration", []))
        assert np.allclose(rows["score"], frame.get("score", []), equal_nan=True)


def test_errors_name_the_failing_trial_and_its_exception(fifo_experiment: Path) -> None:
    results = load_results(fifo_experiment)
    errors = results.errors()
    trials = results.trials().set_index("trial_id")
    ray_errors = [t for t in ExperimentAnalysis(str(fifo_experiment)).trials if t.status == "ERROR"]

    assert len(errors) == len(ray_errors) == 1
    error = errors.iloc[0]
    assert error["trial_id"] == ray_errors[0].trial_id
    assert _config_of(trials.loc[error["trial_id"]]) == FAILING
    assert error["status"] == "ERROR"
    assert error["num_failures"] == 1
    assert error["error"] == FAILURE
    assert error["traceback"].endswith(FAILURE)
    assert "\x1b[" not in error["traceback"]
    assert Path(error["error_file"]).name == "error.txt"
    assert trials.loc[error["trial_id"], "error"] == error["error"]
    assert trials["error"].drop(error["trial_id"]).isna().all()
    # It failed before reporting anything: no value, so after every ranked trial.
    assert math.isnan(trials.loc[error["trial_id"], "value"])
    assert list(trials.index).index(error["trial_id"]) >= trials["value"].notna().sum()


def test_a_failure_the_trial_recovered_from_is_listed_but_not_counted_as_an_error(
    fifo_experiment: Path, tmp_path: Path
) -> None:
    copy = tmp_path / fifo_experiment.name
    shutil.copytree(fifo_experiment, copy)
    recovered = load_results(copy).trials().iloc[0]["trial_id"]
    (next(copy.glob(f"*{recovered}*")) / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-01-01_10-00-00)\nThe node died unexpectedly.\n"
    )

    results = load_results(copy)
    summary = results.summary()

    recovered_error = {
        "trial_id": recovered,
        "status": "TERMINATED",
        "error": "The node died unexpectedly.",
        "traceback": "The node died unexpectedly.",
        "output": None,  # a plain Ray Tune directory: no stdout/stderr files
    }
    assert summary["num_errors"] == summary["status_counts"]["ERROR"] == 1
    assert recovered_error in summary["errors"]
    assert len(summary["errors"]) == len(results.errors()) == 2
    assert results.trials().iloc[0]["error"] == "The node died unexpectedly."


@pytest.mark.parametrize(("fixture", "metric", "mode"), EXPERIMENTS)
def test_summary_is_plain_json_with_the_documented_shape(
    request: pytest.FixtureRequest, fixture: str, metric: str | None, mode: str | None
) -> None:
    results, ray_analysis = _load(request, fixture, metric, mode, "last")
    summary = results.summary(top=2)
    statuses = pd.Series([t.status for t in ray_analysis.trials]).value_counts().to_dict()

    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert set(summary) == {
        "experiment",
        "metric",
        "mode",
        "scope",
        "num_trials",
        "num_errors",
        "num_diverged",
        "num_unfinished",
        "resume_command",
        "status_counts",
        "best",
        "top",
        "test_metrics",
        "errors",
        "selection",
    }
    assert summary["selection"] is None  # no selection phase
    assert summary["experiment"] == {"path": str(Path(results.path)), "name": results.name}
    assert (summary["metric"], summary["mode"], summary["scope"]) == (
        results.metric,
        results.mode,
        "last",
    )
    assert summary["num_trials"] == len(ray_analysis.trials)
    assert summary["num_errors"] == statuses.get("ERROR", 0) == len(summary["errors"])
    assert summary["status_counts"] == statuses
    # Finished sweeps: nothing to resume.
    assert summary["num_unfinished"] == 0 and summary["resume_command"] is None
    assert len(summary["top"]) == 2
    assert summary["top"][0] == summary["best"]
    best = summary["best"]
    assert set(best) == {
        "trial_id",
        "config",
        "value",
        "metrics",
        "training_iteration",
        "time_total_s",
        "status",
        "diverged",
    }
    assert best["metrics"][results.metric] == best["value"]
    assert best["metrics"]["training_iteration"] == best["training_iteration"]
    assert "test_accuracy" in best["metrics"]
    assert summary["test_metrics"] == {"test_accuracy": best["metrics"]["test_accuracy"]}
    assert not (BOOKKEEPING | {"trial_id"}) & set(best["metrics"])
    assert type(best["training_iteration"]) is int
    assert type(best["value"]) is float


def test_summary_top_lists_only_ranked_trials(fifo_experiment: Path) -> None:
    summary = load_results(fifo_experiment, scope="last").summary(top=10)

    # 4 trials: one failed before reporting, one reported NaN last (diverged).
    assert [t["value"] for t in summary["top"]] == pytest.approx([0.80, 0.40])
    assert summary["num_diverged"] == 1


def test_metric_and_mode_default_to_tunefleet_yaml_and_arguments_override_it(
    fifo_experiment: Path,
) -> None:
    from_yaml = load_results(fifo_experiment)
    overridden = load_results(fifo_experiment, metric="val_loss", mode="min")
    ray_best = ExperimentAnalysis(str(fifo_experiment)).get_best_trial("val_loss", "min")

    assert (from_yaml.metric, from_yaml.mode, from_yaml.name) == ("score", "max", "fifo-grid")
    assert (overridden.metric, overridden.mode) == ("val_loss", "min")
    assert ray_best is not None
    assert overridden.summary()["best"]["trial_id"] == ray_best.trial_id


def test_a_metric_no_trial_reported_is_an_error_naming_the_reported_ones(fifo_experiment: Path) -> None:
    with pytest.raises(TunefleetError) as raised:
        load_results(fifo_experiment, metric="scores", mode="max")

    message = str(raised.value)
    assert message.startswith(f"{fifo_experiment}: no trial reported 'scores' (did you mean 'score'?); ")
    assert "reported metrics: score, test_accuracy, val_loss, extra/lr_scaled" in message
    assert message.endswith("; pass one of them as metric (CLI: --metric)")


def test_a_sweep_where_no_trial_reported_anything_loads_without_a_best_trial(
    fifo_experiment: Path, tmp_path: Path
) -> None:
    copy = tmp_path / fifo_experiment.name
    shutil.copytree(fifo_experiment, copy)
    for name in ("result.json", "progress.csv"):
        for file in copy.glob(f"*/{name}"):
            file.unlink()
    state_file = next(copy.glob("experiment_state-*.json"))
    state = json.loads(state_file.read_text())
    for entry in state["trial_data"]:  # [trial JSON, metadata JSON]: as if every trial failed at once
        metadata = json.loads(entry[1])
        metadata["last_result"] = {}
        entry[1] = json.dumps(metadata)
    state_file.write_text(json.dumps(state))

    summary = load_results(copy).summary()

    assert summary["best"] is None
    assert summary["top"] == []
    json.dumps(summary, allow_nan=False)


def test_missing_result_files_fall_back_to_the_experiment_state(
    fifo_experiment: Path, tmp_path: Path
) -> None:
    copy = tmp_path / fifo_experiment.name
    shutil.copytree(fifo_experiment, copy)
    for name in ("result.json", "progress.csv"):
        for file in copy.glob(f"*/{name}"):
            file.unlink()
    ray_best = ExperimentAnalysis(str(copy)).get_best_trial("score", "max")

    summary = load_results(copy).summary()

    assert ray_best is not None
    assert summary["best"]["trial_id"] == ray_best.trial_id
    assert summary["best"]["value"] == pytest.approx(0.80)
    assert load_results(copy).history().empty


def test_a_directory_without_experiment_state_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TunefleetError, match="no experiment_state") as excinfo:
        load_results(tmp_path, metric="score", mode="max")
    assert str(tmp_path) in str(excinfo.value)


def test_the_storage_path_instead_of_the_experiment_raises_naming_the_experiments(
    fifo_experiment: Path,
) -> None:
    with pytest.raises(TunefleetError, match="fifo-grid") as excinfo:
        load_results(fifo_experiment.parent, metric="score", mode="max")
    assert str(fifo_experiment.parent) in str(excinfo.value)


def test_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(TunefleetError, match="does not exist"):
        load_results(tmp_path / "nope", metric="score", mode="max")


def test_without_tunefleet_yaml_metric_and_mode_are_what_ray_tune_was_given(asha_experiment: Path) -> None:
    results = load_results(asha_experiment)

    assert (results.metric, results.mode) == ("val_loss", "min")  # TuneConfig in the conftest
    assert load_results(asha_experiment, mode="max").mode == "max"


def test_without_tunefleet_yaml_or_ray_objective_metric_and_mode_are_required(
    asha_experiment: Path, tmp_path: Path
) -> None:
    copy = copy_without(asha_experiment, tmp_path / "no-objective", "tuner.pkl")
    state = next(copy.glob("experiment_state-*.json"))
    data = json.loads(state.read_text())
    data["runner_data"]["_metric"] = None
    state.write_text(json.dumps(data))

    with pytest.raises(TunefleetError, match=r"no metric or mode .*--metric.*--mode") as excinfo:
        load_results(copy)
    assert str(copy) in str(excinfo.value)
    with pytest.raises(TunefleetError, match=r"no mode"):
        load_results(copy, metric="val_loss")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "maximize"}, "mode must be 'min' or 'max'"),
        ({"scope": "avg"}, "scope must be one of"),
    ],
)
def test_invalid_mode_or_scope_raises(asha_experiment: Path, kwargs: dict[str, Any], message: str) -> None:
    arguments = {"metric": "val_loss", "mode": "min", **kwargs}
    with pytest.raises(TunefleetError, match=message):
        load_results(asha_experiment, **arguments)


def test_a_negative_top_raises(asha_experiment: Path) -> None:
    with pytest.raises(TunefleetError, match="top must be"):
        load_results(asha_experiment, metric="val_loss", mode="min").summary(top=-1)


def test_a_broken_tunefleet_yaml_raises_config_error(fifo_experiment: Path, tmp_path: Path) -> None:
    copy = tmp_path / "exp"
    shutil.copytree(fifo_experiment, copy)
    (copy / "tunefleet.yaml").write_text("- just\n- a list\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"tunefleet\.yaml"):
        load_results(copy)
