"""Every registered search algorithm, through the same contract: a small real sweep, end to end.

Each sweep runs one trial at a time (``max_concurrent: 1``) and starts from one given point:
the point is the first trial, no two trials overlap, and a seed repeats the proposals exactly
where the algorithm promises it (a different seed then proposes differently).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
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
    #: The seed decides the proposals, and the same seed repeats them (False: nothing is sampled,
    #: or the seed is checked without Ray, as for optuna's samplers below).
    seeded: bool = True
    #: What the sweep optimizes (lists: a multi-objective sweep).
    metric: Any = "score"
    mode: Any = "max"


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
    # The one Ray sweep of the optuna path: multi-objective (the metric lists reach the study, Ray
    # checks both are reported). Each sampler is checked without Ray below, seeds included.
    "optuna": Case(
        options={"sampler": "nsga2", "nsga2": {"population_size": 2}},
        metric=["score", "reported"],
        mode=["max", "min"],
        seeded=False,
    ),
}


#: Whether each searcher learns from an earlier sweep's results (``tunefleet extend``): True when
#: its plugin has a ``warm_start`` hook, False when its proposals ignore results (nothing to warm).
#: bohb: Ray 2.60's TuneBOHB has no way to add an evaluated point (its model is rebuilt from its
#: own iterations), so it takes none.
WARM_START: dict[str, bool] = {
    "grid": False,
    "random": False,
    "hyperopt": True,
    "bohb": False,
    "optuna": True,
}

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
        "metric": case.metric,
        "mode": case.mode,
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


# -- Optuna's samplers, through the Searcher API as Ray Tune drives it (no Ray cluster) ----------

#: A space with every distribution Optuna takes: a quantized float, integers, a list option.
OPTUNA_SPACE = {
    "lr": {"loguniform": [1.0e-4, 1.0]},
    "momentum": {"uniform": [0.0, 0.99]},
    "width": {"quniform": [16, 128, 16]},
    "ratio": {"quniform": [0.2, 1.0, 0.2]},
    "batch": {"qloguniform": [8, 512, 8]},
    "hidden": {"qloguniform": [4, 64, 1]},
    "layers": {"randint": [1, 4]},
    "kernel": {"choice": [[3, 3], [5, 5]]},
    "act": {"choice": ["relu", "gelu"]},
    "epochs": 3,
}
#: CMA-ES models numbers only: its space leaves the choices out.
NUMERIC_SPACE = {k: v for k, v in OPTUNA_SPACE.items() if k not in ("kernel", "act")}
#: A Gaussian process takes seconds per proposal in seven dimensions: a small space keeps it quick.
SMALL_SPACE = {k: v for k, v in OPTUNA_SPACE.items() if k in ("lr", "momentum", "layers", "epochs")}
CONDITIONAL_SPACE = {
    "lr": {"loguniform": [1.0e-4, 1.0]},
    "optimizer": {
        "conditional": {
            "sgd": {},
            "adam": {"beta1": {"uniform": [0.85, 0.95]}},
            "adamw": {"beta1": {"uniform": [0.5, 0.6]}, "decay": {"choice": [0.0, 0.01]}},
        }
    },
}


@dataclass(frozen=True)
class SamplerCase:
    """How one Optuna sampler runs the contract."""

    #: Its section of ``search:`` (few startup trials, so that the model proposes within the test).
    options: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=lambda: OPTUNA_SPACE)
    #: It models a conditional space (else validation refuses one).
    conditional: bool = False
    #: It optimizes a metric list (else validation refuses one).
    multi_objective: bool = True


SAMPLER_CASES: dict[str, SamplerCase] = {
    "tpe": SamplerCase(
        {"n_startup_trials": 4, "multivariate": True, "group": True, "constant_liar": True}, conditional=True
    ),
    "gp": SamplerCase({"n_startup_trials": 6, "deterministic_objective": True}, space=SMALL_SPACE),
    "cmaes": SamplerCase({"n_startup_trials": 2, "popsize": 4}, space=NUMERIC_SPACE, multi_objective=False),
    "nsga2": SamplerCase({"population_size": 4}),
    "qmc": SamplerCase({"scramble": True}, multi_objective=False),
    "random": SamplerCase(conditional=True),
}


def test_every_optuna_sampler_has_a_contract_case() -> None:
    from tunefleet.search.optuna import SAMPLER_OPTIONS

    assert set(SAMPLER_CASES) == set(SAMPLER_OPTIONS)


def optuna_searcher(sampler: str, seed: int = 0, space: dict[str, Any] | None = None, **search: Any) -> Any:
    from tunefleet.search import SearchSettings, build_search
    from tunefleet.search.spaces import parse_space

    case = SAMPLER_CASES[sampler]
    metric, mode = search.pop("objectives", ("score", "max"))
    settings = SearchSettings(
        algorithm="optuna", sampler=sampler, seed=seed, **{sampler: case.options}, **search
    )  # type: ignore[arg-type]
    searcher, param_space = build_search(settings, parse_space(space or case.space, "test"), metric, mode)
    assert param_space == {}
    return searcher


def score(config: dict[str, Any]) -> float:
    """A smooth function of the numeric hyperparameters, for the sampler to climb."""
    return -((math.log10(config["lr"]) + 2) ** 2) - (config.get("momentum", 0.5) - 0.9) ** 2


def run_trials(searcher: Any, trials: range, concurrent: int = 1) -> list[dict[str, Any]]:
    """Suggest and complete the trials numbered ``trials``, ``concurrent`` in flight at a time."""
    configs, pending = [], []
    for number in trials:
        trial_id = f"t{number}"
        config = searcher.suggest(trial_id)
        configs.append(config)
        pending.append((trial_id, config))
        if len(pending) >= concurrent:
            done_id, done = pending.pop(0)
            searcher.on_trial_complete(done_id, {"score": score(done), "loss": done["lr"]})
    for done_id, done in pending:
        searcher.on_trial_complete(done_id, {"score": score(done), "loss": done["lr"]})
    return configs


@pytest.mark.parametrize("sampler", sorted(SAMPLER_CASES))
def test_optuna_sampler_proposes_values_of_the_space_for_every_key(sampler: str) -> None:
    from tunefleet.search.spaces import Constant, parse_space

    space = parse_space(SAMPLER_CASES[sampler].space, "test")
    configs = run_trials(optuna_searcher(sampler), range(10), concurrent=2)

    for config in configs:
        assert set(config) == set(space)
        for key, param in space.items():
            assert param.contains(config[key]), (key, config[key])
    assert all(c["epochs"] == 3 for c in configs) and isinstance(space["epochs"], Constant)
    assert all(isinstance(c["layers"], int) for c in configs)
    if "batch" in space:
        assert all(isinstance(c["width"], int) for c in configs)
        assert all(c["batch"] % 8 == 0 for c in configs)  # a multiple of q, though Optuna has no log step
    if "kernel" in space:
        assert {tuple(c["kernel"]) for c in configs} <= {(3, 3), (5, 5)}  # list options as written


@pytest.mark.parametrize("sampler", sorted(SAMPLER_CASES))
def test_optuna_sampler_seed_repeats_the_proposals_and_another_seed_changes_them(sampler: str) -> None:
    first = run_trials(optuna_searcher(sampler, seed=0), range(8))

    assert run_trials(optuna_searcher(sampler, seed=0), range(8)) == first
    assert run_trials(optuna_searcher(sampler, seed=1), range(8)) != first


@pytest.mark.parametrize("sampler", sorted(SAMPLER_CASES))
def test_optuna_sampler_resumed_from_a_save_continues_the_study_as_if_never_stopped(
    sampler: str, tmp_path: Path
) -> None:
    uninterrupted = optuna_searcher(sampler)
    expected = run_trials(uninterrupted, range(8))

    before = optuna_searcher(sampler)
    configs = run_trials(before, range(4))
    # A trial in flight when the sweep stopped: Ray resumes it and reports its end to the restored searcher.
    in_flight = before.suggest("t4")
    before.save(str(tmp_path / "searcher.pkl"))
    after = optuna_searcher(sampler, seed=99)  # as Ray rebuilds it: the state comes from the save
    after.restore(str(tmp_path / "searcher.pkl"))
    after.on_trial_complete("t4", {"score": score(in_flight), "loss": in_flight["lr"]})
    configs += [in_flight, *run_trials(after, range(5, 8))]

    assert configs == expected
    assert [t.state.name for t in after.study.trials] == ["COMPLETE"] * 8
    assert [t.values for t in after.study.trials] == [t.values for t in uninterrupted.study.trials]


@pytest.mark.parametrize("sampler", sorted(SAMPLER_CASES))
def test_optuna_sampler_starts_from_the_given_points(sampler: str) -> None:
    space = SAMPLER_CASES[sampler].space
    values = {"lr": 0.01, "momentum": 0.5, "width": 64, "ratio": 0.6, "batch": 64, "hidden": 8, "layers": 2}
    point = {k: v for k, v in (values | {"kernel": [5, 5], "act": "gelu"}).items() if k in space}
    configs = run_trials(optuna_searcher(sampler, points_to_evaluate=[point]), range(2))

    assert configs[0] == {**point, "epochs": 3}
    assert configs[1] != configs[0]


@pytest.mark.parametrize("sampler", sorted(SAMPLER_CASES))
def test_optuna_conditional_space_is_flat_per_trial_or_refused_at_validation(
    sampler: str, write_experiment: Callable[..., Path]
) -> None:
    from tunefleet.config import load_experiment
    from tunefleet.errors import ConfigError

    path = write_experiment(
        yaml.safe_dump(
            {
                "trainable": "tests.support:quadratic",
                "metric": "score",
                "mode": "max",
                "max_iterations": 1,
                "search": {
                    "algorithm": "optuna",
                    "sampler": sampler,
                    sampler: SAMPLER_CASES[sampler].options,
                },
                "space": CONDITIONAL_SPACE,
            }
        )
    )
    if not SAMPLER_CASES[sampler].conditional:
        with pytest.raises(ConfigError) as caught:
            load_experiment(path)
        keys = {p.key for p in caught.value.problems}
        assert keys & {"search.sampler", "space.optimizer.conditional"}, caught.value.problems
        return
    load_experiment(path)
    configs = run_trials(optuna_searcher(sampler, space=CONDITIONAL_SPACE), range(12))
    assert {c["optimizer"] for c in configs} == {"sgd", "adam", "adamw"}
    for config in configs:
        assert set(config) == {"lr", "optimizer", "beta1", "decay"}
        if config["optimizer"] == "sgd":
            assert config["beta1"] is None and config["decay"] is None
        elif config["optimizer"] == "adam":
            assert 0.85 <= config["beta1"] <= 0.95 and config["decay"] is None
        else:
            assert 0.5 <= config["beta1"] <= 0.6 and config["decay"] in (0.0, 0.01)


@pytest.mark.parametrize("sampler", sorted(s for s, c in SAMPLER_CASES.items() if c.multi_objective))
def test_optuna_multi_objective_sampler_tells_the_study_every_objective(sampler: str) -> None:
    searcher = optuna_searcher(sampler, objectives=(["score", "loss"], ["max", "min"]))
    configs = run_trials(searcher, range(8), concurrent=2)

    assert [d.name for d in searcher.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    by_number = sorted(searcher.study.trials, key=lambda t: t.number)
    assert [t.values for t in by_number] == [[score(c), c["lr"]] for c in configs]


def test_optuna_diverged_or_failed_trials_are_the_worst_or_failed_in_the_study() -> None:
    searcher = optuna_searcher("tpe", objectives=(["score", "loss"], ["max", "min"]))
    for trial_id in ("nan", "missing", "error"):
        searcher.suggest(trial_id)
    searcher.on_trial_complete("nan", {"score": float("nan"), "loss": 0.5})
    searcher.on_trial_complete("missing", {"score": 1.0})
    searcher.on_trial_complete("error", None, error=True)

    trials = sorted(searcher.study.trials, key=lambda t: t.number)
    assert trials[0].state.name == "COMPLETE" and trials[0].values == [-math.inf, 0.5]
    assert [t.state.name for t in trials[1:]] == ["FAIL", "FAIL"]
