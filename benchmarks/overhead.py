"""Framework overhead: a sweep of trivial trials through tunefleet versus Ray Tune written by hand.

Every arm runs the same sweep: ``--trials`` random-search trials of a trainable that does no
work (``benchmarks/trivial.py``), ``--iterations`` results each, one CPU per trial on a local
Ray with every core (2 trials at once on a 2-core machine). The wall time is therefore all
overhead: starting Ray, scheduling, result processing, logging, checkpoint bookkeeping.

Arms (each in a fresh process, interleaved over ``--repetitions`` rounds):

- ``tunefleet-class`` / ``tunefleet-function``: ``run_experiment`` on a YAML written to a temporary
  directory (what ``tunefleet run`` does after parsing its arguments), with the class or the
  function trainable;
- ``ray-tuned-class`` / ``ray-tuned-function``: ``ray.tune.Tuner`` with Ray's best settings for
  such a sweep: ``reuse_actors=True`` and ``verbose=0``;
- ``ray-default-class``: ``ray.tune.Tuner`` with defaults (a new actor per trial, default output
  and loggers) on the class trainable. It is the slowest by far, so ``--default-trials`` can run
  it on fewer trials (50 by default): its per-trial overhead is what is compared.

The timed span is the same for every arm: from before ``ray.init`` to after ``ray.shutdown``.

    python -m benchmarks.overhead            # 1,000 trials per arm
    python -m benchmarks.overhead --smoke    # 2 trials, two arms, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Report, argument_parser, summarize, timed
from benchmarks.trivial import no_work_experiment

NAME = "overhead"
TUNEFLEET_ARMS = ("tunefleet-class", "tunefleet-function")
RAY_TUNED_ARMS = ("ray-tuned-class", "ray-tuned-function")
DEFAULT_ARM = "ray-default-class"
ARMS = (*TUNEFLEET_ARMS, *RAY_TUNED_ARMS, DEFAULT_ARM)
TRAINABLES = {"class": "benchmarks.trivial:NoWork", "function": "benchmarks.trivial:no_work"}

# The same local Ray as tunefleet's embedded one.
RAY_INIT: dict[str, Any] = {"num_cpus": os.cpu_count() or 1, "log_to_driver": False}


def _run_tunefleet(kind: str, trials: int, iterations: int, storage: Path) -> dict[str, float]:
    from rich.console import Console

    from tunefleet import load_experiment, run_experiment

    path = storage / f"overhead-{kind}.yaml"
    path.write_text(no_work_experiment(f"overhead-{kind}", TRAINABLES[kind], trials, iterations, storage))
    with timed() as load:
        experiment = load_experiment(path, [])
    cpu = time.process_time()
    with timed() as sweep:
        outcome = run_experiment(experiment, console=Console(stderr=True, force_terminal=False))
    cpu = time.process_time() - cpu
    if outcome.num_trials != trials or outcome.num_errors:
        raise RuntimeError(f"tunefleet ran {outcome.num_trials} trials, {outcome.num_errors} failed")
    return {"sweep_s": sweep.seconds, "driver_cpu_s": cpu, "validate_s": load.seconds}


def _run_ray(kind: str, tuned: bool, trials: int, iterations: int, storage: Path) -> dict[str, float]:
    import ray
    from ray import tune

    from benchmarks.trivial import NoWork, no_work
    from tunefleet.run.session import init_local_ray

    trainable = tune.with_resources(NoWork if kind == "class" else no_work, {"cpu": 1})
    tuned_settings: dict[str, Any] = {"reuse_actors": True} if tuned else {}
    tune_config = tune.TuneConfig(
        metric="score",
        mode="max",
        num_samples=trials,
        search_alg=tune.search.BasicVariantGenerator(random_state=0),
        **tuned_settings,
    )
    tuned_output: dict[str, Any] = {"verbose": 0} if tuned else {}
    run_config = tune.RunConfig(
        name=f"ray-{'tuned' if tuned else 'default'}-{kind}",
        storage_path=str(storage),
        stop={"training_iteration": iterations},
        **tuned_output,
    )
    cpu = time.process_time()
    with timed() as sweep:
        with timed() as init:
            init_local_ray(**RAY_INIT)
        with timed() as fit:
            results = tune.Tuner(
                trainable,
                param_space={"x": tune.uniform(0.0, 1.0), "iterations": iterations},
                tune_config=tune_config,
                run_config=run_config,
            ).fit()
        ray.shutdown()
    cpu = time.process_time() - cpu
    if len(results) != trials or results.errors:
        raise RuntimeError(f"Ray ran {len(results)} trials, {len(results.errors)} failed")
    return {"sweep_s": sweep.seconds, "driver_cpu_s": cpu, "init_s": init.seconds, "fit_s": fit.seconds}


def run_arm(arm: str, trials: int, iterations: int, storage: Path) -> dict[str, float]:
    """Runs one arm in this process (a fresh one: the parent starts a process per arm and round)."""
    source, _, kind = arm.rpartition("-")
    if source == "tunefleet":
        return _run_tunefleet(kind, trials, iterations, storage)
    return _run_ray(kind, source == "ray-tuned", trials, iterations, storage)


def _spawn(arm: str, trials: int, iterations: int, log: Path) -> dict[str, float]:
    """Runs an arm in a fresh process; returns its timings plus the whole process's wall time."""
    with tempfile.TemporaryDirectory(prefix=f"tf-overhead-{arm}-") as tmp:
        out = Path(tmp) / "timings.json"
        command = [sys.executable, "-m", "benchmarks.overhead", "--arm", arm, "--trials", str(trials)]
        command += ["--iterations", str(iterations), "--storage", tmp, "--timings", str(out)]
        with log.open("a") as sink, timed() as process:
            sink.write(f"\n===== {arm} {trials} trials {time.strftime('%H:%M:%S')}\n")
            sink.flush()
            done = subprocess.run(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"arm {arm} failed (exit {done.returncode}); see {log}")
        timings: dict[str, float] = json.loads(out.read_text())
    timings["process_s"] = process.seconds
    return timings


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument(
        "--default-trials", type=int, default=50, help="trials of ray-default-class (seconds per trial)"
    )
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repetitions", type=int, default=1, help="interleaved rounds of every arm")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of " + ", ".join(ARMS))
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--storage", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timings", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.arm:  # child process: one arm, timings to a file
        timings = run_arm(args.arm, args.trials, args.iterations, args.storage)
        args.timings.write_text(json.dumps(timings))
        return

    if args.smoke:  # one tunefleet arm and its Ray twin, a few trials: checks the machinery only
        args.trials, args.iterations, args.arms = 2, 2, "tunefleet-class,ray-tuned-class"
    default_trials = args.default_trials
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    report = Report(NAME, smoke=args.smoke, output=args.output)
    report.settings = {
        "trials": args.trials,
        "default_arm_trials": default_trials,
        "iterations": args.iterations,
        "repetitions": args.repetitions,
        "concurrent_trials": os.cpu_count(),
        "arms": arms,
    }
    log = (args.output or Path(tempfile.gettempdir()) / NAME).with_suffix(".log")
    log.write_text("")
    runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    failures: list[str] = []
    for round_ in range(args.repetitions):
        for arm in arms if round_ % 2 == 0 else arms[::-1]:
            trials = default_trials if arm == DEFAULT_ARM else args.trials
            report.log(f"round {round_ + 1}: {arm}, {trials} trials")
            try:
                runs[arm].append(_spawn(arm, trials, args.iterations, log))
            except RuntimeError as exc:  # e.g. Ray failing to start on an overloaded machine
                failures.append(f"round {round_ + 1}: {exc}")
                report.log(f"  {exc}")
                continue
            report.log(f"  {runs[arm][-1]['sweep_s']:.1f} s")
    for failure in failures:
        report.note(f"FAILED, not in the figures: {failure}")
    arms = [arm for arm in arms if runs[arm]]

    per_trial, cpu_per_trial = {}, {}
    table = report.table(
        f"{args.trials} trials x {args.iterations} iterations, no work, median [IQR] of rounds",
        ["arm", "trials", "sweep s", "per trial ms", "driver CPU per trial ms", "process s"],
    )
    for arm in arms:
        trials = default_trials if arm == DEFAULT_ARM else args.trials
        sweep = summarize([r["sweep_s"] for r in runs[arm]])
        per_trial[arm] = summarize([1000 * r["sweep_s"] / trials for r in runs[arm]])
        cpu_per_trial[arm] = summarize([1000 * r["driver_cpu_s"] / trials for r in runs[arm]])
        process = summarize([r["process_s"] for r in runs[arm]])
        table.append([arm, trials, sweep, per_trial[arm], cpu_per_trial[arm], process])

    ratios: dict[str, float] = {}
    tuned = [a for a in RAY_TUNED_ARMS if a in per_trial]
    if tuned:
        best_ray = min(tuned, key=lambda a: per_trial[a].median)
        ratio_table = report.table(
            "per-trial overhead ratios (1.0 = as fast as the reference)", ["ratio", "value"]
        )
        for arm in TUNEFLEET_ARMS:
            if arm not in per_trial:
                continue
            twin = arm.replace("tunefleet", "ray-tuned")
            if twin in per_trial:
                ratios[f"{arm} / {twin}"] = per_trial[arm].median / per_trial[twin].median
            ratios[f"{arm} / {best_ray} (fastest tuned Ray)"] = (
                per_trial[arm].median / per_trial[best_ray].median
            )
            ratios[f"{arm} / {best_ray}, driver CPU time"] = (
                cpu_per_trial[arm].median / cpu_per_trial[best_ray].median
            )
        if DEFAULT_ARM in per_trial:
            ratios[f"{DEFAULT_ARM} / {best_ray}"] = per_trial[DEFAULT_ARM].median / per_trial[best_ray].median
        for key, value in ratios.items():
            ratio_table.append([key, round(value, 3)])
        report.figures["fastest_tuned_ray_arm"] = best_ray
    report.figures.update(
        failures=failures,
        runs=runs,
        per_trial_ms=per_trial,
        driver_cpu_per_trial_ms=cpu_per_trial,
        ratios=ratios,
        log=str(log),
    )
    report.note(
        "sweep s: ray.init to ray.shutdown in the arm's own process; process s adds imports. Driver CPU: "
        "user + system time of the driver process over the sweep, less sensitive than wall time to "
        "other jobs on a shared machine (the actors' CPU time is not included)."
    )
    report.finish()


if __name__ == "__main__":
    main()
