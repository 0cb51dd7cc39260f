"""Data-parallel scaling on CPUs: samples/s of a trial over 2 workers versus 1 worker and 1 process.

Three arms train the same model on the same data with the same global batch (``batch_size``
samples per optimizer step, split across the workers), one torch thread per process:

- ``1 process``: a :class:`TorchTrainable` without workers, ``step()`` called in this process (what
  a trial of ``resources: {cpu: 1}`` runs);
- ``1 worker``: the same trainable with one data-parallel worker (a Ray actor; DDP over a gloo
  group of one): the cost of the machinery, without any scaling;
- ``2 workers``: two workers, each training on half of every batch, gradients all-reduced over gloo.

All three stay up for the whole run on a 2-CPU local Ray: the ``2 workers`` arm asks Ray for 0.5 CPU
per worker (each still runs one torch thread, as with ``cpu: 1``), so that it and the ``1 worker``
arm fit together; the arms take turns (A B C, C B A, ...), so only one computes at a time. One
repetition is one Tune iteration: ``--steps`` optimizer steps, then evaluation (split across the
workers too). Figures: samples/s of the training steps (what the trial reports as
``samples_per_s``: its collectives included), of the whole iteration (wall clock around the
call, Ray's call included), and per CPU-second of all the arm's training processes (the sum over
its workers: what the work costs, whether or not a core was free for each worker at the time);
ratios paired per round.

Two models bracket the cost of communication: ``resnet`` (ResNet-18 at width 8 on 32x32 images:
0.7 M parameters, much compute per sample) and ``mlp`` (a 2-layer MLP on 64 features: little compute,
so the all-reduce and the per-step overheads show).

    python -m benchmarks.ddp_scaling              # 8 rounds per model
    python -m benchmarks.ddp_scaling --smoke      # 2 rounds of 2 steps, small data
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from benchmarks.common import Report, argument_parser, run_interleaved, summarize
from tunefleet.trainables import TorchTrainable, TrainingHyperparams
from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.models import MLP, ResNet18
from tunefleet.trainables.workers import WorkerSpec

NAME = "ddp_scaling"
ARMS = ("1 process", "1 worker", "2 workers")
KINDS = {
    "train": "training steps (the trial's samples_per_s)",
    "wall": "whole iteration, wall clock",
    "cpu": "whole iteration, per CPU-second of the training processes",
}


class ScalingHyperparams(TrainingHyperparams):
    model: Literal["resnet", "mlp"] = Field("resnet", description="ResNet-18 at width 8, or an MLP.")
    train_size: int = Field(4096, ge=1)
    eval_size: int = Field(512, ge=1)


class SyntheticTask(TorchTrainable[ScalingHyperparams]):
    """Random inputs with random labels of 10 classes, as tensors (no data loading in the way)."""

    Hyperparams = ScalingHyperparams
    task = "classification"
    data_hyperparams = ("model", "train_size", "eval_size")

    def load_data(self, hp: ScalingHyperparams) -> DataSplits:
        generator = torch.Generator().manual_seed(0)
        shape = (3, 32, 32) if hp.model == "resnet" else (64,)

        def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.randn(n, *shape, generator=generator)
            return x, torch.randint(0, 10, (n,), generator=generator)

        return DataSplits(*split(hp.train_size), *split(hp.eval_size), *split(hp.eval_size))

    def build_model(self, hp: ScalingHyperparams, data: Any) -> nn.Module:
        return ResNet18(10, width=8) if hp.model == "resnet" else MLP(64, [512, 512], 10)


class OneWorker(SyntheticTask):
    workers_outside_tune = WorkerSpec(count=1, cpus=1)


class TwoWorkers(SyntheticTask):
    workers_outside_tune = WorkerSpec(count=2, cpus=0.5)  # one torch thread each (see the docstring)


def measure_model(report: Report, model: str, args: Any) -> dict[str, dict[str, list[float]]]:
    """Runs the three arms interleaved for one model; their per-round rates by kind."""
    config: dict[str, Any] = {
        "model": model,
        "optimizer": "momentum",
        "lr": 0.05,
        "batch_size": args.batch_size,
        "steps_per_iteration": args.steps,
        "train_size": args.train_size,
        "eval_size": args.eval_size,
    }
    trainables = {
        arm: cls(config=dict(config))  # Ray pops keys from the dict it is given
        for arm, cls in zip(ARMS, (SyntheticTask, OneWorker, TwoWorkers), strict=True)
    }
    samples = args.steps * args.batch_size
    rates: dict[str, dict[str, list[float]]] = {arm: {kind: [] for kind in KINDS} for arm in ARMS}

    def cpu_seconds(arm: str) -> float:
        """CPU time so far of the arm's training processes (this one, or its workers)."""
        if arm == "1 process":
            return time.process_time()
        return sum(trainables[arm].on_every_rank(lambda loop: time.process_time()))

    def iteration(arm: str) -> float:
        cpu = cpu_seconds(arm)
        start = time.perf_counter()
        result = trainables[arm].train()
        wall = time.perf_counter() - start
        cpu = cpu_seconds(arm) - cpu
        assert result["world_size"] == (2 if arm == "2 workers" else 1)
        rates[arm]["train"].append(float(result["samples_per_s"]))
        rates[arm]["wall"].append(samples / wall)
        rates[arm]["cpu"].append(samples / max(cpu, 1e-9))
        return samples / wall

    arms: dict[str, Callable[[], float]] = {arm: functools.partial(iteration, arm) for arm in ARMS}
    report.log(f"{model}: warm-up, {args.warmup} iteration(s) of each arm, then {args.rounds} rounds")
    run_interleaved(arms, args.warmup)
    for per_arm in rates.values():
        for values in per_arm.values():
            values.clear()
    run_interleaved(arms, args.rounds, log=lambda text: report.log(f"{model}: {text}"))
    for trainable in trainables.values():
        trainable.stop()
    return rates


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="interleaved repetitions of the arms")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per iteration")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per step, all workers together")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations of each arm first")
    parser.add_argument("--train-size", type=int, default=4096)
    parser.add_argument("--eval-size", type=int, default=512)
    parser.add_argument("--models", default="resnet,mlp", help="comma-separated: resnet, mlp")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.steps, args.warmup, args.batch_size = 2, 2, 1, 32
        args.train_size, args.eval_size = 256, 64

    import ray

    from tunefleet.run.session import init_local_ray

    torch.set_num_threads(1)  # the 1-process arm, like a trial of one CPU
    report = Report(NAME, smoke=args.smoke, output=args.output, argv=argv)
    report.settings = {
        "data": f"{args.train_size} training and 2 x {args.eval_size} evaluation samples, random tensors",
        "batch_size": args.batch_size,
        "steps_per_iteration": args.steps,
        "torch_threads_per_process": 1,
        "ray_cpus": 2,
        "rounds": args.rounds,
        "warmup_iterations": args.warmup,
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    table = report.table(
        f"global batch {args.batch_size}, {args.steps} steps per iteration, {args.rounds} interleaved "
        "rounds: samples/s, median [interquartile range]",
        ["model", "what is timed", *ARMS, "2 workers / 1 worker", "2 workers / 1 process"],
    )
    init_local_ray(num_cpus=2, log_to_driver=False)
    figures: dict[str, Any] = {}
    try:
        for model in args.models.split(","):
            rates = measure_model(report, model, args)
            figures[model] = {}
            for kind, label in KINDS.items():
                per_arm = {arm: summarize(rates[arm][kind]) for arm in ARMS}
                paired = {
                    f"2 workers / {other}": summarize(
                        [a / b for a, b in zip(rates["2 workers"][kind], rates[other][kind], strict=True)]
                    )
                    for other in ("1 worker", "1 process")
                }
                table.append([model, label, *per_arm.values(), *paired.values()])
                figures[model][kind] = {
                    "label": label,
                    "samples_per_s": per_arm,
                    "ratios": paired,
                    "raw": {arm: rates[arm][kind] for arm in ARMS},
                }
            report.figures = figures
            report.save()  # partial figures survive an interrupted run
    finally:
        ray.shutdown()
    report.figures = figures
    report.note(
        "ratio = the 2-worker arm's rate over the other arm's in the same round; 2.0 would be perfect "
        "scaling of the wall-clock figures, 1.0 the same cost per sample for the CPU-time one. Wall "
        "clock on the machine as it was (see the load average); the arms take turns, so a busy phase "
        "of the machine falls on all of them. The CPU time of a worker arm is its workers' "
        "(time.process_time() in each, gloo's threads included), read through Ray before and after "
        "the iteration; that of the 1-process arm is this process's."
    )
    return report.finish()


if __name__ == "__main__":
    main()
