"""The package as pip installs it: every package and shipped experiment in the wheel, the
``experiments`` command, ``--version``. The wheel itself is built, installed into a fresh venv and
run from outside the checkout by ``.ci/wheel_check``."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import tomllib
from click.testing import CliRunner

import tunefleet
from tests.support import REPO
from tests.support import tunefleet as run_tunefleet
from tunefleet import cli
from tunefleet.config.shipped import shipped_experiments

SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_under_tunefleet_is_listed_for_the_wheel() -> None:
    # packages are listed, not found (see pyproject.toml): a package missing from the list would
    # be missing from the wheel while every test of the editable install still passes.
    found = {
        ".".join(d.relative_to(REPO).parts)
        for d in [REPO / "tunefleet", *(REPO / "tunefleet").rglob("*")]
        if d.is_dir() and any(d.glob("*.py"))
    }
    assert set(SETUPTOOLS["packages"]) == found | {"tunefleet.experiments"}


def test_the_experiments_directory_ships_as_package_data_and_holds_nothing_else() -> None:
    assert SETUPTOOLS["package-dir"] == {"tunefleet.experiments": "experiments"}
    assert SETUPTOOLS["package-data"]["tunefleet.experiments"] == ["*.yaml"]
    tracked = {p.name for p in (REPO / "experiments").iterdir() if p.name != "__pycache__"}
    shipped = {p.name for p in shipped_experiments().values()}
    # Anything else put there would be left out of the wheel (or ship as a stray module).
    assert tracked - shipped == {"__init__.py"}


def test_version_is_the_installed_package_version() -> None:
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tunefleet, version {metadata.version('tunefleet')}\n"
    assert tunefleet.__version__ == metadata.version("tunefleet")


def test_experiments_command_lists_every_shipped_experiment_with_what_it_runs() -> None:
    proc = run_tunefleet("experiments", env={"COLUMNS": "400"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in shipped_experiments():
        assert any(line.split("│")[1].strip() == name for line in lines if line.count("│") == 6), name
    quickstart = next(line for line in lines if "│ quickstart " in line)
    cells = [cell.strip() for cell in quickstart.split("│")[1:-1]]
    assert cells == [
        "quickstart",
        "mnist1d_cnn",
        "hyperopt / asha",
        "20",
        "Quickstart: tune a 1-D CNN on MNIST-1D with Hyperopt (TPE) and ASHA early stopping.",
    ]


def test_validate_takes_a_shipped_name_from_any_directory(tmp_path: Path) -> None:
    proc = run_tunefleet("validate", "quickstart", "--set", "num_samples=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("quickstart: ok: 2 trials of mnist1d_cnn, hyperopt search, asha scheduler")
    assert not list(tmp_path.iterdir())  # validate creates nothing


def test_an_unknown_experiment_name_is_one_message_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["run", "quikstart"])
    assert result.exit_code == 2
    assert "quikstart: invalid experiment" in result.output
    assert "(did you mean 'quickstart'?); shipped: cifar10_asha, " in result.output
    assert "Traceback" not in result.output
