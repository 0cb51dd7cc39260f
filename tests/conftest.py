"""Fixtures shared by the whole suite: one local Ray per test session, experiment files on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import USER_MODULE


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A real local Ray for the session: 2 CPUs, 127.0.0.1 only, no dashboard.

    Ray workers get the current directory on their sys.path, so trainables in ``tests/`` import
    on workers as ``tests.<module>``.
    """
    import ray

    if ray.is_initialized():  # pragma: no cover - someone else owns it
        yield
        return
    from tunefleet.run.session import init_local_ray

    init_local_ray(num_cpus=2, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def write_experiment(tmp_path: Path) -> Callable[..., Path]:
    """Write an experiment YAML (dedented) into a temporary directory and return its path."""

    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    """A project folder with its own trainable module next to an experiment; returns the YAML.

    The module is not installed anywhere: tunefleet must find it next to the YAML and ship it.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "my_models.py").write_text(USER_MODULE)
    experiment = project / "exp.yaml"
    experiment.write_text(
        textwrap.dedent(
            """\
            trainable: my_models:MyRegression
            metric: val_loss
            mode: min
            num_samples: 2
            max_iterations: 2
            search: {algorithm: random, seed: 1}
            space: {lr: {loguniform: [1.0e-3, 1.0e-1]}, steps_per_iteration: 5}
            """
        )
    )
    return experiment
