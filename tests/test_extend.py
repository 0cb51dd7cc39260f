"""``tunefleet extend``: a new sweep continuing a finished one, end to end on one small real sweep.

The old sweep (3 trials of linear_regression, 2 iterations, hyperopt with ASHA) and its extension
(to 4 iterations) run once for the module; every test reads what they left.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tunefleet.analysis import load_results
from tunefleet.cli import EXIT_BAD_INPUT, main
from tunefleet.config import load_experiment
from tunefleet.console import make_console
from tunefleet.run import extend_experiment, run_experiment
from tunefleet.rundir import EXTENSION_FILE, read_ray_run, write_experiment_file

EXPERIMENT = {
    "name": "lin",
    "trainable": "linear_regression",
    "metric": "val_loss",
    "mode": "min",
    "num_samples": 3,
    "max_iterations": 2,
    "search": {"algorithm": "hyperopt", "seed": 0, "max_concurrent": 1, "n_initial_points": 2},
    "space": {"lr": {"loguniform": [1.0e-3, 1.0e-1]}, "steps_per_iteration": 5},
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
}


@dataclass(frozen=True)
class Extended:
    old_dir: Path
    new_dir: Path
    printed: str
    old_listing: list[str]


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory, ray_local: None) -> Extended:
    tmp = tmp_path_factory.mktemp("extend")
    path = tmp / "lin.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "storage": str(tmp / "runs")}))
    quiet = make_console(file=StringIO())
    old = run_experiment(load_experiment(path), console=quiet)
    assert old.num_errors == 0
    before = listing(old.path)
    output = StringIO()
    new = extend_experiment(old.path, ["max_iterations=4"], console=make_console(file=output, width=400))
    assert new.num_errors == 0
    return Extended(old.path, new.path, output.getvalue(), before)


def results_by_trial(directory: Path) -> dict[str, list[dict[str, Any]]]:
    return {t.trial_id: t.rows for t in read_ray_run(directory).trials}


@pytest.mark.slow
def test_extend_writes_a_new_directory_and_leaves_the_old_one_as_it_was(extended: Extended) -> None:
    assert extended.new_dir != extended.old_dir
    assert extended.new_dir.parent == extended.old_dir.parent
    assert listing(extended.old_dir) == extended.old_listing
    record = json.loads((extended.new_dir / EXTENSION_FILE).read_text())
    assert record["extended_from"] == str(extended.old_dir)


@pytest.mark.slow
def test_extend_feeds_the_searcher_every_finished_old_trial(extended: Extended) -> None:
    old = read_ray_run(extended.old_dir).trials
    record = json.loads((extended.new_dir / EXTENSION_FILE).read_text())
    assert sorted(record["warm_started"]) == sorted(t.trial_id for t in old)
    assert f"hyperopt search starts from {len(old)} old results" in extended.printed


@pytest.mark.slow
def test_a_promoted_old_trial_continues_from_its_checkpoint_at_the_next_iteration(extended: Extended) -> None:
    old_rows = results_by_trial(extended.old_dir)
    new_trials = read_ray_run(extended.new_dir).trials
    continued = [t for t in new_trials if "__tunefleet_continues__" in t.config]
    record = json.loads((extended.new_dir / EXTENSION_FILE).read_text())
    # Every old trial that reached the old budget (ASHA promoted it to the end) continues.
    reached = [i for i, rows in old_rows.items() if rows[-1]["training_iteration"] == 2]
    assert reached and sorted(record["continued"]) == sorted(reached)
    assert len(continued) == len(reached)
    for trial in continued:
        source = trial.config["__tunefleet_continues__"]["trial_id"]
        before, after = old_rows[source][-1], trial.rows[0]
        # Iteration numbers continue; the first step trains on from the old state, not from step 0.
        assert after["training_iteration"] == 3
        assert after["global_step"] == before["global_step"] + EXPERIMENT["space"]["steps_per_iteration"]
        assert trial.config["lr"] == pytest.approx(old_params(extended.old_dir, source)["lr"])
    # The new sweep has num_samples trials in all: the continued ones and new proposals.
    assert len(new_trials) == EXPERIMENT["num_samples"]
    assert all(t.rows[0]["training_iteration"] == 1 for t in new_trials if t not in continued)


def old_params(directory: Path, trial_id: str) -> dict[str, Any]:
    return next(t.config for t in read_ray_run(directory).trials if t.trial_id == trial_id)


@pytest.mark.slow
def test_analyze_shows_old_and_new_trials_together_marked_by_sweep(extended: Extended) -> None:
    results = load_results(extended.new_dir)
    trials = results.trials()
    old_count = len(read_ray_run(extended.old_dir).trials)
    assert len(trials) == old_count + EXPERIMENT["num_samples"]
    assert trials["sweep"].value_counts().to_dict() == {
        extended.old_dir.name: old_count,
        extended.new_dir.name: EXPERIMENT["num_samples"],
    }
    assert "config/__tunefleet_continues__/trial_id" not in trials.columns
    best = results.summary()["best"]
    assert math.isclose(best["value"], trials["value"].min())
    assert best["sweep"] in {extended.old_dir.name, extended.new_dir.name}


@pytest.mark.slow
def test_compare_counts_the_old_sweeps_compute_in_the_extension(extended: Extended) -> None:
    result = CliRunner().invoke(
        main, ["compare", str(extended.old_dir), str(extended.new_dir), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    old, new = json.loads(result.output)
    assert new["num_trials"] == old["num_trials"] + EXPERIMENT["num_samples"]
    assert new["trial_iterations"] > old["trial_iterations"]


# -- refusals: exit 2 before anything starts -------------------------------------------------


def test_extend_refuses_a_directory_that_is_not_an_experiment(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["extend", str(tmp_path)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "not a tunefleet experiment directory" in result.output


@pytest.fixture
def saved_sweep(tmp_path: Path) -> Path:
    """An experiment directory as a sweep leaves it, as far as a refusal reads it."""
    directory = tmp_path / "lin"
    directory.mkdir()
    write_experiment_file(directory, EXPERIMENT, "lin", tmp_path / "lin.yaml")
    (directory / "experiment_state-2026-11-30_00-00-00.json").write_text("{}")
    return directory


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainable=digits_mlp", "trainable"),
        ("metric=val_accuracy", "metric"),  # not even reported by the trainable: still this refusal
        ("metric=val_r2", "metric"),
        ("mode=max", "mode"),
    ],
)
def test_extend_refuses_a_change_of_the_experiment_itself(saved_sweep: Path, override: str, key: str) -> None:
    result = CliRunner().invoke(main, ["extend", str(saved_sweep), "--set", override])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert f"--set {key}:" in result.output


@pytest.mark.slow
def test_extend_takes_an_unchanged_objective_given_again(extended: Extended) -> None:
    from tunefleet.run.extend import plan_extend

    plan = plan_extend(extended.old_dir, ["metric=val_loss", "mode=min", "max_iterations=4"])
    assert plan.new.settings.max_iterations == 4
