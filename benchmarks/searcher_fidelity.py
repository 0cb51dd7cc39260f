"""Searcher fidelity: does tunefleet's Hyperopt path find minima as well as Hyperopt's own ``fmin``?

On Branin (minimum 0.397887) and Hartmann-6 (minimum -3.32237), the best value found after
50, 100 and 200 evaluations, over several seeds (median and spread), for:

- ``tunefleet hyperopt``: the real translation layer: the YAML ``space:`` parsed by
  ``tunefleet.search.spaces.parse_space``, the searcher built by ``tunefleet.search.build_search``
  (``FlatHyperOptSearch``, Ray's ``HyperOptSearch`` underneath), driven through the
  ``Searcher`` API exactly as Ray Tune drives it with one trial at a time:
  ``suggest(trial_id)``, then ``on_trial_complete(trial_id, result)``;
- ``tunefleet via Tune`` (``--tune-seeds``, off in ``--smoke``): the same, end to end through
  ``run_experiment`` and Ray Tune (``max_concurrent: 1``, a function trainable), fewer seeds as
  it is slower;
- ``hyperopt fmin TPE``: ``hyperopt.fmin(algo=tpe.suggest)`` on the same ``hp.uniform`` box;
- ``random``: ``hyperopt.fmin(algo=rand.suggest)``, the floor.

TPE starts with 20 random points in both (Hyperopt's and Ray's default), gamma 0.25. Seeds do
not give the same random streams in the two libraries, so compare the distributions over seeds.

    python -m benchmarks.searcher_fidelity            # 10 seeds, 50/100/200 evaluations
    python -m benchmarks.searcher_fidelity --smoke    # 2 seeds, 5/10 evaluations
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.common import Report, argument_parser, summarize
from benchmarks.objectives import OBJECTIVES, Objective

NAME = "searcher_fidelity"
METRIC = "value"

History = list[float]


def _best_so_far(values: Sequence[float]) -> list[float]:
    return list(np.minimum.accumulate(np.asarray(values, dtype=float)))


def run_tunefleet_searcher(objective: Objective, evaluations: int, seed: int) -> History:
    """tunefleet's space and searcher, driven as Ray Tune drives a ``Searcher`` (one trial at a time)."""
    from tunefleet.config.schema import SearchSettings
    from tunefleet.search import build_search
    from tunefleet.search.spaces import parse_space

    space = parse_space(objective.space(), "searcher_fidelity")
    settings = SearchSettings(algorithm="hyperopt", seed=seed)  # type: ignore[call-arg]
    searcher, _ = build_search(settings, space, METRIC, "min")
    values = []
    for i in range(evaluations):
        trial_id = f"trial_{i:05d}"
        config = searcher.suggest(trial_id)
        value = objective(config)
        searcher.on_trial_result(trial_id, {METRIC: value})
        searcher.on_trial_complete(trial_id, result={METRIC: value})
        values.append(value)
    return values


def run_fmin(objective: Objective, evaluations: int, seed: int, algorithm: str) -> History:
    """Hyperopt's own ``fmin`` with TPE or random search on the same box."""
    from hyperopt import STATUS_OK, Trials, fmin, hp, rand, tpe

    space = {n: hp.uniform(n, lo, hi) for n, (lo, hi) in zip(objective.names, objective.bounds, strict=True)}
    trials = Trials()
    fmin(
        lambda config: {"loss": objective(config), "status": STATUS_OK},
        space,
        algo={"tpe": tpe.suggest, "random": rand.suggest}[algorithm],
        max_evals=evaluations,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return [float(x) for x in trials.losses()]


def run_through_tune(objective: Objective, evaluations: int, seed: int) -> History:
    """The whole tunefleet path: a YAML, ``run_experiment``, Ray Tune, the experiment directory."""
    from rich.console import Console

    from tunefleet import load_experiment, load_results, run_experiment

    with tempfile.TemporaryDirectory(prefix="tf-fidelity-") as tmp:
        path = Path(tmp) / "fidelity.yaml"
        experiment = {
            "name": f"fidelity-{objective.name}-{seed}",
            "trainable": "benchmarks.objectives:objective_trial",
            "metric": METRIC,
            "mode": "min",
            "num_samples": evaluations,
            "max_iterations": 1,
            "search": {"algorithm": "hyperopt", "seed": seed, "max_concurrent": 1},
            "checkpoint": {"frequency": 0, "at_end": False},
            "storage": tmp,
            "space": {"objective": objective.name, **objective.space()},
        }
        path.write_text(yaml.safe_dump(experiment, sort_keys=False))
        outcome = run_experiment(load_experiment(path, []), console=Console(stderr=True, quiet=True))
        trials = load_results(outcome.path).trials()
    # One trial at a time: evaluation order is the order TPE proposed them.
    return [float(v) for v in trials.sort_values("evaluated_at")["value"]]


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="50,100,200", help="evaluation counts to report")
    parser.add_argument(
        "--tune-seeds", type=int, default=3, help="seeds of the end-to-end Tune arm (0: skip)"
    )
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.budgets, args.tune_seeds = 2, "5,10", 0
    budgets = sorted(int(b) for b in args.budgets.split(","))
    evaluations = budgets[-1]
    report = Report(NAME, smoke=args.smoke, output=args.output)
    report.settings = {
        "seeds": args.seeds,
        "tune_seeds": args.tune_seeds,
        "budgets": budgets,
        "tpe": {"n_initial_points": 20, "gamma": 0.25},
    }

    methods: dict[str, tuple[Callable[[Objective, int, int], History], int]] = {
        "tunefleet hyperopt": (run_tunefleet_searcher, args.seeds),
        "hyperopt fmin TPE": (lambda o, n, s: run_fmin(o, n, s, "tpe"), args.seeds),
        "random (fmin rand)": (lambda o, n, s: run_fmin(o, n, s, "random"), args.seeds),
    }
    if args.tune_seeds:
        methods["tunefleet via Tune"] = (run_through_tune, args.tune_seeds)

    figures: dict[str, Any] = {}
    for objective_name in args.objectives.split(","):
        objective = OBJECTIVES[objective_name]
        table = report.table(
            f"{objective.name} (minimum {objective.minimum}): best value after N evaluations, "
            "median [interquartile range] over seeds",
            ["method", "seeds", *(f"N={b}" for b in budgets), f"median gap to optimum at N={evaluations}"],
        )
        figures[objective.name] = {}
        for method, (run, seeds) in methods.items():
            curves = []
            for seed in range(seeds):
                report.log(f"{objective.name}: {method}, seed {seed}")
                curves.append(_best_so_far(run(objective, evaluations, seed)))
            at = {b: summarize([c[b - 1] for c in curves]) for b in budgets}
            table.append([method, seeds, *at.values(), at[evaluations].median - objective.minimum])
            figures[objective.name][method] = {
                "best_after": {str(b): s for b, s in at.items()},
                "curves": [[c[b - 1] for b in budgets] for c in curves],
            }
        if "tunefleet via Tune" in methods:
            # Same seed, same proposals: driving the searcher directly is exactly what Tune does.
            through_tune = figures[objective.name]["tunefleet via Tune"]["curves"]
            direct = figures[objective.name]["tunefleet hyperopt"]["curves"][: len(through_tune)]
            figures[objective.name]["tune_reproduces_searcher_api"] = through_tune == direct
        tf = figures[objective.name]["tunefleet hyperopt"]["best_after"][str(evaluations)]
        ho = figures[objective.name]["hyperopt fmin TPE"]["best_after"][str(evaluations)]
        figures[objective.name]["gap_ratio_tunefleet_over_fmin"] = (tf.median - objective.minimum) / max(
            ho.median - objective.minimum, 1e-12
        )
    report.figures = figures
    report.note(
        "gap ratio (tunefleet hyperopt / fmin TPE, median gap to the optimum at the largest N): "
        + ", ".join(f"{k} {v['gap_ratio_tunefleet_over_fmin']:.3g}" for k, v in figures.items())
    )
    report.finish()


if __name__ == "__main__":
    main()
