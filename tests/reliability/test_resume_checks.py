"""What ``resume`` checks before it starts anything: which run, whether its snapshot is whole,
and that the experiment file was not edited since. No Ray here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.reliability.helpers import counter_experiment
from tunefleet.config import load_experiment
from tunefleet.errors import TunefleetError
from tunefleet.run import run_experiment
from tunefleet.rundir import (
    SET_ASIDE_SUFFIX,
    check_resumable,
    latest_run,
    resume_command,
    unused_run_name,
    write_experiment_file,
)

OLD, NEW = "2026-01-01_10-00-00", "2026-01-01_11-00-00"
PICKLE = b"\x80\x05\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01."  # pickle.dumps(1)


def _experiment_dir(root: Path, sessions: dict[str, bool]) -> Path:
    """An experiment directory with one snapshot per session; False: cut short by a kill."""
    directory = root / "exp"
    directory.mkdir()
    (directory / "tunefleet.yaml").write_text("name: exp\n")
    (directory / "tuner.pkl").write_bytes(PICKLE)
    for session, whole in sessions.items():
        state = '{"trial_data": [], "runner_data": {}}'
        (directory / f"experiment_state-{session}.json").write_text(state if whole else state[:17])
        (directory / f"search_gen_state-{session}.json").write_bytes(PICKLE)
        (directory / f"searcher-state-{session}.pkl").write_bytes(PICKLE)
    return directory


def test_a_whole_snapshot_is_resumed_as_it_is(tmp_path: Path) -> None:
    directory = _experiment_dir(tmp_path, {OLD: True, NEW: True})
    assert check_resumable(directory)
    assert not list(directory.glob(f"*{SET_ASIDE_SUFFIX}"))


def test_a_snapshot_cut_short_falls_back_to_the_previous_session_as_a_whole(tmp_path: Path) -> None:
    directory = _experiment_dir(tmp_path, {OLD: True, NEW: False})
    assert check_resumable(directory)
    # Ray restores the newest session's files: all of the damaged session's are set aside,
    # so that trial states and the searcher's state come from the same moment.
    assert sorted(p.name for p in directory.glob(f"*{SET_ASIDE_SUFFIX}")) == [
        f"experiment_state-{NEW}.json{SET_ASIDE_SUFFIX}",
        f"search_gen_state-{NEW}.json{SET_ASIDE_SUFFIX}",
        f"searcher-state-{NEW}.pkl{SET_ASIDE_SUFFIX}",
    ]
    assert (directory / f"experiment_state-{OLD}.json").is_file()


def test_a_cut_short_searcher_state_counts_as_damage_too(tmp_path: Path) -> None:
    directory = _experiment_dir(tmp_path, {OLD: True, NEW: True})
    (directory / f"searcher-state-{NEW}.pkl").write_bytes(PICKLE[:-3])
    assert check_resumable(directory)
    assert (directory / f"experiment_state-{NEW}.json{SET_ASIDE_SUFFIX}").is_file()


def test_no_whole_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    directory = _experiment_dir(tmp_path, {NEW: False})
    with pytest.raises(TunefleetError, match="every saved snapshot of the sweep is damaged"):
        check_resumable(directory)


def test_a_sweep_killed_before_its_first_snapshot_starts_over(tmp_path: Path) -> None:
    assert not check_resumable(_experiment_dir(tmp_path, {}))


def test_a_directory_that_is_not_an_experiment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TunefleetError, match="not a tunefleet experiment directory"):
        check_resumable(tmp_path)


def test_resume_finds_the_latest_run_of_the_experiment(tmp_path: Path) -> None:
    for age, name in enumerate(["exp-20260101-110000", "exp", "exp-20260101-100000-2", "expanded"]):
        (tmp_path / name).mkdir()
        saved = tmp_path / name / "tunefleet.yaml"
        saved.write_text("name: exp\n")
        os.utime(saved, (1e9 - age * 100, 1e9 - age * 100))
    assert latest_run(tmp_path, "exp") == tmp_path / "exp-20260101-110000"
    with pytest.raises(TunefleetError, match="no earlier run of 'other'"):
        latest_run(tmp_path, "other")


def test_a_new_run_never_reuses_the_directory_of_an_earlier_one(tmp_path: Path) -> None:
    assert unused_run_name(str(tmp_path), "exp") == "exp"
    (tmp_path / "exp").mkdir()
    assert unused_run_name(str(tmp_path), "exp") == "exp"  # an empty directory holds nothing to lose
    names = []
    for started in (100.0, 200.0, 300.0):  # three runs, in this order, within the same second
        name = unused_run_name(str(tmp_path), "exp")
        assert name not in names
        names.append(name)
        (tmp_path / name).mkdir(exist_ok=True)
        saved = tmp_path / name / "tunefleet.yaml"
        saved.write_text("name: exp\n")
        os.utime(saved, (started, started))
    assert names[0] == "exp" and all(n.startswith("exp-") for n in names[1:])
    assert latest_run(tmp_path, "exp") == tmp_path / names[-1]  # what `run --resume` continues


def test_resume_refuses_an_experiment_file_edited_since_the_run(tmp_path: Path) -> None:
    experiment = load_experiment(counter_experiment(tmp_path))
    write_experiment_file(
        tmp_path / "results" / "reliability", experiment.raw, "reliability", experiment.source
    )
    edited = load_experiment(experiment.source, ["num_samples=9", "failure.errored_on_resume=restart"])
    with pytest.raises(TunefleetError, match=r"num_samples changed since the run .* started") as error:
        run_experiment(edited, resume=True)
    assert "failure" not in str(error.value).partition("started")[0]  # what resume may change
    assert resume_command(tmp_path / "results" / "reliability") in str(error.value)


def test_the_resume_command_quotes_paths_and_keeps_the_address() -> None:
    assert (
        resume_command("/r/my exp", "10.0.0.1:6379") == "tunefleet resume '/r/my exp' --address 10.0.0.1:6379"
    )


def test_the_readme_failure_settings_are_valid(tmp_path: Path) -> None:
    from tests.test_readme import code_block

    snippet = yaml.safe_load(code_block("yaml", "errored_on_resume"))
    experiment = load_experiment(counter_experiment(tmp_path, **snippet))
    assert experiment.settings.time_budget == 7200 and experiment.settings.failure.max_failures == 2
