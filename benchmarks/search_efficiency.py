"""Search efficiency on a real task: how fast each strategy finds a good MNIST-1D CNN (issue 7, item 3).

Part ``efficiency``: the same sweep (``--trials`` trials, ``--iterations`` iterations of 100 steps at
most per trial, the quickstart's search space, ``--concurrency`` trials at once) with FIFO + random
search, FIFO + Hyperopt TPE, ASHA + random and ASHA + Hyperopt, each over ``--seeds`` search seeds.
For each sweep: the test accuracy of the best trial (chosen by validation accuracy, as tunefleet
ranks), the trial-iterations spent, the wall time, and the wall time and trial-iterations until some
trial first reported a validation accuracy of at least 92% and 94% (the paper's CNN figure). These
are compared with the cost of training the best configuration once (its own full-budget run): the
ASHA paper finds good configurations in under twice that.

Part ``tune``: a generous Hyperopt + ASHA sweep for the MNIST-1D MLP over the training knobs and the
model's size (for the CNN, the best of all the efficiency sweeps' trials, which search the same
model; ``--no-cnn-from-efficiency`` gives it a sweep of its own). Then the winning configuration
and the trainable's defaults are retrained with ``--final-seeds`` seeds at the full budget and
compared with the paper's hand-set baselines (MLP 68%, CNN 94% test accuracy). The winners are
written as experiment files ``mnist1d_{mlp,cnn}_best.yaml`` (fixed configurations, a grid over the
seed) with the measured test accuracy in a comment.

    python benchmarks/search_efficiency.py               # both parts, 16 cores: about 11 minutes
    python benchmarks/search_efficiency.py --part tune   # one part
    python benchmarks/search_efficiency.py --smoke       # seconds

The JSON keeps the parts' figures under ``efficiency`` and ``tune``; the experiment files go next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tunefleet` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Report, argument_parser, summarize
from benchmarks.sweeps import Sweep, local_ray, run_sweep, scratch_storage

#: Validation-accuracy targets of the efficiency part (0.94: the paper's CNN).
TARGETS = (0.92, 0.94)
#: Test accuracies of the MNIST-1D paper's hand-set models (Greydanus 2020, table 1).
PAPER_BASELINES = {"mnist1d_mlp": 0.68, "mnist1d_cnn": 0.94}

#: The quickstart's search space (experiments/quickstart.yaml), but dropout up to 0.5 (quickstart: 0.3).
CNN_SPACE: dict[str, Any] = {
    "lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "batch_size": {"choice": [32, 64, 128]},
    "optimizer": {"choice": ["sgd", "momentum", "adam"]},
    "weight_decay": {"loguniform": [1.0e-6, 1.0e-2]},
    "dropout": {"uniform": [0.0, 0.5]},
    "lr_schedule": {"choice": ["constant", "step", "cosine"]},
}
_TRAINING_KNOBS: dict[str, Any] = {
    "lr": {"loguniform": [1.0e-4, 3.0e-2]},
    "batch_size": {"choice": [32, 64, 128]},
    "optimizer": {"choice": ["momentum", "adam", "adamw"]},
    "weight_decay": {"loguniform": [1.0e-6, 1.0e-1]},
    "dropout": {"uniform": [0.0, 0.6]},
    "lr_schedule": {"choice": ["constant", "step", "cosine"]},
    "activation": {"choice": ["relu", "gelu", "leaky_relu"]},
    "init": {"choice": ["default", "he"]},
}
#: Generous spaces of the tuning part: the training knobs plus the model's size.
TUNE_SPACES: dict[str, dict[str, Any]] = {
    "mnist1d_cnn": {**_TRAINING_KNOBS, "channels": {"choice": [25, 32, 48]}},
    "mnist1d_mlp": {
        **_TRAINING_KNOBS,
        "hidden": {"choice": [100, 256, 512]},
        "hidden_layers": {"choice": [1, 2]},
    },
}

METHODS: dict[str, tuple[str, str]] = {
    "fifo+random": ("random", "fifo"),
    "fifo+hyperopt": ("hyperopt", "fifo"),
    "asha+random": ("random", "asha"),
    "asha+hyperopt": ("hyperopt", "asha"),
}


def sweep_spec(
    name: str,
    trainable: str,
    space: dict[str, Any],
    args: argparse.Namespace,
    *,
    algorithm: str,
    scheduler: str,
    seed: int,
    num_samples: int,
    max_iterations: int,
) -> dict[str, Any]:
    """An experiment file for one sweep."""
    search: dict[str, Any] = {"algorithm": algorithm, "max_concurrent": args.concurrency}
    if algorithm != "grid":
        search["seed"] = seed
    if algorithm == "hyperopt":
        search["n_initial_points"] = min(args.concurrency, num_samples)
    sched: dict[str, Any] = {"type": scheduler}
    if scheduler == "asha":
        sched.update(grace_period=min(args.grace_period, max_iterations), reduction_factor=3)
    return {
        "name": name,
        "trainable": trainable,
        "metric": "val_accuracy",
        "mode": "max",
        "num_samples": num_samples,
        "max_iterations": max_iterations,
        "search": search,
        "space": {**space, "steps_per_iteration": args.steps},
        "scheduler": sched,
        "resources": {"cpu": 1, "gpu": args.gpu},
        "checkpoint": {"frequency": 0, "at_end": False},
    }


# ---------------------------------------------------------------------------- reading a sweep


def with_wall_time(sweep: Sweep) -> pd.DataFrame:
    """Every result with ``t``: seconds since the sweep started when it was reported.

    Ray stamps results with whole seconds (``timestamp``) and each trial's own clock
    (``time_total_s``); a trial's start is estimated from all its results, which makes ``t``
    accurate to a fraction of a second.
    """
    frame = sweep.results.copy()
    start = (frame["timestamp"] + 0.5 - frame["time_total_s"]).groupby(frame["trial_id"]).transform("mean")
    frame["t"] = (start + frame["time_total_s"] - sweep.started).clip(lower=0)
    return frame.sort_values("t", kind="stable").reset_index(drop=True)


def best_trial(results: pd.DataFrame) -> pd.Series:
    """The last result of the trial whose last validation accuracy is highest (tunefleet's ranking)."""
    last = results.sort_values("training_iteration").groupby("trial_id").tail(1)
    return last.loc[last["val_accuracy"].idxmax()]


def sweep_figures(sweep: Sweep, max_iterations: int) -> dict[str, Any]:
    """The efficiency figures of one sweep (see the module docstring)."""
    results = with_wall_time(sweep)
    best = best_trial(results)
    full_budget = best["training_iteration"] >= max_iterations
    figures: dict[str, Any] = {
        "wall_s": sweep.wall_s,
        "trial_iterations": len(results),
        "trials": sweep.num_trials,
        "best_val_accuracy": float(best["val_accuracy"]),
        "best_test_accuracy": float(best["test_accuracy"]),
        "best_config": {k.removeprefix("config/"): best[k] for k in best.index if k.startswith("config/")},
        # Training the winner once, alone in its slot: its full-budget run within this sweep.
        "best_single_run_s": float(best["time_total_s"]) if full_budget else None,
    }
    for target in TARGETS:
        hit = results[results["val_accuracy"] >= target]
        key = f"{round(target * 100)}"
        if hit.empty:
            figures.update({f"t_{key}_s": None, f"iters_{key}": None, f"test_at_{key}": None})
            continue
        first = hit.iloc[0]
        figures[f"t_{key}_s"] = float(first["t"])
        figures[f"iters_{key}"] = int((results["t"] <= first["t"]).sum())
        figures[f"test_at_{key}"] = float(first["test_accuracy"])
    return figures


# ---------------------------------------------------------------------------- part: efficiency


def median_spread(values: Sequence[float | None]) -> dict[str, Any]:
    """:func:`~benchmarks.common.summarize` of the values that are not None, and ``of``: how many there were.

    A value is None where a sweep never reached a target; ``n`` says how many did.
    """
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0, "of": len(values)}
    return {**summarize(present).as_dict(), "of": len(values)}


def efficiency(args: argparse.Namespace, storage: Path, report: Report) -> dict[str, Any]:
    """Runs every method with every seed; returns per-sweep figures and per-method summaries."""
    sweeps: list[dict[str, Any]] = list(args.previous.get("efficiency", {}).get("sweeps", []))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for method in args.methods:
            algorithm, scheduler = METHODS[method]
            spec = sweep_spec(
                f"eff-{method.replace('+', '-')}-s{seed}",
                "mnist1d_cnn",
                CNN_SPACE,
                args,
                algorithm=algorithm,
                scheduler=scheduler,
                seed=seed,
                num_samples=args.trials,
                max_iterations=args.iterations,
            )
            figures = sweep_figures(run_sweep(spec, storage), args.iterations)
            sweeps.append({"method": method, "seed": seed, **figures})
            report.log(
                f"{method} seed {seed}: best test {figures['best_test_accuracy']:.3f}, "
                f"{figures['trial_iterations']} trial-iterations, {figures['wall_s']:.0f} s"
            )
            report.sections["efficiency"] = {"sweeps": sweeps}
            report.save()  # partial results survive an interrupted run
    # Cost of training the best configuration once: the median full-budget trial time.
    single = [s["best_single_run_s"] for s in sweeps if s["best_single_run_s"]]
    single_run_s = statistics.median(single) if single else None
    summary = {}
    for method in args.methods:
        runs = [s for s in sweeps if s["method"] == method]
        row: dict[str, Any] = {
            key: median_spread([r[key] for r in runs])
            for key in ("best_test_accuracy", "best_val_accuracy", "trial_iterations", "wall_s")
        }
        for target in TARGETS:
            key = f"{round(target * 100)}"
            row[f"t_{key}_s"] = median_spread([r[f"t_{key}_s"] for r in runs])
            row[f"iters_{key}"] = median_spread([r[f"iters_{key}"] for r in runs])
            row[f"t_{key}_over_single_run"] = median_spread(
                [r[f"t_{key}_s"] / single_run_s if r[f"t_{key}_s"] and single_run_s else None for r in runs]
            )
        summary[method] = row
    return {"sweeps": sweeps, "summary": summary, "single_run_s": single_run_s}


def _fmt(stat: dict[str, Any], digits: int = 3) -> str:
    if stat["median"] is None:
        return f"never (0/{stat['of']})"
    spread = f"{stat['min']:.{digits}g}-{stat['max']:.{digits}g}"
    reached = "" if stat["n"] == stat["of"] else f" ({stat['n']}/{stat['of']})"
    return f"{stat['median']:.{digits}g} [{spread}]{reached}"


def efficiency_table(part: dict[str, Any], report: Report) -> None:
    """The per-method summary (median [min-max] over the search seeds)."""
    header = [
        "method",
        "best test acc",
        "trial-iters",
        "wall s",
        "s to 92%",
        "iters to 92%",
        "s to 94%",
        "iters to 94%",
        "s to 94% / one run",
    ]
    rows = [
        [
            method,
            _fmt(s["best_test_accuracy"]),
            _fmt(s["trial_iterations"]),
            _fmt(s["wall_s"]),
            _fmt(s["t_92_s"]),
            _fmt(s["iters_92"]),
            _fmt(s["t_94_s"]),
            _fmt(s["iters_94"]),
            _fmt(s["t_94_over_single_run"], 2),
        ]
        for method, s in part["summary"].items()
    ]
    report.table("efficiency: median [min-max] over search seeds", header).rows.extend(rows)


# ---------------------------------------------------------------------------- part: tune


def tunable_config(best: dict[str, Any], space: dict[str, Any]) -> dict[str, Any]:
    """The searched hyperparameters of a trial's config, as plain YAML values."""
    config = {}
    for key in space:
        value = best[key]
        config[key] = value.item() if hasattr(value, "item") else value
    return config


def retrain(
    model: str,
    label: str,
    constants: dict[str, Any],
    args: argparse.Namespace,
    storage: Path,
    max_iterations: int,
) -> dict[str, Any]:
    """Trains one fixed configuration with ``--final-seeds`` seeds at the full budget."""
    spec = {
        "name": f"final-{model}-{label}",
        "trainable": model,
        "metric": "val_accuracy",
        "mode": "max",
        "max_iterations": max_iterations,
        "search": {"algorithm": "grid", "max_concurrent": args.concurrency},
        "space": {
            **constants,
            "steps_per_iteration": args.steps,
            "seed": {"grid": list(range(args.final_seeds))},
        },
        "scheduler": {"type": "fifo"},
        "resources": {"cpu": 1, "gpu": args.gpu},
        "checkpoint": {"frequency": 0, "at_end": False},
    }
    sweep = run_sweep(spec, storage)
    last = sweep.results.sort_values("training_iteration").groupby("trial_id").tail(1)
    test = [float(v) for v in last["test_accuracy"]]
    return {
        "config": constants,
        "seeds": list(range(args.final_seeds)),
        "test_accuracy": test,
        "test_accuracy_mean": statistics.mean(test),
        "test_accuracy_sd": statistics.stdev(test) if len(test) > 1 else 0.0,
        "val_accuracy_mean": float(last["val_accuracy"].mean()),
        "wall_s": sweep.wall_s,
        "spec": spec,
    }


def best_config_yaml(model: str, result: dict[str, Any], where: str) -> str:
    """The experiment file that retrains the winning configuration (what `tunefleet run` reproduces)."""
    final = result["best"]
    accuracies = ", ".join(f"{a:.3f}" for a in final["test_accuracy"])
    baseline = PAPER_BASELINES[model]
    header = (
        # The first sentence is the description `tunefleet experiments` lists.
        f"# The best {model} configuration found by tuning, retrained with seeds "
        f"{final['seeds'][0]}-{final['seeds'][-1]}.\n"
        f"# Found by benchmarks/search_efficiency.py ({result['search']['description']}, up to "
        f"{result['search']['max_iterations']} iterations of "
        f"{final['spec']['space']['steps_per_iteration']} steps each, chosen by validation accuracy).\n"
        f"#\n"
        f"# Measured test accuracy, retrained with seeds {final['seeds'][0]}-{final['seeds'][-1]}: "
        f"{final['test_accuracy_mean']:.3f} +- {final['test_accuracy_sd']:.3f} (mean +- sd; {accuracies}).\n"
        f"# The trainable's defaults, same budget and seeds: {result['defaults']['test_accuracy_mean']:.3f} "
        f"+- {result['defaults']['test_accuracy_sd']:.3f}. "
        f"The MNIST-1D paper's hand-set model: {baseline:.2f}.\n"
        f"# Measured on {where}.\n"
        f"#\n"
        f"#   tunefleet run experiments/{model}_best.yaml\n\n"
    )
    spec = dict(final["spec"])
    spec["name"] = f"{model}_best"
    spec["resources"] = {"cpu": 1, "gpu": 0}
    spec["checkpoint"] = {"frequency": 0, "at_end": True}
    return header + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)


def tune(
    args: argparse.Namespace, storage: Path, report: Report, efficiency_sweeps: list[dict[str, Any]]
) -> dict[str, Any]:
    """Tunes each model generously, then retrains the winner and the defaults with several seeds.

    With ``--cnn-from-efficiency`` the CNN's winner is the best of the efficiency sweeps instead
    of a sweep of its own (they search the same model, with the quickstart's space).
    """
    info = report.machine
    where = (
        f"{info['gpus'][0].split(',')[0] if info['gpus'] else 'a CPU machine'}, "
        f"{info['cpu_count']} CPU cores ({'GPU' if args.gpu else 'CPU'} trials), "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}"
    )
    models: dict[str, Any] = {}
    for model in args.tune_models:
        if model == "mnist1d_cnn" and args.cnn_from_efficiency and efficiency_sweeps:
            search, winner = efficiency_winner(efficiency_sweeps, args.iterations)
        else:
            search, winner = tune_sweep(model, args, storage)
        budget = search["max_iterations"]
        result: dict[str, Any] = {
            "search": search,
            "best": retrain(model, "best", winner, args, storage, budget),
            "defaults": retrain(model, "defaults", {}, args, storage, budget),
            "paper_baseline": PAPER_BASELINES[model],
        }
        result["gain_over_paper"] = result["best"]["test_accuracy_mean"] - PAPER_BASELINES[model]
        result["gain_over_defaults"] = (
            result["best"]["test_accuracy_mean"] - result["defaults"]["test_accuracy_mean"]
        )
        result["yaml"] = best_config_yaml(model, result, where)
        (report.output.parent / f"{model}_best.yaml").write_text(result["yaml"], encoding="utf-8")
        models[model] = result
        report.log(
            f"{model}: tuned {result['best']['test_accuracy_mean']:.3f} vs defaults "
            f"{result['defaults']['test_accuracy_mean']:.3f} vs paper {PAPER_BASELINES[model]:.2f}"
        )
        report.sections["tune"] = {"models": models}
        report.save()
    return {"models": models}


def efficiency_winner(
    sweeps: list[dict[str, Any]], max_iterations: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The best configuration (by validation accuracy) of all the efficiency sweeps together."""
    best = max(sweeps, key=lambda s: s["best_val_accuracy"])
    search = {
        "description": f"the {sum(s['trials'] for s in sweeps)} trials of {len(sweeps)} efficiency sweeps",
        "trials": sum(s["trials"] for s in sweeps),
        "max_iterations": max_iterations,
        "wall_s": sum(s["wall_s"] for s in sweeps),
        "trial_iterations": sum(s["trial_iterations"] for s in sweeps),
        "best_val_accuracy": best["best_val_accuracy"],
        "best_test_accuracy": best["best_test_accuracy"],
        "from_sweep": {"method": best["method"], "seed": best["seed"]},
        "space": CNN_SPACE,
    }
    return search, tunable_config(best["best_config"], CNN_SPACE)


def tune_sweep(model: str, args: argparse.Namespace, storage: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """One generous Hyperopt + ASHA sweep; returns its figures and the winning configuration."""
    space = TUNE_SPACES[model]
    spec = sweep_spec(
        f"tune-{model}",
        model,
        space,
        args,
        algorithm="hyperopt",
        scheduler="asha",
        seed=0,
        num_samples=args.tune_trials,
        max_iterations=args.tune_iterations,
    )
    sweep = run_sweep(spec, storage)
    figures = sweep_figures(sweep, args.tune_iterations)
    search = {
        "description": f"{args.tune_trials} trials of Hyperopt TPE + ASHA",
        "trials": args.tune_trials,
        "max_iterations": args.tune_iterations,
        "wall_s": sweep.wall_s,
        "trial_iterations": figures["trial_iterations"],
        "best_val_accuracy": figures["best_val_accuracy"],
        "best_test_accuracy": figures["best_test_accuracy"],
        "space": space,
    }
    return search, tunable_config(figures["best_config"], space)


def tune_table(part: dict[str, Any], report: Report) -> None:
    """Tuned against the trainable's defaults and the paper's hand-set model, per model."""
    header = [
        "model",
        "paper",
        "defaults (test, mean+-sd)",
        "tuned (test, mean+-sd)",
        "tuned - paper",
        "trials",
        "trial-iters",
        "search wall s",
    ]
    rows = report.table("tuning: test accuracy of the retrained winner", header).rows
    for model, r in part["models"].items():
        rows.append(
            [
                model,
                r["paper_baseline"],
                f"{r['defaults']['test_accuracy_mean']:.3f} +- {r['defaults']['test_accuracy_sd']:.3f}",
                f"{r['best']['test_accuracy_mean']:.3f} +- {r['best']['test_accuracy_sd']:.3f}",
                f"{r['gain_over_paper']:+.3f}",
                r["search"]["trials"],
                r["search"]["trial_iterations"],
                r["search"]["wall_s"],
            ]
        )


# ---------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["efficiency", "tune", "all"], default="all")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, default=3, help="search seeds per method")
    parser.add_argument("--first-seed", type=int, default=0, help="first search seed")
    parser.add_argument(
        "--previous",
        type=Path,
        help="a search_efficiency.json whose efficiency sweeps (other seeds) are included",
    )
    parser.add_argument(
        "--cnn-from-efficiency",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="take the CNN's winner from the efficiency sweeps (when there are any) instead of its own sweep",
    )
    parser.add_argument("--trials", type=int, default=32, help="trials per efficiency sweep")
    parser.add_argument("--iterations", type=int, default=27, help="iteration budget per trial")
    parser.add_argument("--grace-period", type=int, default=3, help="ASHA's first rung")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per iteration")
    parser.add_argument("--tune-models", nargs="+", default=list(TUNE_SPACES), choices=list(TUNE_SPACES))
    parser.add_argument("--tune-trials", type=int, default=64)
    parser.add_argument("--tune-iterations", type=int, default=27)
    parser.add_argument("--final-seeds", type=int, default=5, help="seeds of the retrained winners")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1, help="trials at once")
    parser.add_argument("--gpu", type=float, default=0.0, help="GPU per trial (0: CPU trials)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs given to Ray")
    args = parser.parse_args(argv)
    args.previous = json.loads(args.previous.read_text()) if args.previous else {}
    if args.smoke:
        # One FIFO and one ASHA sweep cover both searchers and both schedulers.
        args.methods = ["fifo+random", "asha+hyperopt"]
        args.seeds, args.trials, args.iterations, args.grace_period, args.steps = 1, 2, 2, 1, 5
        # The MLP only: its own tuning sweep (the CNN's winner would come from the sweeps above).
        args.tune_models, args.tune_trials, args.tune_iterations, args.final_seeds = ["mnist1d_mlp"], 2, 2, 2
        args.cpus = min(args.cpus, 2)
        args.concurrency = min(args.concurrency, args.cpus)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = Report("search_efficiency", smoke=args.smoke, output=args.output, argv=argv)
    report.settings.update(
        {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "previous"}
    )
    report.sections["device"] = "GPU" if args.gpu else "CPU"
    storage = scratch_storage()
    started = time.time()
    with local_ray(num_cpus=args.cpus, num_gpus=None if args.gpu else 0):
        if args.part in ("efficiency", "all"):
            report.sections["efficiency"] = efficiency(args, storage, report)
            efficiency_table(report.sections["efficiency"], report)
        if args.part in ("tune", "all"):
            sweeps = report.sections.get("efficiency", args.previous.get("efficiency", {})).get("sweeps", [])
            report.sections["tune"] = tune(args, storage, report, sweeps)
            tune_table(report.sections["tune"], report)
    report.sections["total_wall_s"] = time.time() - started
    shutil.rmtree(storage, ignore_errors=True)
    report.note(f"Trials on {report.sections['device']}, {args.concurrency} at once.")
    return report.finish()


if __name__ == "__main__":
    main()
