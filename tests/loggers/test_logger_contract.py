"""Every registered logger through the same contract, without Ray and without its library: its
options validate, an unknown option is an error naming the key, and a missing package is an
error naming the pip command."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tunefleet import cli
from tunefleet.config import check_storage, load_experiment
from tunefleet.errors import ConfigError
from tunefleet.loggers import LOGGERS, get_logger

#: Logger name -> a ``loggers:`` entry with options of every kind it takes.
CASES: dict[str, dict[str, Any]] = {
    "tensorboard": {"type": "tensorboard"},
    "mlflow": {
        "type": "mlflow",
        "tracking_uri": "sqlite:///mlflow.db",
        "experiment_name": "mine",
        "artifact_location": "file:///tmp/artifacts",
        "tags": {"team": "vision"},
        "upload_checkpoints": True,
    },
    "wandb": {
        "type": "wandb",
        "project": "p",
        "group": "g",
        "entity": "me",
        "mode": "online",
        "dir": "wandb_files",
        "tags": ["a", "b"],
        "upload_checkpoints": True,
    },
    "aim": {"type": "aim", "repo": "aim_repo", "experiment": "mine"},
}

QUADRATIC = {
    "trainable": "tests.support:quadratic",
    "metric": "score",
    "mode": "max",
    "max_iterations": 2,
    "space": {"lr": 0.01},
}


@pytest.fixture
def experiment_with(tmp_path: Path) -> Callable[..., Path]:
    """An experiment file of the tests' quadratic trainable with these ``loggers:``."""

    def write(loggers: list[Any], **more: Any) -> Path:
        path = tmp_path / "exp.yaml"
        path.write_text(
            yaml.safe_dump({**QUADRATIC, "storage": str(tmp_path / "results"), **more, "loggers": loggers})
        )
        return path

    return write


def _problems(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    return {problem.key: problem.message for problem in caught.value.problems}


def _installed(monkeypatch: pytest.MonkeyPatch, modules: set[str]) -> None:
    """As if ``modules`` were installed, whether they are here or not."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name in modules else find_spec(name, *a)
    )


def _without(monkeypatch: pytest.MonkeyPatch, modules: set[str]) -> None:
    """As if ``modules`` were not installed (find_spec is what validation asks)."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in modules else find_spec(name, *a)
    )


def test_every_registered_logger_has_a_contract_case() -> None:
    assert set(CASES) == set(LOGGERS)


def test_without_loggers_a_sweep_logs_to_tensorboard(experiment_with: Callable[..., Path]) -> None:
    path = experiment_with([])
    path.write_text(yaml.safe_dump(QUADRATIC))
    assert [plugin.name for plugin, _ in load_experiment(path).loggers] == ["tensorboard"]


@pytest.mark.parametrize("name", sorted(LOGGERS))
def test_a_logger_is_named_alone_or_with_its_options(
    name: str, experiment_with: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed(monkeypatch, {module for module, _ in get_logger(name).requires})
    (plugin, options), *_ = load_experiment(experiment_with([name])).loggers
    assert plugin.name == name and options == plugin.options()  # the defaults

    (plugin, options), *_ = load_experiment(experiment_with([CASES[name]])).loggers
    assert {"type": name, **options.model_dump()} == CASES[name]


@pytest.mark.parametrize("name", sorted(LOGGERS))
def test_an_unknown_option_is_an_error_naming_its_key_and_the_nearest(
    name: str, experiment_with: Callable[..., Path]
) -> None:
    valid = sorted(get_logger(name).options.model_fields)
    typo = (valid[0][:-1] + "x") if valid else "options"
    problems = _problems(
        experiment_with(["tensorboard" if name != "tensorboard" else "mlflow", {"type": name, typo: 1}])
    )
    key = f"loggers.1.{typo}"
    assert problems[key].startswith("unknown key")
    if valid:
        assert f"did you mean {valid[0]!r}" in problems[key]


@pytest.mark.parametrize("name", sorted(LOGGERS))
def test_a_missing_package_is_an_error_naming_the_pip_command(
    name: str, experiment_with: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    requires = get_logger(name).requires
    if not requires:
        assert name == "tensorboard"  # a dependency of tunefleet itself
        return
    _without(monkeypatch, {module for module, _ in requires})
    problems = _problems(experiment_with(["tensorboard", name]))
    module, extra = requires[0]
    assert problems == {
        "loggers.1": f"logger {name} needs {module} (pip install 'tunefleet[{extra}]'), which is not installed"
    }


@pytest.mark.parametrize(("name", "option"), [("mlflow", "tracking_uri"), ("aim", "repo")])
def test_a_logger_whose_default_lives_in_the_storage_needs_a_location_with_a_uri_storage(
    name: str, option: str, experiment_with: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _installed(monkeypatch, {module for module, _ in get_logger(name).requires})
    problems = _problems(experiment_with([name], storage="s3://bucket/sweeps"))
    assert list(problems) == [f"loggers.0.{option}"]
    assert problems[f"loggers.0.{option}"].startswith("required when storage is a URI")

    experiment = load_experiment(experiment_with([name]))  # a local storage in the file
    with pytest.raises(ConfigError) as caught:
        check_storage(experiment, "s3://bucket/sweeps")  # --storage
    assert [p.key for p in caught.value.problems] == [f"loggers.0.{option}"]


def test_run_refuses_bad_loggers_with_exit_2_naming_each_key_and_starts_nothing(
    experiment_with: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without(monkeypatch, {"wandb"})
    path = experiment_with(["tensorbord", {"type": "mlflow", "tracking_ur": "sqlite:///x.db"}, "wandb"])

    result = CliRunner().invoke(cli.main, ["run", str(path)])

    assert result.exit_code == 2, result.output
    assert "loggers.0: unknown logger 'tensorbord' (did you mean 'tensorboard'?)" in result.output
    assert "loggers.1.tracking_ur: unknown key (did you mean 'tracking_uri'?)" in result.output
    assert "loggers.2: logger wandb needs wandb (pip install 'tunefleet[wandb]'), which is not installed" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "results").exists()


def test_the_readme_logging_example_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_readme import code_block

    _installed(monkeypatch, {module for name in LOGGERS for module, _ in get_logger(name).requires})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(QUADRATIC) + code_block("yaml", "type: mlflow"))
    assert [plugin.name for plugin, _ in load_experiment(path).loggers] == [
        "tensorboard",
        "mlflow",
        "wandb",
        "aim",
    ]
