"""GPU throughput of tunefleet sweeps with whole and fractional GPUs per trial (issue 5, issue 7 item 6).

Two models on MNIST-1D: the built-in ``mnist1d_cnn`` (the paper's 25-channel CNN, ~6k parameters)
and :class:`LargeMnist1dCNN` below (256 channels, six stride-1 convolutions, 1.1M parameters,
about 1,400x the work per sample, batches of 512), a user trainable defined here and shipped to
the Ray workers. Each
configuration runs the same fixed sweep (``--trials`` trials of one configuration, seeds differ,
FIFO) through tunefleet's runner with ``resources: {cpu: C, gpu: G}`` for G in ``--gpus`` (and,
for the small model, a CPU-only sweep with one core per trial). While it runs, ``nvidia-smi``
samples the GPU every 500 ms. Reported: trials/hour, training samples/s over the whole sweep,
GPU utilization (mean and 90th percentile) and memory, and the throughput ratio to ``gpu: 1``.

    python benchmarks/gpu_throughput.py            # on a GPU machine (about 6 minutes on an H100)
    python benchmarks/gpu_throughput.py --smoke    # seconds, CPU only (gpu: 0)

The JSON keeps one entry per configuration under ``rows`` (partial figures are written after each).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from torch import nn

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tunefleet` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Report, argument_parser, percentile
from benchmarks.sweeps import local_ray, run_sweep, scratch_storage
from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.models import CNN1d
from tunefleet.trainables.tasks import Mnist1dCNN, Mnist1dCNNHyperparams


class LargeCNNHyperparams(Mnist1dCNNHyperparams):
    """The built-in CNN's knobs, wider and deeper by default, with GPU-sized batches."""

    channels: int = Field(default=256, ge=1, description="Channels of every convolution.")
    depth: int = Field(default=6, ge=1, description="Number of convolutions (kernel 5, then 3s).")
    batch_size: int = Field(default=512, ge=1)


class LargeMnist1dCNN(Mnist1dCNN):
    """MNIST-1D with a wide 1-D CNN: ``depth`` stride-1 convolutions of ``channels`` channels."""

    Hyperparams = LargeCNNHyperparams

    def build_model(self, hp: LargeCNNHyperparams, data: DataSplits) -> nn.Module:  # type: ignore[override]
        return CNN1d(
            data.x_train.shape[-1],
            10,
            channels=hp.channels,
            activation=hp.activation,
            dropout=hp.dropout,
            kernel_sizes=(5,) + (3,) * (hp.depth - 1),
            stride=1,
            padding=1,
        )


#: Model label -> (trainable reference, constants every trial gets, iterations per trial).
MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "mnist1d_cnn": ("mnist1d_cnn", {"batch_size": 128}, 10),
    "large_cnn": ("benchmarks.gpu_throughput:LargeMnist1dCNN", {"batch_size": 512}, 5),
}


@dataclass(frozen=True)
class Config:
    """One measured configuration."""

    model: str
    gpu: float  # per trial
    cpu: float  # per trial

    @property
    def label(self) -> str:
        return f"gpu {self.gpu:g}" if self.gpu else f"cpu only ({self.cpu:g} core/trial)"


@dataclass
class GpuSamples:
    """What ``nvidia-smi`` saw while a configuration ran (empty without nvidia-smi)."""

    utilization: list[float]
    memory_mib: list[float]

    def summary(self) -> dict[str, Any]:
        util = self.utilization
        return {
            "gpu_util_mean": sum(util) / len(util) if util else None,
            "gpu_util_p90": percentile(util, 90),
            "gpu_mem_max_mib": max(self.memory_mib) if self.memory_mib else None,
            "gpu_samples": len(util),
        }


@contextlib.contextmanager
def sample_gpu(interval_ms: int = 500) -> Iterator[GpuSamples]:
    """Samples GPU utilization and memory with ``nvidia-smi -lms`` for the duration of the block."""
    samples = GpuSamples([], [])
    if shutil.which("nvidia-smi") is None:
        yield samples
        return
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            [
                "nvidia-smi",
                "--query-gpu=utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
                f"-lms={interval_ms}",
            ],
            stdout=log,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield samples
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.seek(0)
            for line in log:
                parts = [p.strip() for p in line.split(",")]
                with contextlib.suppress(ValueError, IndexError):
                    util, memory = float(parts[0]), float(parts[1])
                    samples.utilization.append(util)
                    samples.memory_mib.append(memory)


def experiment_spec(config: Config, args: argparse.Namespace, index: int) -> dict[str, Any]:
    """The experiment file of one configuration: ``--trials`` seeds of one fixed configuration."""
    trainable, constants, iterations = MODELS[config.model]
    space: dict[str, Any] = {
        "seed": {"grid": list(range(args.trials))},
        "steps_per_iteration": args.steps,
        **constants,
        **(args.model_overrides or {}),
    }
    return {
        "name": f"{index:02d}-{config.model}-gpu{config.gpu:g}",
        "trainable": trainable,
        "metric": "val_accuracy",
        "mode": "max",
        "max_iterations": args.iterations or iterations,
        "search": {"algorithm": "grid"},
        "space": space,
        "scheduler": {"type": "fifo"},
        "resources": {"cpu": config.cpu, "gpu": config.gpu},
        "checkpoint": {"frequency": 0, "at_end": False},
    }


def measure(config: Config, args: argparse.Namespace, index: int, storage: Path) -> dict[str, Any]:
    """Runs one configuration's sweep and returns its figures."""
    spec = experiment_spec(config, args, index)
    with sample_gpu() as gpu:
        sweep = run_sweep(spec, storage)
    results = sweep.results
    batch = int(spec["space"]["batch_size"])
    trained = len(results) * args.steps * batch  # every result is one iteration of `steps` steps
    per_trial = results.groupby("trial_id")
    concurrent = int(min(1 / config.gpu if config.gpu else float("inf"), args.cpus // config.cpu))
    return {
        **asdict(config),
        "label": config.label,
        "concurrent_trials": concurrent,
        "trials": sweep.num_trials,
        "iterations": spec["max_iterations"],
        "steps_per_iteration": args.steps,
        "batch_size": batch,
        "wall_s": sweep.wall_s,
        "trials_per_hour": sweep.num_trials / sweep.wall_s * 3600,
        "samples_per_s": trained / sweep.wall_s,
        "trial_samples_per_s_median": float(results["samples_per_s"].median()),
        "trial_time_s_median": float(per_trial["time_total_s"].max().median()),
        "test_accuracy_median": float(per_trial["test_accuracy"].last().median()),
        **gpu.summary(),
    }


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Adds each row's throughput relative to the same model with ``gpu: 1``.

    ``ratio_vs_gpu1`` compares whole sweeps, start-up included: starting the actors (a process,
    ``import torch``, a CUDA context, the data) takes about as long as a short sweep's training,
    so it understates what sharing gives a long sweep. ``steady_ratio_vs_gpu1`` compares the
    training itself: trials at once times how fast each trial trained, from the trials' own
    ``time_total_s``, i.e. the ratio a sweep of long trials approaches.
    """
    whole = {r["model"]: r for r in rows if r["gpu"] == 1}
    for row in rows:
        row["steady_trials_per_hour"] = row["concurrent_trials"] * 3600 / row["trial_time_s_median"]
        base = whole.get(row["model"])
        row["ratio_vs_gpu1"] = row["trials_per_hour"] / base["trials_per_hour"] if base else None
        row["steady_ratio_vs_gpu1"] = (
            row["steady_trials_per_hour"] / base["steady_trials_per_hour"] if base else None
        )


#: Table column -> row key.
COLUMNS = {
    "model": "model",
    "resources/trial": "label",
    "concurrent": "concurrent_trials",
    "wall s": "wall_s",
    "trials/h": "trials_per_hour",
    "x vs gpu 1": "ratio_vs_gpu1",
    "trial s": "trial_time_s_median",
    "steady x vs gpu 1": "steady_ratio_vs_gpu1",
    "samples/s": "samples_per_s",
    "GPU util mean %": "gpu_util_mean",
    "GPU util p90 %": "gpu_util_p90",
    "GPU mem MiB": "gpu_mem_max_mib",
    "test acc": "test_accuracy_median",
}


def configurations(args: argparse.Namespace) -> list[Config]:
    """Whole, half and quarter GPUs first (issue 5 asks for those), then the CPU-only baseline
    and smaller fractions, so that an interrupted run still has the main figures."""
    main_gpus = [g for g in args.gpus if g >= 0.25]
    configs = [Config(model, gpu, args.cpu_per_trial) for model in args.models for gpu in main_gpus]
    if args.cpu_baseline and "mnist1d_cnn" in args.models:
        configs.append(Config("mnist1d_cnn", 0.0, 1.0))
    configs += [
        Config(model, gpu, args.cpu_per_trial) for model in args.models for gpu in args.gpus if gpu < 0.25
    ]
    return configs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--gpus", nargs="+", type=float, default=[1, 0.5, 0.25, 0.125])
    parser.add_argument("--cpu-per-trial", type=float, default=2)
    parser.add_argument("--no-cpu-baseline", dest="cpu_baseline", action="store_false")
    parser.add_argument("--trials", type=int, default=16, help="trials per configuration")
    parser.add_argument("--iterations", type=int, help="iterations per trial (default: per model)")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per iteration")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs given to Ray")
    args = parser.parse_args(argv)
    args.model_overrides = None
    if args.smoke:  # CPU only (gpu: 0), both models, one short sweep each
        args.gpus, args.cpu_per_trial, args.cpu_baseline = [0.0], 1.0, False
        args.trials, args.iterations, args.steps, args.cpus = 2, 1, 5, min(args.cpus, 2)
        args.model_overrides = {"channels": 8, "batch_size": 32}
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = Report("gpu_throughput", smoke=args.smoke, output=args.output, argv=argv)
    report.settings.update(trials=args.trials, steps_per_iteration=args.steps, cpus=args.cpus)
    rows: list[dict[str, Any]] = []
    report.sections["rows"] = rows
    storage = scratch_storage()
    with local_ray(num_cpus=args.cpus, num_gpus=0 if args.smoke else None):
        for index, config in enumerate(configurations(args)):
            rows.append(measure(config, args, index, storage))
            add_ratios(rows)
            report.save()  # partial figures survive an interruption
            report.log(f"{config.model} {config.label}: {rows[-1]['trials_per_hour']:.0f} trials/h")
    shutil.rmtree(storage, ignore_errors=True)
    table = report.table("throughput per configuration", list(COLUMNS))
    for row in rows:
        table.append([row[key] for key in COLUMNS.values()])
    return report.finish()


if __name__ == "__main__":
    main()
