"""The README's examples are true: its own-trainable example validates and trains."""

from __future__ import annotations

import re
import sys

from tests.support import REPO
from tunefleet.config import load_experiment

README = (REPO / "README.md").read_text()


def code_block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)
    return next(b for b in blocks if containing in b)


def code_block_in(text: str, containing: str) -> str:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return next(b for b in blocks if containing in b)


def test_readme_quickstart_is_two_commands_that_install_run_and_test() -> None:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(commands) == 2
    assert "tunefleet run experiments/quickstart.yaml" in commands[0]
    assert commands[1].strip().endswith("pytest")
    ci = (REPO / ".ci/run").read_text()
    assert "pip install --quiet torch==2.13.0" in ci and 'pip install --quiet -e ".[dev]"' in ci
    assert 'pip install -e ".[dev]"' in commands[1]
    assert ci.strip().endswith("pytest")


def test_ci_runs_the_checks_of_the_development_section_before_the_suite() -> None:
    section = README.split("## Development", 1)[1].split("\n## ", 1)[0]
    documented = [line.split("#")[0].strip() for line in code_block_in(section, "ruff check").splitlines()]
    ci_lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    checks = [c for c in documented if c and not c.startswith("pip install")]
    assert [line for line in ci_lines if line in checks] == checks


def test_readme_own_trainable_example_validates_and_trains(tmp_path, monkeypatch) -> None:
    (tmp_path / "readme_models.py").write_text(code_block("python", "class WideMLP"))
    space = code_block("yaml", "my_models:WideMLP").replace("my_models:", "readme_models:")
    (tmp_path / "exp.yaml").write_text(space + "metric: val_accuracy\nmode: max\nmax_iterations: 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    experiment = load_experiment(tmp_path / "exp.yaml")
    assert experiment.trainable.hyperparams is not None
    assert "width" in experiment.trainable.hyperparams.model_fields

    trainable = experiment.trainable.obj(config={"width": 32, "steps_per_iteration": 5})
    result = trainable.train()
    assert 0.0 <= result["val_accuracy"] <= 1.0
    trainable.stop()
    sys.modules.pop("readme_models", None)


def test_readme_experiment_file_reference_validates(tmp_path) -> None:
    # Every key of the reference, hyperopt's own search keys included, is accepted as written.
    (tmp_path / "reference.yaml").write_text(code_block("yaml", "n_initial_points: 8"))
    experiment = load_experiment(tmp_path / "reference.yaml")
    assert experiment.searcher_options.model_dump() == {"n_initial_points": 8, "gamma": 0.25}
