"""Fixtures shared by the whole suite: one local Ray per test session, experiment files on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Ray 2.60 enables token auth for new local clusters; every Ray process of the suite uses the
# same mode, and it must be set before Ray is imported (Ray caches its config at import).
os.environ.setdefault("RAY_AUTH_MODE", "token")

REPO = Path(__file__).resolve().parent.parent


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
    from tunefleet.runner import init_local_ray

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


def tunefleet(
    *args: str, cwd: Path = REPO, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a fresh process (by default with its own embedded Ray)."""
    return subprocess.run(
        [sys.executable, "-m", "tunefleet.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


USER_MODULE = '''
"""A user's own trainables, next to the experiment file, not installed anywhere."""
from ray import tune

from tunefleet.trainables.tasks import LinearRegression


class MyRegression(LinearRegression):
    """Subclassing a built-in is enough to get every tunefleet knob."""


def score_fn(config):
    if config["x"] > 0.9:
        raise RuntimeError("deliberate failure for x > 0.9")
    for i in range(3):
        tune.report({"score": -(config["x"] - 0.3) ** 2})


score_fn.reported_metrics = {"score"}
'''


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
