"""Search in parallel: how much do searchers lose when several trials run at once?

Every searcher is driven through Ray Tune's ``Searcher`` API with simulated concurrency, the same
protocol for all: keep ``c`` trials in flight (``suggest`` until ``c`` are pending), complete the
oldest (``on_trial_complete`` with its value), repeat until N evaluations; ``c = 1`` is sequential.
This is what Ray Tune does with ``c`` trial slots and trials of equal length. The searchers are
built by ``tunefleet.search.build_search`` from the YAML space (``parse_space``), so the
translation layers are the real ones:

- ``hyperopt``: ``search.algorithm: hyperopt`` (Ray's ``HyperOptSearch``, 20 random points first);
- ``optuna-tpe`` / ``optuna-tpe-liar``: ``algorithm: optuna, sampler: tpe`` without and with
  ``constant_liar`` (Optuna 5's default is with; multivariate TPE, 10 random points first);
- ``optuna-gp``, ``optuna-cmaes``: the Gaussian-process and CMA-ES samplers (defaults);
- ``random``: ``sampler: random``.

Part 1: Branin (minimum 0.397887) and Hartmann-6 (minimum -3.32237), the best value after 50, 100
and 200 evaluations at 1, 2 and 8 concurrent trials, median over seeds. Part 2 (``--zdt``): the
bi-objective ZDT1 with 5 variables, the hypervolume (``tunefleet.objectives.hypervolume``, reference
point (1.1, 1.1); the true front's is 0.8767) of nsga2, tpe, gp and random at equal budgets.

Quality only: the figures do not depend on the machine's load (the seconds per proposal do; they
are recorded but not compared).

    python -m benchmarks.parallel_search                         # everything (hours: GP is slow)
    python -m benchmarks.parallel_search --methods optuna-gp --evaluations 100
    python -m benchmarks.parallel_search --zdt --methods nsga2,tpe,random
    python -m benchmarks.parallel_search --smoke                 # 2 seeds, 10 evaluations, c in 1, 4
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.common import Report, argument_parser, summarize
from benchmarks.objectives import OBJECTIVES, Objective, zdt1, zdt1_front_hypervolume

NAME = "parallel_search"
METRIC = "value"

#: Method name -> the ``search:`` keys that build it.
METHODS: dict[str, dict[str, Any]] = {
    "hyperopt": {"algorithm": "hyperopt"},
    "optuna-tpe": {"algorithm": "optuna", "sampler": "tpe", "tpe": {"constant_liar": False}},
    "optuna-tpe-liar": {"algorithm": "optuna", "sampler": "tpe", "tpe": {"constant_liar": True}},
    "optuna-gp": {"algorithm": "optuna", "sampler": "gp"},
    "optuna-cmaes": {"algorithm": "optuna", "sampler": "cmaes"},
    "random": {"algorithm": "optuna", "sampler": "random"},
}
#: Multi-objective method name -> Optuna sampler.
ZDT_METHODS = {"nsga2": "nsga2", "tpe": "tpe", "gp": "gp", "random": "random"}
ZDT_VARIABLES = 5
ZDT_REFERENCE = (1.1, 1.1)


def searcher_for(method: dict[str, Any], space: dict[str, Any], seed: int, metric: Any, mode: Any) -> Any:
    """The searcher tunefleet builds for ``search: {**method, seed}`` on the YAML ``space``."""
    from tunefleet.search import SearchSettings, build_search
    from tunefleet.search.spaces import parse_space

    settings = SearchSettings(**method, seed=seed)  # type: ignore[arg-type]
    searcher, _ = build_search(settings, parse_space(space, NAME), metric, mode)
    return searcher


def drive(
    searcher: Any, evaluate: Callable[[dict[str, Any]], Any], evaluations: int, concurrency: int
) -> tuple[list[Any], float]:
    """Keep ``concurrency`` trials in flight, completing the oldest, until ``evaluations`` are done.

    Returns:
        The values in the order they completed, and the seconds spent in ``suggest``.
    """
    pending: deque[tuple[str, dict[str, Any]]] = deque()
    values: list[Any] = []
    suggested, suggest_s = 0, 0.0
    while len(values) < evaluations:
        while suggested < evaluations and len(pending) < concurrency:
            trial_id = f"trial_{suggested:05d}"
            start = time.perf_counter()
            config = searcher.suggest(trial_id)
            suggest_s += time.perf_counter() - start
            pending.append((trial_id, config))
            suggested += 1
        trial_id, config = pending.popleft()
        value = evaluate(config)
        result = value if isinstance(value, dict) else {METRIC: value}
        searcher.on_trial_complete(trial_id, result=result)
        values.append(value)
    return values, suggest_s


def best_after(values: Sequence[float], budgets: Sequence[int]) -> dict[int, float]:
    best = np.minimum.accumulate(np.asarray(values, dtype=float))
    return {b: float(best[b - 1]) for b in budgets if b <= len(best)}


def run_single(
    report: Report,
    objectives: Sequence[str],
    methods: Sequence[str],
    concurrencies: Sequence[int],
    budgets: Sequence[int],
    seeds: int,
    max_evaluations: dict[str, int],
) -> dict[str, Any]:
    """Part 1: best value after each budget, per objective, method and concurrency."""
    figures: dict[str, Any] = {}
    for objective_name in objectives:
        objective: Objective = OBJECTIVES[objective_name]
        table = report.table(
            f"{objective.name} (minimum {objective.minimum}): best value after N evaluations, "
            "median [interquartile range] over seeds",
            ["method", "concurrent", "seeds", *(f"N={b}" for b in budgets), "suggest s/trial"],
        )
        figures[objective.name] = {}
        for method in methods:
            evaluations = min(budgets[-1], max_evaluations.get(method, budgets[-1]))
            for c in concurrencies:
                curves, seconds = [], []
                for seed in range(seeds):
                    report.log(f"{objective.name}: {method}, {c} concurrent, seed {seed}")
                    searcher = searcher_for(METHODS[method], objective.space(), seed, METRIC, "min")
                    values, suggest_s = drive(searcher, objective, evaluations, c)
                    curves.append(best_after(values, budgets))
                    seconds.append(suggest_s / evaluations)
                at = {b: summarize([c_[b] for c_ in curves]) for b in budgets if b <= evaluations}
                table.append(
                    [method, c, seeds, *(at.get(b, "-") for b in budgets), float(np.median(seconds))]
                )
                figures[objective.name][f"{method} c={c}"] = {
                    "best_after": {str(b): s for b, s in at.items()},
                    "curves": [[curve[b] for b in budgets if b in curve] for curve in curves],
                    "suggest_s_per_trial": float(np.median(seconds)),
                }
    return figures


def run_zdt(
    report: Report, methods: Sequence[str], concurrencies: Sequence[int], budgets: Sequence[int], seeds: int
) -> dict[str, Any]:
    """Part 2: the hypervolume of ZDT1's trials after each budget."""
    from tunefleet.objectives import hypervolume, objectives_of

    objectives = objectives_of(["f1", "f2"], ["min", "min"])
    names = [f"x{i + 1}" for i in range(ZDT_VARIABLES)]
    space = {n: {"uniform": [0.0, 1.0]} for n in names}
    optimum = zdt1_front_hypervolume(ZDT_REFERENCE)

    def evaluate(config: dict[str, Any]) -> dict[str, float]:
        f1, f2 = zdt1(*(float(config[n]) for n in names))
        return {"f1": f1, "f2": f2}

    table = report.table(
        f"ZDT1, {ZDT_VARIABLES} variables: hypervolume after N evaluations (reference {ZDT_REFERENCE}, "
        f"true front {optimum:.4f}), median [interquartile range] over seeds",
        ["sampler", "concurrent", "seeds", *(f"N={b}" for b in budgets), "suggest s/trial"],
    )
    figures: dict[str, Any] = {"true_front_hypervolume": optimum}
    for method in methods:
        search = {"algorithm": "optuna", "sampler": ZDT_METHODS[method]}
        for c in concurrencies:
            per_budget: dict[int, list[float]] = {b: [] for b in budgets}
            seconds = []
            for seed in range(seeds):
                report.log(f"zdt1: {method}, {c} concurrent, seed {seed}")
                searcher = searcher_for(search, space, seed, ["f1", "f2"], ["min", "min"])
                values, suggest_s = drive(searcher, evaluate, budgets[-1], c)
                points = [[v["f1"], v["f2"]] for v in values]
                for b in budgets:
                    per_budget[b].append(hypervolume(points[:b], objectives, ZDT_REFERENCE))
                seconds.append(suggest_s / budgets[-1])
            at = {b: summarize(v) for b, v in per_budget.items()}
            table.append([method, c, seeds, *at.values(), float(np.median(seconds))])
            figures[f"{method} c={c}"] = {
                "hypervolume_after": {str(b): s for b, s in at.items()},
                "runs": {str(b): v for b, v in per_budget.items()},
            }
    return figures


def _ints(text: str) -> list[int]:
    return sorted(int(x) for x in text.split(","))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", default="50,100,200", help="evaluation counts to report")
    parser.add_argument("--concurrency", default="1,2,8", help="trials in flight")
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--methods", default=None, help=f"default: {', '.join(METHODS)} (--zdt: nsga2, ...)")
    parser.add_argument(
        "--evaluations", default="", help="METHOD=N,...: fewer evaluations for slow methods (optuna-gp=100)"
    )
    parser.add_argument("--zdt", action="store_true", help="part 2 (ZDT1 hypervolume) instead of part 1")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.budgets, args.concurrency = 2, "5,10", "1,4"
    budgets, concurrencies = _ints(args.budgets), _ints(args.concurrency)
    capped = {m: int(n) for m, n in (item.split("=") for item in args.evaluations.split(",") if item)}
    report = Report(NAME + ("_zdt" if args.zdt else ""), smoke=args.smoke, output=args.output)
    report.settings = {
        "seeds": args.seeds,
        "budgets": budgets,
        "concurrency": concurrencies,
        "evaluations_capped": capped,
        "protocol": "keep c trials in flight: suggest until c are pending, complete the oldest, repeat",
    }
    if args.zdt:
        methods = args.methods.split(",") if args.methods else list(ZDT_METHODS)
        report.figures = run_zdt(report, methods, concurrencies, budgets, args.seeds)
    else:
        methods = args.methods.split(",") if args.methods else list(METHODS)
        report.figures = run_single(
            report, args.objectives.split(","), methods, concurrencies, budgets, args.seeds, capped
        )
    return report.finish()


if __name__ == "__main__":
    main()
