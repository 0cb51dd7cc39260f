"""Real (tiny) Ray Tune experiments for the analysis tests, built once per test session.

``ray_local`` (a session-wide local Ray) comes from tests/conftest.py.

Every trial follows a scripted curve so the expected ranking is known: with ``mode="max"`` on
``score``, ``lr=0.1,width=8`` is best by its last result and ``lr=0.01,width=32`` is best by
its best result (it peaks early), so ``scope="last"`` and ``scope="all"`` disagree.
``lr=0.1,width=32`` raises, which gives an ERROR trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# score at iterations 1, 2, ... for each (lr, width); NaN is a diverged report.
SCORE_CURVES: dict[tuple[float, int], list[float]] = {
    (0.01, 8): [0.20, 0.40, 0.60, math.nan],  # diverges at the end: unranked by its last value
    (0.01, 32): [0.30, 0.90, 0.50, 0.40],  # best over all iterations
    (0.1, 8): [0.50, 0.60, 0.75, 0.80],  # best last value
    (0.1, 32): [0.10, 0.15, 0.20, 0.25],  # raises at iteration fail_at (see the fixtures)
}
FAILING = (0.1, 32)
FAILURE_MESSAGE = "loss diverged at lr=0.1"  # test_experiment.py expects these two literally


def _make_trainable(fail_at: int) -> Callable[[dict[str, Any]], None]:
    # A closure, so Ray pickles it by value: workers need not import this conftest.
    from ray import tune

    def scripted_trainable(config: dict[str, Any]) -> None:
        key = (config["optim"]["lr"], config["model"]["width"])
        for iteration, score in enumerate(SCORE_CURVES[key], start=1):
            if key == FAILING and iteration == fail_at:
                raise ValueError(FAILURE_MESSAGE)
            tune.report(
                {
                    "score": score,
                    "test_accuracy": score - 0.05,
                    "val_loss": 1.0 - score,
                    "extra": {"lr_scaled": config["optim"]["lr"] * iteration},
                }
            )

    return scripted_trainable


def _run_experiment(
    storage: Path, name: str, *, fail_at: int, metric: str, mode: str, scheduler: Any
) -> Path:
    from ray import tune

    tuner = tune.Tuner(
        _make_trainable(fail_at),
        param_space={
            "optim": {"lr": tune.grid_search([0.01, 0.1])},
            "model": {"width": tune.grid_search([8, 32]), "activation": "relu"},
        },
        tune_config=tune.TuneConfig(metric=metric, mode=mode, scheduler=scheduler),
        run_config=tune.RunConfig(storage_path=str(storage), name=name, verbose=0),
    )
    tuner.fit()
    return storage / name


@pytest.fixture(scope="session")
def fifo_experiment(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 grid trials under FIFO; the failing one raises before reporting anything.

    Holds a tunefleet.yaml with ``metric: score`` and ``mode: max``.
    """
    from ray.tune.schedulers import FIFOScheduler

    path = _run_experiment(
        tmp_path_factory.mktemp("fifo"),
        "fifo-grid",
        fail_at=1,
        metric="score",
        mode="max",
        scheduler=FIFOScheduler(),
    )
    settings = {"name": "fifo-grid", "trainable": "scripted", "metric": "score", "mode": "max"}
    (path / "tunefleet.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def asha_experiment(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 4 trials under ASHA on ``val_loss`` (min); the failing one reports twice first.

    Has no tunefleet.yaml: metric and mode must be passed.
    """
    from ray.tune.schedulers import ASHAScheduler

    return _run_experiment(
        tmp_path_factory.mktemp("asha"),
        "asha-grid",
        fail_at=3,
        metric="val_loss",
        mode="min",
        scheduler=ASHAScheduler(max_t=4, grace_period=1, reduction_factor=2),
    )


# -- a sweep where only the learning rate matters (importance, report, compare) ----------------

IMPORTANCE_SPACE = {
    "lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "width": {"randint": [8, 128]},
    "dropout": {"uniform": [0.0, 0.5]},
    "optimizer": {"choice": ["sgd", "adam"]},
}


def _lr_only_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    # Grows with log10(lr); width, dropout and optimizer change it by < 0.01%.
    score = math.log10(config["lr"]) + 1e-4 * config["dropout"] + 1e-6 * config["width"]
    for iteration in range(1, 3):
        tune.report({"score": score * (1 + 1 / iteration), "test_score": score})


@pytest.fixture(scope="session")
def lr_experiment(ray_local: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 random trials, 2 iterations each; a tunefleet.yaml declares the space (lr is log)."""
    from ray import tune

    from tunefleet.search.ray_domains import to_ray
    from tunefleet.search.spaces import parse_space

    storage = tmp_path_factory.mktemp("lr")
    tuner = tune.Tuner(
        _lr_only_trainable,
        param_space=to_ray(parse_space(IMPORTANCE_SPACE, "test")),
        tune_config=tune.TuneConfig(
            metric="score",
            mode="max",
            num_samples=24,
            search_alg=tune.search.BasicVariantGenerator(random_state=0),
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(storage), name="lr-only", verbose=0),
    )
    tuner.fit()
    path = storage / "lr-only"
    settings = {
        "name": "lr-only",
        "trainable": "scripted",
        "metric": "score",
        "mode": "max",
        "max_iterations": 2,
        "space": IMPORTANCE_SPACE,
        "resources": {"cpu": 1, "gpu": 0},
    }
    (path / "tunefleet.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path
