"""Every registered search algorithm, through the same contract: a small real sweep, end to end.

Each sweep runs one trial at a time (``max_concurrent: 1``) and starts from one given point:
the point is the first trial, no two trials overlap, and a seed repeats the proposals exactly
where the algorithm promises it (a different seed then proposes differently).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from tunefleet.config import load_experiment
from tunefleet.run.tuner import build_tuner
from tunefleet.search import SEARCHERS, get_searcher

SPACE = {"lr": {"loguniform": [1.0e-4, 1.0]}, "width": {"choice": [16, 64, 128]}, "iterations": 2}
POINT = {"lr": 0.01, "width": 64}


@dataclass(frozen=True)
class Case:
    """How one search algorithm runs the contract sweep."""

    #: The algorithm's own keys of ``search:``.
    options: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=lambda: SPACE)
    scheduler: dict[str, Any] = field(default_factory=lambda: {"type": "fifo"})
    num_samples: int = 4
    #: How many trials the sweep makes (a point takes the place of one sample).
    trials: int = 4
    #: The seed decides the proposals, and the same seed repeats them (False: nothing is sampled).
    seeded: bool = True


CASES: dict[str, Case] = {
    # Nothing is sampled. Ray's variant generator puts each point in place of one repetition of the
    # grid, where the values it sets collapse the grid: the first repetition is the point alone,
    # the second the whole grid.
    "grid": Case(
        space={"lr": {"grid": [1.0e-3, 1.0e-2]}, "width": {"choice": [16, 64]}, "iterations": 2},
        num_samples=2,
        trials=1 + 4,
        seeded=False,
    ),
    "random": Case(),
    "hyperopt": Case(options={"n_initial_points": 2, "gamma": 0.5}),
    # TuneBOHB seeds only ConfigSpace's sampling; once its model proposes, hpbandster draws from
    # numpy's global random state, which Ray does not seed. Four trials stay on random proposals.
    "bohb": Case(scheduler={"type": "bohb", "reduction_factor": 2}),
}


#: Whether each searcher learns from an earlier sweep's results (``tunefleet extend``): True when
#: its plugin has a ``warm_start`` hook, False when its proposals ignore results (nothing to warm).
#: bohb: Ray 2.60's TuneBOHB has no way to add an evaluated point (its model is rebuilt from its
#: own iterations), so it takes none.
WARM_START: dict[str, bool] = {"grid": False, "random": False, "hyperopt": True, "bohb": False}

#: Three finished trials of SPACE, with the metric they reached.
HISTORY = [
    ({"lr": 0.001, "width": 16}, 0.2),
    ({"lr": 0.01, "width": 64}, 0.9),
    ({"lr": 0.5, "width": 128}, 0.4),
]


def test_every_registered_searcher_has_a_contract_case() -> None:
    assert set(CASES) == set(SEARCHERS)
    assert set(WARM_START) == set(SEARCHERS)


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_searcher_declares_whether_it_takes_an_old_sweeps_results(name: str) -> None:
    assert (get_searcher(name).warm_start is not None) == WARM_START[name]


@pytest.mark.parametrize("name", sorted(n for n, takes in WARM_START.items() if takes))
def test_warm_started_searcher_still_proposes_values_of_the_space(name: str) -> None:
    from tunefleet.search import EvaluatedPoint, SearchSettings, build_search
    from tunefleet.search.spaces import parse_space

    if get_searcher(name).missing_dependencies():
        pytest.skip("optional dependency not installed")
    space = parse_space(SPACE, "contract.yaml")
    settings = SearchSettings.model_validate({"algorithm": name, "seed": 0, **CASES[name].options})
    history = [EvaluatedPoint(config, value) for config, value in HISTORY]
    search_alg, _ = build_search(settings, space, "score", "max", history=history)
    search_alg.set_search_properties("score", "max", {})
    config = search_alg.suggest("after-warm-start")
    assert space["lr"].contains(config["lr"]) and space["width"].contains(config["width"])


def sweep(name: str, seed: int, tmp_path: Path) -> list[Any]:
    """Run the case of ``name`` with ``seed``; the results in the order the searcher made the trials."""
    case = CASES[name]
    path = tmp_path / f"{name}-{seed}.yaml"
    experiment = {
        "trainable": "tests.support:timed_quadratic",
        "metric": "score",
        "mode": "max",
        "num_samples": case.num_samples,
        "max_iterations": 2,
        "search": {
            "algorithm": name,
            "seed": seed,
            "max_concurrent": 1,
            "points_to_evaluate": [POINT],
            **case.options,
        },
        "space": case.space,
        "scheduler": case.scheduler,
    }
    path.write_text(yaml.safe_dump(experiment))
    tuner = build_tuner(load_experiment(path), str(tmp_path / "results"), path.stem, Console(quiet=True))
    results = tuner.fit()
    assert not results.errors
    return list(results)


def proposals(results: list[Any]) -> list[tuple[float, int]]:
    return [(r.config["lr"], r.config["width"]) for r in results]


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_searcher_runs_a_small_sweep_end_to_end(name: str, tmp_path: Path) -> None:
    missing = get_searcher(name).missing_dependencies()
    if missing:
        pytest.skip(f"optional dependency not installed: {', '.join(missing)}")
    case = CASES[name]
    first = sweep(name, 0, tmp_path)

    assert len(first) == case.trials
    assert proposals(first)[0] == (POINT["lr"], POINT["width"])
    # One at a time: each run of a trial (bohb's HyperBand pauses and resumes them) started after
    # the one before it last reported.
    runs = sorted(
        (started, rows["reported"].max())
        for r in first
        for started, rows in r.metrics_dataframe.groupby("started")
    )
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(runs)), runs

    if case.seeded:
        assert proposals(sweep(name, 0, tmp_path)) == proposals(first)
        assert proposals(sweep(name, 1, tmp_path)) != proposals(first)
