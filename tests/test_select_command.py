"""``tunefleet select`` refuses bad input with exit 2 and a message naming what is wrong, before
Ray starts (the real selection runs in tests/test_selection.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tunefleet import cli
from tunefleet.rundir import SELECTION_KEYS, selection_directory, write_experiment_file, write_selection_plan

EXPERIMENT = {
    "name": "noisy",
    "trainable": "tests.support:noisy",
    "metric": "score",
    "mode": "max",
    "num_samples": 3,
    "max_iterations": 2,
    "space": {"x": {"uniform": [0.0, 1.0]}},
}


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """An experiment directory whose search never ran (tunefleet.yaml only)."""
    source = tmp_path / "exp.yaml"
    source.write_text(json.dumps(EXPERIMENT))
    directory = tmp_path / "results" / "noisy"
    write_experiment_file(directory, EXPERIMENT, "noisy", source)
    return directory


def select(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["select", *args])
    return result.exit_code, " ".join(result.output.split())


def test_select_on_a_directory_that_is_not_an_experiment_exits_2(tmp_path: Path) -> None:
    code, output = select(str(tmp_path))

    assert code == 2
    assert f"error: {tmp_path}: not a tunefleet experiment directory (it has no tunefleet.yaml)" in output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--top-k", "0"], "--top-k: Input should be greater than or equal to 1, got 0"),
        (
            ["--seeds", "1"],
            "--seeds: expected at least 2: a standard deviation, a confidence interval and a t-test need "
            "two runs of each configuration, got 1",
        ),
        (["--top-k", "4"], "--top-k: 4 finalists from a sweep of 3 trials; expected at most 3"),
    ],
)
def test_bad_options_exit_2_naming_the_option(sweep_dir: Path, option: list[str], message: str) -> None:
    code, output = select(str(sweep_dir), *option)

    assert code == 2
    assert f"error: {sweep_dir}: invalid selection - {message}" in output


def test_select_refuses_a_search_that_is_not_finished(sweep_dir: Path) -> None:
    code, output = select(str(sweep_dir), "--top-k", "2", "--seeds", "2")

    assert code == 2
    assert (
        f"{sweep_dir}: the search has 3 unfinished trials; finish it first with `tunefleet resume" in output
    )


def test_options_that_contradict_a_started_selection_are_refused(sweep_dir: Path) -> None:
    plan = dict.fromkeys(SELECTION_KEYS) | {"top_k": 2, "seeds": [1, 2], "include_defaults": False}
    write_selection_plan(selection_directory(sweep_dir), plan)

    code, output = select(str(sweep_dir), "--seeds", "3", "--top-k", "2")

    assert code == 2
    assert (
        f"{selection_directory(sweep_dir)}: a selection already started there; --seeds 3 (started with 2)"
        in output
    )
