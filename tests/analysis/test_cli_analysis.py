"""tunefleet analyze / report / compare as a user runs them (a fresh process each)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from ray.tune import ExperimentAnalysis

from tests.support import tunefleet

pytestmark = pytest.mark.slow


def test_analyze_json_matches_ray_experiment_analysis(fifo_experiment: Path) -> None:
    ray = ExperimentAnalysis(str(fifo_experiment), default_metric="score", default_mode="max")
    ray_best = ray.get_best_trial(scope="last")

    run = tunefleet("analyze", str(fifo_experiment), "--format", "json", "--top", "2")

    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert ray_best is not None
    assert summary["num_trials"] == len(ray.trials)
    assert summary["best"]["trial_id"] == ray_best.trial_id
    assert summary["best"]["config"] == ray_best.config
    assert summary["best"]["value"] == pytest.approx(ray_best.last_result["score"])
    assert summary["best"]["training_iteration"] == ray_best.last_result["training_iteration"]
    assert summary["test_metrics"] == {"test_accuracy": pytest.approx(ray_best.last_result["test_accuracy"])}
    errors = [t for t in ray.trials if t.status == "ERROR"]
    assert [e["trial_id"] for e in summary["errors"]] == [t.trial_id for t in errors]
    assert summary["errors"][0]["traceback"].endswith("ValueError: loss diverged at lr=0.1")


def test_analyze_a_plain_ray_tune_directory_infers_metric_and_mode(
    asha_experiment: Path, tmp_path: Path
) -> None:
    ray_best = ExperimentAnalysis(str(asha_experiment)).get_best_trial("val_loss", "min")

    table = tunefleet("analyze", str(asha_experiment))
    parquet = tunefleet(
        *("analyze", str(asha_experiment), "--metric", "val_loss", "--mode", "min"),
        *("--format", "parquet", "-o", str(tmp_path / "t.parquet")),
    )

    assert table.returncode == 0, table.stderr
    assert "asha-grid: val_loss (min" in table.stdout  # from Ray's files: no tunefleet.yaml
    assert "Test metrics of the best trial (picked by val_loss): test_accuracy=" in table.stdout
    assert parquet.returncode == 0, parquet.stderr
    trials = pd.read_parquet(tmp_path / "t.parquet")
    assert ray_best is not None
    assert trials["trial_id"].iloc[0] == ray_best.trial_id


def test_report_and_compare_write_their_files(
    lr_experiment: Path, asha_experiment: Path, tmp_path: Path
) -> None:
    report = tunefleet("report", str(lr_experiment), "-o", str(tmp_path / "r.html"))
    compare = tunefleet(
        "compare", str(lr_experiment), str(lr_experiment), "--target", "-1", "-o", str(tmp_path / "c.png")
    )
    mismatch = tunefleet("compare", str(lr_experiment), str(asha_experiment))

    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert compare.returncode == 0, compare.stderr
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert "target_wall_time_s" in compare.stdout
    assert mismatch.returncode == 2
    assert "rank by different metrics or modes" in mismatch.stderr


def _corrupt_state(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    state = next(target.glob("experiment_state-*.json"))
    state.write_text(state.read_text()[:100])
    return state


def test_missing_corrupt_and_foreign_directories_exit_2_without_traceback(
    fifo_experiment: Path, tmp_path: Path
) -> None:
    state = _corrupt_state(fifo_experiment, tmp_path / "corrupt")
    (tmp_path / "empty").mkdir()
    cases = {
        tmp_path / "missing": "does not exist; expected a Ray Tune experiment directory",
        tmp_path / "corrupt": f"{state}: cannot read the experiment state",
        tmp_path / "empty": "is not a Ray Tune experiment directory: no experiment_state-*.json",
    }
    runs = [("analyze", path, message) for path, message in cases.items()]
    runs.append(("report", tmp_path / "corrupt", cases[tmp_path / "corrupt"]))
    for command, path, message in runs:
        run = tunefleet(command, str(path))
        assert run.returncode == 2, (command, path, run.stderr)
        assert message in " ".join(run.stderr.split()), run.stderr
        assert "Traceback" not in run.stderr


def test_compare_ranks_and_counts_trials_as_analyze_does(fifo_experiment: Path) -> None:
    for scope in ("last", "all"):
        analyze = tunefleet("analyze", str(fifo_experiment), "--format", "json", "--scope", scope)
        compare = tunefleet("compare", str(fifo_experiment), "--format", "json", "--scope", scope)

        assert compare.returncode == 0, compare.stderr
        best = json.loads(analyze.stdout)["best"]
        (row,) = json.loads(compare.stdout)
        # Scripted in conftest.py: 0.80 is the best last value, 0.90 the best value of all.
        assert row["best"] == pytest.approx({"last": 0.80, "all": 0.90}[scope])
        assert (row["best"], row["best_trial"]) == (pytest.approx(best["value"]), best["trial_id"])
        assert row["num_trials"] == json.loads(analyze.stdout)["num_trials"] == 4  # one never reported


def test_a_metric_no_trial_reported_exits_2_naming_the_reported_ones(fifo_experiment: Path) -> None:
    for command in ("analyze", "report", "compare"):
        run = tunefleet(command, str(fifo_experiment), "--metric", "scores")

        assert run.returncode == 2, (command, run.stderr)
        message = " ".join(run.stderr.split())
        assert "no trial reported 'scores' (did you mean 'score'?); reported metrics: score," in message
        assert "Traceback" not in run.stderr


def test_output_into_a_missing_directory_exits_2_naming_it(lr_experiment: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no such dir"
    runs = [
        ("analyze", str(lr_experiment), "-o", str(missing / "summary.txt")),
        ("analyze", str(lr_experiment), "--format", "parquet", "-o", str(missing / "trials.parquet")),
        ("report", str(lr_experiment), "-o", str(missing / "report.html")),
        ("compare", str(lr_experiment), "-o", str(missing / "compare.png")),
    ]
    for args in runs:
        run = tunefleet(*args)

        assert run.returncode == 2, (args, run.stderr)
        assert f"-o {args[-1]}: the directory {missing} does not exist" in " ".join(run.stderr.split())
        assert "Traceback" not in run.stderr
    assert not missing.exists()
