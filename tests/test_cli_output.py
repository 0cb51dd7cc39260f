"""What the command line prints: user text exactly as given (never read as rich markup), paths
shell-quoted, counts in words."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from tests.support import REPO, USER_MODULE, tunefleet
from tunefleet import cli

# rich would read these as markup: "[/x]" crashes (MarkupError), "[bohb]" and "[bold]" vanish.
BRACKETED_MODULE = '''
"""A user's trainables whose names, metrics and messages hold brackets."""
from ray import tune

from tunefleet.trainables.tasks import LinearRegression


class Bracketed(LinearRegression):
    """Regression [bohb] with [/x] in its description."""


def score_fn(config):
    if config["x"] > 0.9:
        raise RuntimeError("x must be <= 0.9 [/x]; for BOHB: pip install 'tunefleet[bohb]'")
    for i in range(2):
        tune.report({"score[/x]": -(config["x"] - 0.3) ** 2})


score_fn.reported_metrics = {"score[/x]"}
'''

BRACKETED_EXPERIMENT = """\
name: exp[bold]
trainable: bracketed_models:score_fn
metric: score[/x]
mode: max
max_iterations: 2
search: {algorithm: grid}
space: {x: {grid: [0.2, 0.95]}, tag: "t[/x]"}
"""


@pytest.fixture
def bracketed_project(tmp_path: Path) -> Path:
    """``<tmp>/my [bohb] project[/x]/exp.yaml`` next to its module; returns the experiment file."""
    project = tmp_path / "my [bohb] project[" / "x]"
    project.mkdir(parents=True)
    (project / "bracketed_models.py").write_text(BRACKETED_MODULE)
    (project / "my_models.py").write_text(USER_MODULE)
    experiment = project / "exp.yaml"
    experiment.write_text(BRACKETED_EXPERIMENT)
    return experiment


@pytest.mark.slow
def test_a_run_from_elsewhere_ships_the_user_module_and_prints_every_user_string_exactly(
    bracketed_project: Path, tmp_path: Path
) -> None:
    storage, elsewhere = tmp_path / "results [dir]", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Run from elsewhere: the module is found next to the YAML and shipped to the workers.
    run = tunefleet(
        *("run", str(bracketed_project), "--storage", str(storage)),
        *("--set", 'space.note="n[bohb]"'),
        cwd=elsewhere,
    )

    assert run.returncode == 1, run.stderr[-3000:]  # one trial failed
    assert "MarkupError" not in run.stderr  # (Ray logs the failed trial's traceback itself)
    stderr, stdout = run.stderr.splitlines(), run.stdout.splitlines()
    assert (
        "tunefleet: exp[bold]: 2 trials (2 grid points x 1) of bracketed_models:score_fn, grid search, "
        "fifo scheduler, optimizing score[/x] (max)"
    ) in stderr
    assert any("finished: score[/x]=-0.01 after 2 iterations" in line for line in stderr)
    assert "1 of 2 trials failed" in stderr
    assert stdout[0] == "exp[bold]: score[/x] (max, scope=last), 2 trials (1 TERMINATED, 1 ERROR)"
    assert any(line.split()[:2] == ["#", "trial_id"] and "score[/x]" in line.split() for line in stdout)
    assert any(
        line.startswith("Best config (") and line.endswith("): x=0.2, tag=t[/x], note=n[bohb]")
        for line in stdout
    )
    # The error line wraps at 80 columns (the output is not a terminal).
    error = ": RuntimeError: x must be <= 0.9 [/x]; for BOHB: pip install 'tunefleet[bohb]'"
    assert error in " ".join(run.stdout.split())
    again = next(line for line in stdout if line.startswith("Analyze again with: "))
    assert shlex.split(again.removeprefix("Analyze again with: ")) == [
        "tunefleet",
        "analyze",
        str(storage / "exp[bold]"),
    ]
    summary = json.loads(tunefleet("analyze", str(storage / "exp[bold]"), "--format", "json").stdout)
    assert summary["num_trials"] == 2 and summary["num_errors"] == 1
    assert summary["best"]["config"]["x"] == 0.2  # the user's function ran on a Ray worker


def test_validate_prints_user_text_in_its_messages_exactly(bracketed_project: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli.main, ["validate", str(bracketed_project)])
    bad_value = runner.invoke(cli.main, ["validate", str(bracketed_project), "--set", "max_iterations=[/x]"])
    bounds = runner.invoke(
        cli.main,
        ["validate", str(REPO / "experiments/quickstart.yaml"), "--set", "space.lr.loguniform=[.nan, 1]"],
    )

    assert ok.exit_code == 0, ok.output
    assert ok.output == (
        f"{bracketed_project}: ok: 2 trials (2 grid points x 1) of bracketed_models:score_fn, grid search, fifo scheduler, "
        "score[/x] (max), 2 iterations max per trial\n"
    )
    assert bad_value.exit_code == 2, bad_value.output
    assert f"error: {bracketed_project}: invalid experiment" in bad_value.output
    assert "'/x'" in bad_value.output
    assert bounds.exit_code == 2, bounds.output
    assert "expected two finite numbers [low, high], got [nan, 1]" in bounds.output


def test_one_trial_is_one_trial_and_one_iteration_one_iteration(write_experiment) -> None:
    experiment = write_experiment(
        """\
        trainable: linear_regression
        metric: val_loss
        mode: min
        max_iterations: 1
        space: {lr: 0.01}
        """
    )

    result = CliRunner().invoke(cli.main, ["validate", str(experiment)])

    assert result.exit_code == 0, result.output
    assert ": ok: 1 trial of linear_regression, " in result.output
    assert "1 iteration max per trial" in result.output


def test_trainables_finds_a_module_in_the_current_directory_and_prints_it_exactly(
    bracketed_project: Path,
) -> None:
    # The installed command, as a user types it: `python -m` would put the current directory on
    # sys.path by itself.
    command = Path(sys.executable).parent / "tunefleet"
    run = subprocess.run(
        [str(command), "trainables", "bracketed_models:Bracketed"],
        cwd=bracketed_project.parent,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "bracketed_models:Bracketed: Regression [bohb] with [/x] in its description."
    assert "Reports: " in run.stdout


def test_every_console_of_the_package_comes_from_one_place() -> None:
    # A Console made elsewhere would read user text as markup again.
    makers = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "tunefleet").rglob("*.py"))
        if path.name != "console.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "Console(" in line
    ]
    assert makers == []


@pytest.mark.parametrize("width", ["80", "60"])
def test_trainables_tables_fold_long_names_on_a_narrow_terminal_instead_of_cutting_them(width: str) -> None:
    listing = CliRunner().invoke(cli.main, ["trainables"], env={"COLUMNS": width})
    one = CliRunner().invoke(cli.main, ["trainables", "mnist1d_cnn"], env={"COLUMNS": width})

    for result in (listing, one):
        assert result.exit_code == 0, result.output
        assert "…" not in result.output
        assert max(cell_len(line.rstrip()) for line in result.output.splitlines()) <= int(width)
