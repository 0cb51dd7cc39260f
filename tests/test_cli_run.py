"""``tunefleet run`` and ``tunefleet analyze`` end to end: real processes, real Ray, real torch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO, tunefleet

pytestmark = pytest.mark.slow

QUICKSTART_TRIALS = 20


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The README's main job, run in full once: ``tunefleet run experiments/quickstart.yaml``."""
    storage = tmp_path_factory.mktemp("results")
    proc = tunefleet("run", "experiments/quickstart.yaml", "--storage", str(storage), timeout=600)
    return proc, storage / "quickstart"


def test_run_completes_and_prints_the_best_trial(quickstart) -> None:
    proc, path = quickstart
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "val_accuracy" in proc.stdout
    assert f"Results: {path}" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_quickstart_best_trial_reaches_90_percent_test_accuracy(quickstart) -> None:
    # The README's promise: the trial chosen by validation accuracy generalizes.
    _, path = quickstart
    summary = json.loads(tunefleet("analyze", str(path), "--format", "json").stdout)
    assert summary["num_trials"] == QUICKSTART_TRIALS and summary["num_errors"] == 0
    assert summary["best"]["metrics"]["test_accuracy"] >= 0.90
    # ASHA stopped the weak trials at its rungs (3, 9, 27); the best ran the full budget.
    from tunefleet.analysis import load_results

    iterations = load_results(path).trials()["training_iteration"]
    assert summary["best"]["training_iteration"] == 30
    assert set(iterations) - {30} <= {3, 9, 27} and (iterations < 30).sum() >= 10


def test_run_writes_a_standard_ray_tune_experiment_directory(quickstart) -> None:
    from ray.tune import ExperimentAnalysis

    _, path = quickstart
    assert (path / "tunefleet.yaml").is_file()
    assert list(path.glob("experiment_state-*.json"))
    analysis = ExperimentAnalysis(str(path), default_metric="val_accuracy", default_mode="max")
    assert len(analysis.trials) == QUICKSTART_TRIALS
    trial_dirs = [Path(t.path) for t in analysis.trials]
    for directory in trial_dirs:
        assert (directory / "result.json").is_file()
        assert (directory / "progress.csv").is_file()
        assert list(directory.glob("events.out.tfevents.*")), "TensorBoard logs are missing"
    # checkpoint: {frequency: 10, keep: 2}: the trials that ran past iteration 10 kept checkpoints.
    assert any(list(d.glob("checkpoint_*/state.pt")) for d in trial_dirs)
    assert all(len(list(d.glob("checkpoint_*"))) <= 2 for d in trial_dirs)


def test_experiment_directory_restores_with_tuner_restore(quickstart) -> None:
    from ray import tune

    from tunefleet.trainables.tasks import Mnist1dCNN

    _, path = quickstart
    assert tune.Tuner.can_restore(str(path))
    tuner = tune.Tuner.restore(str(path), trainable=Mnist1dCNN)
    assert len(tuner.get_results()) == QUICKSTART_TRIALS


def test_analyze_json_agrees_with_ray_experiment_analysis(quickstart) -> None:
    from ray.tune import ExperimentAnalysis

    _, path = quickstart
    proc = tunefleet("analyze", str(path), "--format", "json", "--top", "3")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["metric"] == "val_accuracy" and summary["mode"] == "max"
    assert summary["num_trials"] == QUICKSTART_TRIALS and summary["num_errors"] == 0

    analysis = ExperimentAnalysis(str(path), default_metric="val_accuracy", default_mode="max")
    best = analysis.get_best_trial(scope="last")
    assert summary["best"]["trial_id"] == best.trial_id
    assert summary["best"]["value"] == pytest.approx(best.last_result["val_accuracy"])
    assert summary["best"]["metrics"]["test_accuracy"] == pytest.approx(best.last_result["test_accuracy"])
    assert summary["best"]["training_iteration"] == best.last_result["training_iteration"]
    assert summary["best"]["config"]["lr"] == pytest.approx(best.config["lr"])
    assert summary["top"][0]["trial_id"] == best.trial_id
    assert len(summary["top"]) == 3


def test_analyze_csv_has_one_row_per_trial(quickstart) -> None:
    _, path = quickstart
    proc = tunefleet("analyze", str(path), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1 + QUICKSTART_TRIALS


def pressed_ctrl_c(*_: object, **__: object) -> None:
    """Stands in for a function the user's Ctrl-C interrupted."""
    raise KeyboardInterrupt


def test_ctrl_c_after_the_sweep_ended_only_skips_the_summary(quickstart, monkeypatch, capsys) -> None:
    import tunefleet.analysis
    from tunefleet import cli
    from tunefleet.run import RunOutcome

    _, path = quickstart
    monkeypatch.setattr(tunefleet.analysis, "render_summary", pressed_ctrl_c)
    cli._sweep(lambda: RunOutcome(path=path, num_trials=QUICKSTART_TRIALS, num_errors=0), address=None, top=5)
    assert f"Results: {path}" in capsys.readouterr().out  # and it returned: exit code 0


def test_ctrl_c_before_the_sweep_started_exits_130_without_a_traceback(monkeypatch) -> None:
    from click.testing import CliRunner

    import tunefleet.config
    from tunefleet import cli

    monkeypatch.setattr(tunefleet.config, "load_experiment", pressed_ctrl_c)
    result = CliRunner().invoke(cli.main, ["run", "experiments/quickstart.yaml"])
    assert result.exit_code == cli.EXIT_KILLED_BY_CTRL_C
    assert "interrupted (Ctrl-C)" in result.output and "Aborted" not in result.output


def test_bad_experiment_exits_2_before_starting_ray(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "experiments/quickstart.yaml").read_text().replace("mode: max", "mode: maximum"))
    proc = tunefleet("run", str(bad), "--storage", str(tmp_path / "results"))
    assert proc.returncode == 2
    assert f"{bad}: invalid experiment" in proc.stderr
    assert "mode: Input should be 'min' or 'max'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()  # nothing was started or written


def test_analyze_of_a_non_experiment_directory_exits_2(tmp_path) -> None:
    proc = tunefleet("analyze", str(tmp_path))
    assert proc.returncode == 2
    assert str(tmp_path) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_cluster_address_exits_2_without_writing_results(tmp_path) -> None:
    proc = tunefleet(
        "run", "experiments/digits_grid.yaml", "--address", "127.0.0.1:1", "--storage", str(tmp_path)
    )
    assert proc.returncode == 2
    assert "cannot reach a Ray cluster at --address 127.0.0.1:1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
