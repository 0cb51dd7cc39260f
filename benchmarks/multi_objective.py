"""MOASHA against multi-objective FIFO on MNIST-1D, accuracy against parameter count.

Both arms sweep the same space of MLPs (width, depth, learning rate, dropout) from the same
random stream of configurations (Ray's ``BasicVariantGenerator`` seeded per repetition), with the
same budget of trial-iterations: FIFO runs ``budget / max_iterations`` trials to the end; MOASHA
(:mod:`tunefleet.schedulers.moasha`, grace period 1, reduction factor 3) starts trials until the
sweep has used the budget, stopping those not in the top third of a rung by non-dominated sorting.
Quality: the hypervolume of every reported ``(val_accuracy, params)`` (each iteration's model is
one the sweep could keep) against the reference point (accuracy 0, parameters of the largest model
in the space), divided by the reference box (accuracy 1 x those parameters), so 1 is a perfect model
of no size; also after the first third and two thirds of the budget's results, and of each
trial's last result only. Compute: trial-iterations and trial-seconds (the sum of the
trials' ``time_total_s``: machine-dependent, the load is recorded).

The sweeps run through ``ray.tune.Tuner`` with tunefleet's trainable (``Mnist1dMLP``) and its
scheduler directly: this runs without the multi-objective experiment file's validation.

    python -m benchmarks.multi_objective [--seeds 3] [--smoke]
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from benchmarks.common import Report, argument_parser  # sets RAY_AUTH_MODE before Ray is imported
from benchmarks.sweeps import local_ray, scratch_storage
from tunefleet.objectives import hypervolume, objectives_of, pareto_front
from tunefleet.trainables.cost import count_parameters
from tunefleet.trainables.models import MLP

__all__ = ["OBJECTIVES", "main", "reference_point", "run_arm"]

OBJECTIVES = objectives_of(["val_accuracy", "params"], ["max", "min"])
HIDDEN = (8, 256)
LAYERS = (1, 3)


def reference_point() -> tuple[float, float]:
    """Accuracy 0 and the parameter count of the largest MLP of the space."""
    largest = MLP(40, [HIDDEN[1]] * LAYERS[1], 10)
    return 0.0, float(count_parameters(largest))


def _space(max_iterations: int, steps: int) -> dict[str, Any]:
    return {
        "hidden": tune.lograndint(HIDDEN[0], HIDDEN[1] + 1),
        "hidden_layers": tune.randint(LAYERS[0], LAYERS[1] + 1),
        "lr": tune.loguniform(1e-4, 3e-2),
        "dropout": tune.uniform(0.0, 0.3),
        "steps_per_iteration": steps,
        "max_iterations": max_iterations,
    }


class _Budget(tune.Stopper):
    """A Tune stopper: each trial ends at ``max_iterations``; the sweep once it used ``budget``
    trial-iterations (results in flight at that moment still count)."""

    def __init__(self, budget: int, max_iterations: int) -> None:
        self.budget, self.max_iterations, self.used = budget, max_iterations, 0

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.used += 1
        return bool(result["training_iteration"] >= self.max_iterations)

    def stop_all(self) -> bool:
        return self.used >= self.budget


def run_arm(
    scheduler_name: str, seed: int, budget: int, max_iterations: int, steps: int, storage: Path
) -> pd.DataFrame:
    """One sweep; every result of every trial (``trial_id``, ``training_iteration``,
    ``time_total_s``, ``timestamp``, the metrics)."""
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    from tunefleet.schedulers.multi_objective_asha import MultiObjectiveAsha
    from tunefleet.trainables.tasks import Mnist1dMLP

    if scheduler_name == "moasha":
        scheduler: Any = MultiObjectiveAsha(
            OBJECTIVES, max_t=max_iterations, grace_period=1, reduction_factor=3.0
        )
        num_samples = budget  # more than can run: the budget ends the sweep
    else:
        scheduler, num_samples = FIFOScheduler(), budget // max_iterations
    tuner = tune.Tuner(
        tune.with_resources(Mnist1dMLP, {"cpu": 1}),
        param_space=_space(max_iterations, steps),
        tune_config=tune.TuneConfig(
            metric="val_accuracy",
            mode="max",
            scheduler=scheduler,
            search_alg=BasicVariantGenerator(random_state=seed),
            num_samples=num_samples,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{scheduler_name}-{seed}",
            storage_path=str(storage),
            stop=_Budget(budget, max_iterations),
            verbose=0,
        ),
    )
    grid = tuner.fit()
    frames = []
    for result in grid:
        if result.error is not None:
            raise RuntimeError(f"a trial failed: {result.error}")
        frame = result.metrics_dataframe
        if frame is not None and len(frame):
            frames.append(
                frame[
                    [
                        "trial_id",
                        "training_iteration",
                        "time_total_s",
                        "timestamp",
                        "val_accuracy",
                        "params",
                        "latency_ms",
                    ]
                ]
            )
    return pd.concat(frames, ignore_index=True)


def arm_figures(results: pd.DataFrame, budget: int) -> dict[str, Any]:
    """Hypervolume (at the end, and after 1/3 and 2/3 of the budget) and compute of one sweep."""
    reference = reference_point()
    box = (1.0 - reference[0]) * reference[1]

    def volume(rows: pd.DataFrame) -> float:
        return (
            hypervolume(rows[["val_accuracy", "params"]].to_numpy(dtype=float), OBJECTIVES, reference) / box
        )

    ordered = results.sort_values(["timestamp", "training_iteration"], kind="stable").reset_index(drop=True)
    last = results.sort_values("training_iteration").groupby("trial_id").tail(1)
    points = results[["val_accuracy", "params"]].to_numpy(dtype=float)
    return {
        "hypervolume": volume(results),
        "hypervolume_third": volume(ordered.iloc[: round(budget / 3)]),
        "hypervolume_two_thirds": volume(ordered.iloc[: round(2 * budget / 3)]),
        "hypervolume_last_results": volume(last),
        "trials": len(last),
        "front_size": len(pareto_front(points, OBJECTIVES)),
        "best_val_accuracy": float(results["val_accuracy"].max()),
        "trial_iterations": len(results),
        "trial_seconds": float(last["time_total_s"].sum()),
        "latency_ms_median": float(results["latency_ms"].median()),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-iterations", type=int, default=9)
    parser.add_argument("--trials", type=int, default=12, help="FIFO's trials; the budget is trials x max")
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps per iteration")
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.max_iterations, args.trials, args.steps = 1, 3, 2, 2
    report = Report("multi_objective", smoke=args.smoke, output=args.output, argv=argv)
    budget = args.trials * args.max_iterations
    report.settings = {
        "objectives": "val_accuracy max, params min",
        "reference_point": list(reference_point()),
        "space": {
            "hidden": list(HIDDEN),
            "hidden_layers": list(LAYERS),
            "lr": [1e-4, 3e-2],
            "dropout": [0, 0.3],
        },
        "budget_trial_iterations": budget,
        "max_iterations": args.max_iterations,
        "steps_per_iteration": args.steps,
        "moasha": {"grace_period": 1, "reduction_factor": 3},
        "seeds": args.seeds,
        "cpus": args.cpus,
    }
    storage = scratch_storage()
    runs: dict[str, list[dict[str, Any]]] = {"fifo": [], "moasha": []}
    table = report.table(
        "MOASHA vs FIFO at equal trial-iterations (hypervolume / reference box)",
        [
            "seed",
            "scheduler",
            "hypervolume",
            "at 1/3",
            "at 2/3",
            "last results",
            "trials",
            "front",
            "trial-iters",
            "trial-s",
        ],
    )
    try:
        with local_ray(num_cpus=args.cpus, num_gpus=0):
            for seed in range(args.seeds):
                for arm in ("fifo", "moasha"):
                    report.log(f"seed {seed}: {arm}")
                    figures = arm_figures(
                        run_arm(arm, seed, budget, args.max_iterations, args.steps, storage), budget
                    )
                    runs[arm].append(figures)
                    table.append(
                        [
                            seed,
                            arm,
                            figures["hypervolume"],
                            figures["hypervolume_third"],
                            figures["hypervolume_two_thirds"],
                            figures["hypervolume_last_results"],
                            figures["trials"],
                            figures["front_size"],
                            figures["trial_iterations"],
                            figures["trial_seconds"],
                        ]
                    )
                    report.save()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    report.figures = {
        arm: {
            "runs": figures,
            **{
                f"median_{key}": statistics.median(f[key] for f in figures)
                for key in (
                    "hypervolume",
                    "hypervolume_third",
                    "hypervolume_two_thirds",
                    "hypervolume_last_results",
                    "trial_iterations",
                    "trial_seconds",
                    "trials",
                )
            },
        }
        for arm, figures in runs.items()
    }
    report.note(
        "trial-seconds depend on the machine and its load (see load_average_*); hypervolume and "
        "trial-iterations do not"
    )
    return report.finish()


if __name__ == "__main__":
    main()
