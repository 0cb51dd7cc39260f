"""Hyperopt learns from the results it is given (that every searcher's seed repeats its proposals is
in test_searcher_contract.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tunefleet.config import load_experiment
from tunefleet.run.tuner import build_tuner

pytestmark = pytest.mark.usefixtures("ray_local")

EXPERIMENT = """\
trainable: tests.support:quadratic
metric: score
mode: max
num_samples: 8
max_iterations: 2
search: {{algorithm: {algorithm}, seed: {seed}, max_concurrent: 1, n_initial_points: 3}}
space:
  lr: {{loguniform: [1.0e-4, 1.0]}}
  width: {{quniform: [16, 128, 16]}}
  iterations: 2
"""


def sweep_configs(path: Path, tmp_path: Path, name: str) -> list[tuple[float, int]]:
    from rich.console import Console

    experiment = load_experiment(path)
    results = build_tuner(experiment, str(tmp_path / "results"), name, Console(quiet=True)).fit()
    # Results come in the order the searcher created the trials: the sequence the seed fixes.
    return [(r.config["lr"], r.config["width"]) for r in results]


def test_hyperopt_learns_from_reported_results(write_experiment, tmp_path) -> None:
    # With results flowing back to TPE, its proposals after the random startup cluster around
    # the optimum lr = 1e-2 of tests.support.quadratic. Uniform sampling in log space over
    # [1e-4, 1] would put the mean |log10(lr) + 2| at 1.0.
    text = EXPERIMENT.format(algorithm="hyperopt", seed=0)
    text = text.replace("num_samples: 8", "num_samples: 40").replace(
        "n_initial_points: 3", "n_initial_points: 5"
    )
    text = text.replace("width: {quniform: [16, 128, 16]}", "width: 64")
    configs = sweep_configs(write_experiment(text), tmp_path, "tpe")
    distances = sorted(abs(math.log10(lr) + 2) for lr, _ in configs[-20:])
    assert sum(distances) / 20 < 0.8, distances  # random: 1.0 +- 0.13
