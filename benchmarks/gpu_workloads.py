"""Issue 12's GPU checks in one run: ResNet-18 on CIFAR-shaped data, as users tune it.

1. ``loop``: the built-in ``cifar10_resnet`` trainable (TorchTrainable, ``precision: bf16``,
   ``channels_last``) against a bare PyTorch AMP loop written here: the same model class, the
   same uint8 images on the GPU, the same crop-and-flip augmentation and normalisation, the same
   SGD with momentum and cosine schedule, the same batch size. Both measure training samples/s
   over the same number of optimizer steps (CUDA synchronised at the ends); arms interleaved,
   ``--rounds`` rounds, median of the per-round ratios.
2. ``sweeps``: the same trainable as a sweep (``--trials`` trials, FIFO) at ``gpu: 1``, ``0.5`` and
   ``0.25`` per trial on one long-lived local Ray: trials/hour, training samples/s over the sweep,
   GPU utilization and memory (``nvidia-smi`` every 500 ms).
3. ``first_result``: seconds from starting ``tunefleet run`` (a new process with its own embedded
   Ray, as a user runs it) to the first result a trial wrote, twice (the second with warm file
   caches), with where the time went: Ray's start, the trial process's start, its ``setup``
   (data to the GPU, model), its first iteration.
4. ``ddp``: a multi-worker trial whose one worker trains on the GPU (nccl).

The data is a CIFAR-10 archive of random images written in the official on-disk format
(``--train-images`` training images, 10,000 test images): nothing is downloaded.

    python -m benchmarks.gpu_workloads            # on a GPU machine, about 5 minutes on an H200
    python -m benchmarks.gpu_workloads --smoke    # CPU, tiny sizes, to check the script runs
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tunefleet` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, Report, argument_parser, run_interleaved, summarize
from benchmarks.gpu_throughput import sample_gpu
from benchmarks.sweeps import local_ray, run_sweep, scratch_storage
from tunefleet.trainables.cifar10 import write_random_archive
from tunefleet.trainables.tasks import Cifar10ResNet

#: The knobs both arms of the loop comparison use (the trainable's names).
LOOP_CONFIG: dict[str, Any] = {
    "precision": "bf16",
    "channels_last": True,
    "optimizer": "momentum",
    "momentum": 0.9,
    "lr": 0.1,
    "weight_decay": 5e-4,
    "lr_schedule": "cosine",
    "dropout": 0.0,
}


class TimedCifar10ResNet(Cifar10ResNet):
    """``cifar10_resnet`` that also reports when its process imported it and when ``setup`` ran
    (``time.time()``), so the benchmark can say where the time to the first result went."""

    def setup(self, config: dict[str, Any]) -> None:
        import psutil

        started = time.time()
        super().setup(config)
        self._timing = {
            "process_started": psutil.Process().create_time(),
            "imported": _IMPORTED,
            "setup_started": started,
            "setup_ended": time.time(),
        }

    def step(self) -> dict[str, Any]:
        result = super().step()
        if getattr(self, "_timing", None):
            result.update(self._timing)
            self._timing = {}
        return result


_IMPORTED = time.time()


class CudaCifar10ResNet(Cifar10ResNet):
    """``cifar10_resnet`` on the GPU outside Ray (the loop comparison runs in this process)."""

    def select_device(self) -> Any:
        import torch

        return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- 1. the loop


class BareLoop:
    """A bare PyTorch AMP training loop over the same data, model and augmentation."""

    def __init__(self, data_dir: Path, batch_size: int, steps: int, width: int) -> None:
        import torch
        import torch.nn.functional as F

        from tunefleet.trainables.cifar10 import CIFAR10_MEAN, CIFAR10_STD, load_cifar10
        from tunefleet.trainables.models import ResNet18

        self.torch, self.F = torch, F
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        data = load_cifar10(data_dir, val_fraction=0.1)
        self.x = data.x_train.to(self.device)  # uint8 (n, 3, 32, 32)
        self.y = data.y_train.to(self.device)
        self.mean = (255 * torch.tensor(CIFAR10_MEAN, device=self.device)).reshape(1, 3, 1, 1)
        self.scale = (1 / (255 * torch.tensor(CIFAR10_STD, device=self.device))).reshape(1, 3, 1, 1)
        torch.manual_seed(0)
        self.model = ResNet18(10, width=width).to(self.device)
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        total = 10 * steps
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
        )
        self.batch_size, self.steps = batch_size, steps
        self.order = torch.randperm(len(self.x), device=self.device)
        self.position = 0

    def _augment(self, images: Any) -> Any:
        torch, F = self.torch, self.F
        n = len(images)
        padded = F.pad(images, (4, 4, 4, 4))
        dy = torch.randint(0, 9, (n,), device=self.device)
        dx = torch.randint(0, 9, (n,), device=self.device)
        rows = (dy[:, None] + torch.arange(32, device=self.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(32, device=self.device))[:, None, :]
        batch = torch.arange(n, device=self.device)[:, None, None]
        cropped = padded[batch, :, rows, cols].permute(0, 3, 1, 2)
        flip = torch.rand(n, device=self.device) < 0.5
        images = torch.where(flip[:, None, None, None], cropped.flip(3), cropped)
        normalised = (images.float() - self.mean) * self.scale
        return normalised.contiguous(memory_format=torch.channels_last)

    def run(self) -> float:
        """``steps`` optimizer steps; training samples per second."""
        torch = self.torch
        self.model.train()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(self.steps):
            if self.position + self.batch_size > len(self.order):
                self.order = torch.randperm(len(self.x), device=self.device)
                self.position = 0
            idx = self.order[self.position : self.position + self.batch_size]
            self.position += self.batch_size
            x, y = self._augment(self.x[idx]), self.y[idx]
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                loss = self.F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return self.steps * self.batch_size / (time.perf_counter() - start)


def compare_loops(report: Report, data_dir: Path, args: Any) -> None:
    config = {
        **LOOP_CONFIG,
        "data_dir": str(data_dir),
        "val_fraction": 0.1,
        "batch_size": args.batch_size,
        "steps_per_iteration": args.steps,
        "width": args.width,
        "max_iterations": 10,
    }
    trainable = CudaCifar10ResNet(config=config)
    bare = BareLoop(data_dir, args.batch_size, args.steps, args.width)
    trainable.train()  # warm-up: cuDNN autotuning, allocator, first evaluation
    bare.run()
    rates = run_interleaved(
        {
            "tunefleet": lambda: float(trainable.train()["samples_per_s"]),
            "bare": bare.run,
        },
        repetitions=args.rounds,
        log=report.log,
    )
    trainable.stop()
    ratios = [t / b for t, b in zip(rates["tunefleet"], rates["bare"], strict=True)]
    report.figures["loop"] = {
        "tunefleet_samples_per_s": summarize(rates["tunefleet"]).as_dict(),
        "bare_samples_per_s": summarize(rates["bare"]).as_dict(),
        "ratio_median": float(np.median(ratios)),
        "ratios": ratios,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "width": args.width,
    }
    table = report.table(
        "ResNet-18 training loop: TorchTrainable vs a bare AMP loop (bf16, channels_last)",
        ["arm", "samples/s median", "min", "max"],
    )
    for arm in ("tunefleet", "bare"):
        s = summarize(rates[arm])
        table.append([arm, s.median, s.low, s.high])
    report.note(f"loop: tunefleet / bare = {np.median(ratios):.3f} (median of {len(ratios)} rounds)")


# --------------------------------------------------------------------------- 2. sweeps


def sweep_spec(name: str, data_dir: Path, gpu: float, args: Any) -> dict[str, Any]:
    return {
        "name": name,
        "trainable": "benchmarks.gpu_workloads:TimedCifar10ResNet",
        "metric": "val_accuracy",
        "mode": "max",
        "max_iterations": args.sweep_iterations,
        "search": {"algorithm": "grid"},
        "space": {
            "seed": {"grid": list(range(args.trials))},
            "data_dir": str(data_dir),
            "val_fraction": 0.1,
            "batch_size": args.batch_size,
            "steps_per_iteration": args.steps,
            "width": args.width,
            **LOOP_CONFIG,
        },
        "scheduler": {"type": "fifo"},
        "resources": {"cpu": args.cpu_per_trial, "gpu": gpu},
        "checkpoint": {"frequency": 0, "at_end": False},
    }


def run_sweeps(report: Report, data_dir: Path, args: Any) -> None:
    rows: list[dict[str, Any]] = []
    report.sections["sweeps"] = rows
    storage = scratch_storage()
    table = report.table(
        "cifar10_resnet sweeps sharing one GPU",
        [
            "gpu/trial",
            "at once",
            "wall s",
            "trials/h",
            "x vs gpu 1",
            "samples/s",
            "util mean %",
            "p90 %",
            "mem MiB",
        ],
    )
    with local_ray(num_cpus=args.cpus, num_gpus=None if args.gpus[0] else 0):
        for index, gpu in enumerate(args.gpus):
            spec = sweep_spec(f"{index:02d}-gpu{gpu:g}", data_dir, gpu, args)
            with sample_gpu() as samples:
                sweep = run_sweep(spec, storage)
            trained = len(sweep.results) * args.steps * args.batch_size
            row = {
                "gpu": gpu,
                "concurrent": int(1 / gpu) if gpu else int(args.cpus // args.cpu_per_trial),
                "wall_s": sweep.wall_s,
                "trials_per_hour": sweep.num_trials / sweep.wall_s * 3600,
                "samples_per_s": trained / sweep.wall_s,
                "trial_samples_per_s_median": float(sweep.results["samples_per_s"].median()),
                **samples.summary(),
            }
            rows.append(row)
            report.save()
            report.log(f"gpu {gpu:g}: {row['trials_per_hour']:.0f} trials/h")
    base = rows[0]["trials_per_hour"]
    for row in rows:
        row["ratio_vs_first"] = row["trials_per_hour"] / base
        table.append(
            [
                row["gpu"],
                row["concurrent"],
                row["wall_s"],
                row["trials_per_hour"],
                row["ratio_vs_first"],
                row["samples_per_s"],
                row["gpu_util_mean"],
                row["gpu_util_p90"],
                row["gpu_mem_max_mib"],
            ]
        )


# --------------------------------------------------------------------------- 3. first result


def first_result(report: Report, data_dir: Path, args: Any) -> None:
    import yaml

    rows: list[dict[str, Any]] = []
    report.sections["first_result"] = rows
    table = report.table(
        "tunefleet run -> a trial's first result (new process, embedded Ray), seconds from the start",
        [
            "run",
            "first result",
            "Ray up",
            "trial process",
            "trainable imported",
            "setup done",
            "first iteration s",
        ],
    )
    for attempt in ("cold", "warm"):
        workdir = Path(tempfile.mkdtemp(prefix="tunefleet-first-"))
        spec = sweep_spec("first", data_dir, 1.0 if args.gpus[0] else 0.0, args)
        spec["space"]["seed"] = 0
        spec["max_iterations"] = 1
        spec["storage"] = str(workdir / "results")
        path = workdir / "first.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tunefleet.cli", "run", str(path), "--top", "1"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[tuple[float, str]] = []
        reader = threading.Thread(target=_timestamp_lines, args=(proc, lines))
        reader.start()
        result, seen = _first_result_row(workdir / "results" / "first", proc, timeout_s=300)
        proc.wait(timeout=300)
        reader.join(timeout=30)
        if result is None:
            raise RuntimeError("no result within 300 s:\n" + "".join(line for _, line in lines)[-3000:])
        ray_up = next((t - started for t, line in lines if line.startswith("tunefleet: results in")), None)
        row = {
            "run": attempt,
            "first_result_s": seen - started,
            "ray_up_s": ray_up,
            "trial_process_started_s": result["process_started"] - started,
            "trainable_imported_s": result["imported"] - started,
            "setup_done_s": result["setup_ended"] - started,
            "setup_s": result["setup_ended"] - result["setup_started"],
            "first_iteration_s": result["time_this_iter_s"],
        }
        rows.append(row)
        table.append(
            [
                attempt,
                row["first_result_s"],
                ray_up,
                row["trial_process_started_s"],
                row["trainable_imported_s"],
                row["setup_done_s"],
                row["first_iteration_s"],
            ]
        )
        report.save()
        report.log(f"first result ({attempt}): {row['first_result_s']:.1f} s")


def _timestamp_lines(proc: subprocess.Popen[str], lines: list[tuple[float, str]]) -> None:
    """Appends ``(time.time(), line)`` for every line the process prints, as it prints it."""
    for line in proc.stdout or []:
        lines.append((time.time(), line))


def _first_result_row(
    directory: Path, proc: subprocess.Popen[str], timeout_s: float
) -> tuple[dict[str, Any] | None, float]:
    """The first result a trial wrote under ``directory`` and when it was seen (polled every 50 ms)."""
    deadline = time.time() + timeout_s
    while True:
        for path in directory.glob("*/result.json"):
            text = path.read_text().strip()
            if text:
                return json.loads(text.splitlines()[0]), time.time()
        if proc.poll() is not None or time.time() > deadline:
            return None, time.time()
        time.sleep(0.05)


# --------------------------------------------------------------------------- 4. ddp


def ddp_on_gpu(report: Report, data_dir: Path, args: Any) -> None:
    storage = scratch_storage()
    spec = sweep_spec("ddp-nccl", data_dir, 0.0, args)
    spec["space"]["seed"] = 0
    spec["max_iterations"] = 2
    gpu = 1 if args.gpus[0] else 0
    spec["resources"] = {"cpu": 0, "workers": {"count": 1, "cpu": args.cpu_per_trial, "gpu": gpu}}
    with local_ray(num_cpus=args.cpus, num_gpus=None if gpu else 0):
        sweep = run_sweep(spec, storage)
    last = sweep.results.iloc[-1]
    report.figures["ddp"] = {
        "world_size": int(last.get("world_size", 0)),
        "samples_per_s": float(last["samples_per_s"]),
        "val_accuracy": float(last["val_accuracy"]),
        "wall_s": sweep.wall_s,
        "errors": sweep.num_errors,
    }
    report.note(
        f"ddp: 1 worker with gpu {gpu}: world_size {report.figures['ddp']['world_size']}, "
        f"{report.figures['ddp']['samples_per_s']:.0f} samples/s, no errors"
    )


def parse_args(argv: Sequence[str] | None) -> Any:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["loop", "sweeps", "first_result", "ddp"])
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps per iteration")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gpus", nargs="+", type=float, default=[1, 0.5, 0.25])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--sweep-iterations", type=int, default=2)
    parser.add_argument("--cpu-per-trial", type=float, default=2)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.smoke:
        args.train_images, args.batch_size, args.steps, args.width, args.rounds = 500, 16, 2, 4, 2
        args.gpus, args.trials, args.sweep_iterations, args.cpu_per_trial = [0.0], 2, 1, 1
        args.cpus = min(args.cpus, 2)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = Report("gpu_workloads", smoke=args.smoke, output=args.output, argv=argv)
    report.settings.update({k: v for k, v in vars(args).items() if k not in ("output",)})
    test_images = 100 if args.smoke else 10_000
    data_dir = write_random_archive(
        scratch_storage() / "cifar-10-batches-py", per_batch=args.train_images // 5, test=test_images
    )
    parts = {"loop": compare_loops, "sweeps": run_sweeps, "first_result": first_result, "ddp": ddp_on_gpu}
    for name in args.parts:
        started = time.time()
        try:
            parts[name](report, data_dir, args)
        except Exception as exc:  # one part failing must not lose the others' figures
            report.note(f"{name} failed: {type(exc).__name__}: {exc}")
            report.log(f"{name} failed: {exc!r}")
        report.log(f"{name} took {time.time() - started:.0f} s")
        report.save()
    return report.finish()


if __name__ == "__main__":
    main()
