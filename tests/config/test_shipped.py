"""The shipped experiments: found by name from any directory, listed with what each one runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import REPO
from tunefleet.config import load_experiment
from tunefleet.config.shipped import describe_shipped, find_experiment_file, shipped_experiments
from tunefleet.errors import ConfigError

EXPERIMENTS = REPO / "experiments"


def test_every_yaml_file_of_the_experiments_directory_is_a_shipped_experiment() -> None:
    shipped = shipped_experiments()
    assert list(shipped) == sorted(p.stem for p in EXPERIMENTS.glob("*.yaml"))
    assert "quickstart" in shipped
    # In this (editable) install the shipped files are the repository's own.
    assert shipped["quickstart"].resolve() == (EXPERIMENTS / "quickstart.yaml").resolve()


@pytest.mark.parametrize("argument", ["quickstart", "quickstart.yaml"])
def test_a_bare_name_finds_the_shipped_experiment_from_any_directory(
    argument: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_experiment_file(argument) == shipped_experiments()["quickstart"]


@pytest.mark.parametrize("argument", ["quickstart", "quickstart.yaml"])
def test_an_existing_file_wins_over_the_shipped_experiment_of_that_name(
    argument: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / argument).write_text("name: mine\n")
    assert find_experiment_file(argument) == Path(argument)


def test_a_directory_named_like_a_shipped_experiment_does_not_hide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart").mkdir()
    assert find_experiment_file("quickstart") == shipped_experiments()["quickstart"]
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match=r"^mine: invalid experiment\n  - cannot read the file"):
        load_experiment("mine")


def test_a_path_with_a_directory_is_never_looked_up_among_the_shipped_experiments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        find_experiment_file("elsewhere/quickstart.yaml")
    assert str(caught.value).startswith("elsewhere/quickstart.yaml: invalid experiment\n  - file not found")


def test_an_unknown_name_is_an_error_naming_the_file_and_listing_the_shipped_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_experiment("quickstrat")
    message = str(caught.value)
    assert message.startswith(
        "quickstrat: invalid experiment\n"
        "  - file not found, and not the name of a shipped experiment (did you mean 'quickstart'?); "
        "shipped: cifar10_asha, "
    )
    assert ", ".join(shipped_experiments()) in message
    assert message.endswith("(tunefleet experiments describes them)")


def test_load_experiment_by_name_runs_the_shipped_file_with_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    experiment = load_experiment("quickstart", ["num_samples=2", "max_iterations=3"])
    assert experiment.source == shipped_experiments()["quickstart"]
    assert (experiment.name, experiment.num_trials) == ("quickstart", 2)
    assert experiment.settings.max_iterations == 3
    # Results stay relative to where the command runs, not to the installed file.
    assert experiment.settings.storage == "tunefleet_results"


def test_a_copy_of_a_shipped_experiment_runs_from_its_new_place(tmp_path: Path) -> None:
    # Shipped experiments refer to no file next to them: a copy validates the same.
    shutil.copy(EXPERIMENTS / "digits_grid.yaml", tmp_path / "digits_grid.yaml")
    assert load_experiment(tmp_path / "digits_grid.yaml").num_trials == 12


def test_the_listing_says_what_each_shipped_experiment_runs() -> None:
    listed = {shipped.name: shipped for shipped in describe_shipped()}
    assert list(listed) == list(shipped_experiments())
    quickstart = listed["quickstart"]
    assert (quickstart.trainable, quickstart.search, quickstart.scheduler, quickstart.trials) == (
        "mnist1d_cnn",
        "hyperopt",
        "asha",
        20,
    )
    assert quickstart.description == (
        "Quickstart: tune a 1-D CNN on MNIST-1D with Hyperopt (TPE) and ASHA early stopping."
    )
    # Grid points are counted as validation counts them (the CIFAR-10 ones need no dataset here).
    for name in ("digits_grid", "mnist1d_cnn_best", "pbt_toy"):
        assert listed[name].trials == load_experiment(listed[name].path).num_trials
    assert (listed["digits_grid"].trials, listed["cifar10_lr_batch_grid"].trials) == (12, 9)


def test_every_shipped_experiment_starts_with_a_one_sentence_description() -> None:
    for shipped in describe_shipped():
        assert shipped.description.endswith("."), shipped.name
        assert 20 < len(shipped.description) < 200, (shipped.name, shipped.description)
