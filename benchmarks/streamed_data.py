"""Streamed data: samples/s of ``TorchTrainable`` on a map-style dataset versus a bare DataLoader loop.

The data: synthetic CIFAR-sized images (uint8, 3 x 32 x 32, generated in memory), read one sample
at a time from a ``torch.utils.data.Dataset`` and augmented per sample in the DataLoader workers
(random crop with 4-pixel padding, horizontal flip, normalisation; torch's global generator).
Both arms train the same model from the same initial weights with SGD + momentum, batch 128,
the same number of DataLoader worker processes and one torch thread in the training process.
Figures: samples/s of the whole iteration (wall clock), per CPU-second of the training process
(steadier on a shared machine; the workers' CPU time is not in it), and of the training steps.

- ``tunefleet``: a :class:`TorchTrainable` whose ``load_data`` returns
  :class:`~tunefleet.trainables.data.DatasetSplits`; ``step()`` called directly (no Ray). It adds
  what makes its runs exact: its own batch sampler, a seed per sample (torch, numpy and Python
  generators seeded in the worker), one worker pool for the three splits.
- ``bare``: the loop anyone would write: ``DataLoader(shuffle=True, drop_last=True,
  persistent_workers=True)`` for training and one for each evaluation set, forward, loss,
  ``zero_grad``, ``backward``, ``step``; evaluation of loss and accuracy (the trainable also
  computes macro precision, recall and F1).

One repetition is one Tune iteration: ``--steps`` optimizer steps, then evaluation of the
validation and test sets. The arms alternate (A B, B A, ...); each figure is the median of the
per-round ratios. Two models bracket the cost of the data path: ``resnet`` (ResNet-18 at width
8: training-bound) and ``linear`` (a linear classifier: loading-bound, so the per-sample seeding
shows).

    python -m benchmarks.streamed_data              # 10 rounds per model
    python -m benchmarks.streamed_data --smoke      # 2 rounds of 3 steps of 32, small data
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import Report, argument_parser, paired_rates, rate_figures
from tunefleet.trainables import TorchTrainable, TrainingHyperparams
from tunefleet.trainables.data import DatasetSplits
from tunefleet.trainables.models import Linear, ResNet18

NAME = "streamed_data"
_MEAN = torch.tensor([0.49, 0.48, 0.45]).reshape(3, 1, 1)
_STD = torch.tensor([0.25, 0.24, 0.26]).reshape(3, 1, 1)


class SyntheticImages(Dataset[tuple[Tensor, int]]):
    """``n`` random uint8 images of 3 x 32 x 32 with labels 0..9: items are ``(uint8 tensor, int)``."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        self.labels = rng.integers(0, 10, size=n)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return torch.from_numpy(self.images[index]), int(self.labels[index])


def normalize(image: Tensor) -> Tensor:
    return (image.float() / 255 - _MEAN) / _STD


def augment(image: Tensor) -> Tensor:
    """Random crop (4 pixels of zero padding) and horizontal flip of one image, then normalise."""
    padded = F.pad(image, (4, 4, 4, 4))
    dy, dx = torch.randint(0, 9, (2,)).tolist()
    image = padded[:, dy : dy + 32, dx : dx + 32]
    if torch.rand(()) < 0.5:
        image = image.flip(2)
    return normalize(image)


def build(model: str) -> nn.Module:
    return ResNet18(10, width=8) if model == "resnet" else Linear(3 * 32 * 32, 10)


class StreamedHyperparams(TrainingHyperparams):
    model: Literal["resnet", "linear"] = Field("resnet", description="ResNet-18 at width 8, or linear.")
    train_size: int = Field(4000, ge=1)
    eval_size: int = Field(500, ge=1)


class StreamedImages(TorchTrainable[StreamedHyperparams]):
    """Synthetic CIFAR-sized images streamed from a dataset with per-sample augmentation."""

    Hyperparams = StreamedHyperparams
    task = "classification"
    data_hyperparams = ("train_size", "eval_size")
    eval_batch_size = 250

    def load_data(self, hp: StreamedHyperparams) -> DatasetSplits:
        return DatasetSplits(
            SyntheticImages(hp.train_size, 1),
            SyntheticImages(hp.eval_size, 2),
            SyntheticImages(hp.eval_size, 3),
            train_transform=augment,
            val_transform=normalize,
            test_transform=normalize,
        )

    def build_model(self, hp: StreamedHyperparams, data: Any) -> nn.Module:
        return build(hp.model)


class BareLoop:
    """A hand-written DataLoader loop of the same model, data, batch size, optimizer and workers."""

    def __init__(
        self, data: DatasetSplits, hp: StreamedHyperparams, workers: int, initial_weights: dict[str, Tensor]
    ) -> None:
        self.model = build(hp.model)
        self.model.load_state_dict(initial_weights)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )
        self.steps = hp.steps_per_iteration
        common: dict[str, Any] = {"num_workers": workers, "persistent_workers": workers > 0}
        self.train_loader = DataLoader(
            _Transformed(data.train, augment),
            batch_size=hp.batch_size,
            shuffle=True,
            drop_last=True,
            **common,
        )
        self.eval_loaders = [
            DataLoader(_Transformed(split, normalize), batch_size=250, **common)
            for split in (data.val, data.test)
        ]
        self.batches = iter(self.train_loader)
        self.last_train_seconds = 0.0

    def _next(self) -> tuple[Tensor, Tensor]:
        try:
            return next(self.batches)
        except StopIteration:  # a new epoch
            self.batches = iter(self.train_loader)
            return next(self.batches)

    def iteration(self) -> None:
        start = time.perf_counter()
        self.model.train()
        for _ in range(self.steps):
            x, y = self._next()
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.last_train_seconds = time.perf_counter() - start
        self.model.eval()
        with torch.no_grad():
            for loader in self.eval_loaders:  # loss and accuracy, one host sync per set
                loss_sum = correct = torch.zeros(())
                for x, y in loader:
                    logits = self.model(x)
                    loss_sum = loss_sum + F.cross_entropy(logits, y, reduction="sum")
                    correct = correct + (logits.argmax(1) == y).sum()
                float(loss_sum), float(correct)


class _Transformed(Dataset[tuple[Tensor, int]]):
    def __init__(self, dataset: Dataset[tuple[Tensor, int]], transform: Callable[[Tensor], Tensor]) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        x, y = self.dataset[index]
        return self.transform(x), y


def measure_model(
    report: Report, model: str, args: Any
) -> tuple[StreamedImages, BareLoop, dict[str, dict[str, list[float]]]]:
    """Runs both arms interleaved for one model; returns them and their per-round rates."""
    config: dict[str, Any] = {
        "model": model,
        "optimizer": "momentum",
        "lr": 0.05,
        "batch_size": args.batch_size,
        "steps_per_iteration": args.steps,
        "num_workers": args.workers,
        "train_size": args.train_size,
        "eval_size": args.eval_size,
    }
    trainable = StreamedImages(config=dict(config))  # Ray pops keys from the dict it is given
    assert isinstance(trainable.data, DatasetSplits)
    bare = BareLoop(trainable.data, trainable.hp, args.workers, copy.deepcopy(trainable.model.state_dict()))
    samples = args.steps * args.batch_size

    def tunefleet_iteration() -> float:
        return float(trainable.step()["samples_per_s"])

    def bare_iteration() -> float:
        bare.iteration()
        return samples / bare.last_train_seconds

    report.log(f"{model}: warm-up, {args.warmup} iteration(s) of each arm, then {args.rounds} rounds")
    rates = paired_rates(
        {"tunefleet": tunefleet_iteration, "bare": bare_iteration},
        samples,
        args.rounds,
        args.warmup,
        log=lambda text: report.log(f"{model}: {text}"),
    )
    return trainable, bare, rates


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved repetitions of both arms")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per iteration")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes (both arms)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations of each arm first")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--eval-size", type=int, default=500)
    parser.add_argument("--models", default="resnet,linear", help="comma-separated: resnet, linear")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.steps, args.warmup, args.batch_size = 2, 3, 1, 32
        args.train_size, args.eval_size = 300, 64

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    report = Report(NAME, smoke=args.smoke, output=args.output, argv=argv)
    report.settings = {
        "data": f"{args.train_size} training and 2 x {args.eval_size} evaluation images, 3x32x32 uint8",
        "augmentation": "per sample in the workers: random crop (padding 4), horizontal flip, normalisation",
        "batch_size": args.batch_size,
        "steps_per_iteration": args.steps,
        "dataloader_workers": args.workers,
        "torch_threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "warmup_iterations": args.warmup,
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    table = report.table(
        f"batch {args.batch_size}, {args.steps} steps per iteration, {args.workers} DataLoader worker(s), "
        f"{args.rounds} interleaved rounds: samples/s, median [interquartile range]",
        ["model", "what is timed", "tunefleet", "bare DataLoader loop", "ratio (paired per round)"],
    )
    kinds = {
        "wall": "whole iteration (train + eval), wall clock",
        "cpu": "whole iteration, per CPU-second of the training process",
        "train": "training steps only, wall clock",
    }
    figures: dict[str, Any] = {}
    for model in args.models.split(","):
        trainable, bare, rates = measure_model(report, model, args)
        figures[model] = rate_figures(rates, kinds, table, row_prefix=[model])
        trainable.stop()
        del bare  # its persistent workers stop with its loaders
        report.figures = figures
        report.save()  # partial figures survive an interrupted run
    report.figures = figures
    report.note(
        "ratio = tunefleet / bare of the same round; > 1 means tunefleet is faster. Wall clock is "
        "on the machine as it was (see the load average), both arms interleaved; the CPU-second "
        "figure counts the training process only (one torch thread), not its DataLoader workers, "
        "so it leaves out time spent waiting for a core but also the workers' loading work."
    )
    return report.finish()


if __name__ == "__main__":
    main()
