"""Trainable efficiency: samples/s of ``TorchTrainable`` versus a bare PyTorch loop of the same model.

Both train the MNIST-1D CNN (``Mnist1dCNN``: the paper's 1-D CNN with tunefleet's defaults: 25
channels, dropout 0.3, Adam at lr 1e-2, batch 128) on the same data tensors, with the same
number of torch threads, in this one process. One repetition of an arm is one Tune iteration:
``steps_per_iteration`` optimizer steps on shuffled batches, then an evaluation on the
validation and test sets. The arms alternate (A B, B A, ...) so that a busy phase of a shared
machine hits both; the figure is the median of the per-round ratios, with its spread.

- ``tunefleet``: ``Mnist1dCNN.step()`` called directly (no Ray: the trainable itself is measured);
  samples/s of the whole iteration timed from outside, and of the training steps alone as the
  trainable reports it (``samples_per_s``).
- ``bare``: the loop anyone would write: ``randperm`` batches, forward, cross-entropy,
  ``zero_grad``, ``backward``, ``step``; evaluation of loss and accuracy under ``no_grad``.
  It starts from the trainable's initial weights.

Besides wall-clock samples/s, each iteration's samples per CPU-second of this process is
recorded: with one torch thread it does not count the time spent waiting for a core that other
jobs hold, so on a shared machine it is the steadier figure.

    python -m benchmarks.trainable_efficiency            # 30 interleaved rounds
    python -m benchmarks.trainable_efficiency --smoke    # 2 rounds of 10 steps
"""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.common import Report, argument_parser, paired_rates, rate_figures
from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.models import CNN1d
from tunefleet.trainables.tasks import Mnist1dCNN

NAME = "trainable_efficiency"
_LENGTH, _CLASSES = 40, 10


class BareLoop:
    """A hand-written training loop of the same model, data, batch size and optimizer."""

    def __init__(
        self, data: DataSplits, hp: Any, steps: int, initial_weights: dict[str, Tensor], seed: int = 0
    ) -> None:
        torch.manual_seed(seed)
        self.data = data
        self.steps = steps
        self.batch_size = hp.batch_size
        self.model = CNN1d(
            _LENGTH, _CLASSES, channels=hp.channels, activation=hp.activation, dropout=hp.dropout
        )
        # The very weights the trainable starts from: both arms then do the same arithmetic.
        self.model.load_state_dict(initial_weights)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=hp.lr, betas=(hp.beta1, hp.beta2))
        self.order = torch.randperm(len(data.x_train))
        self.position = 0
        self.last_train_seconds = 0.0

    def iteration(self) -> dict[str, float]:
        """``steps`` optimizer steps, then validation and test loss and accuracy."""
        data, model = self.data, self.model
        start = time.perf_counter()
        model.train()
        for _ in range(self.steps):
            if self.position + self.batch_size > len(self.order):
                self.order, self.position = torch.randperm(len(data.x_train)), 0
            idx = self.order[self.position : self.position + self.batch_size]
            self.position += self.batch_size
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.last_train_seconds = time.perf_counter() - start
        model.eval()
        metrics = {}
        with torch.no_grad():
            for split, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test)):
                logits = model(x)
                metrics[f"{split}_loss"] = F.cross_entropy(logits, y).item()
                metrics[f"{split}_accuracy"] = (logits.argmax(1) == y).float().mean().item()
        return metrics


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved repetitions of both arms")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps per iteration")
    parser.add_argument("--batch-size", type=int, default=None, help="default: Mnist1dCNN's (128)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a 1-CPU trial gets 1)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations of each arm first")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.steps, args.warmup = 2, 10, 1

    # Pinned threads: the same intra- and inter-op thread count for both arms, for the whole run.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    report = Report(NAME, smoke=args.smoke, output=args.output)

    config: dict[str, Any] = {"steps_per_iteration": args.steps, "seed": 0}
    if args.batch_size:
        config["batch_size"] = args.batch_size
    trainable = Mnist1dCNN(config=dict(config))  # Ray pops keys from the dict it is given
    hp, data = trainable.hp, trainable.data
    assert isinstance(data, DataSplits)  # tensors, not streamed datasets
    bare = BareLoop(data, hp, args.steps, copy.deepcopy(trainable.model.state_dict()))
    samples = args.steps * hp.batch_size
    report.settings = {
        "model": f"Mnist1dCNN (CNN1d, channels={hp.channels}, dropout={hp.dropout})",
        "optimizer": f"{hp.optimizer} lr={hp.lr}",
        "batch_size": hp.batch_size,
        "steps_per_iteration": args.steps,
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "rounds": args.rounds,
        "warmup_iterations": args.warmup,
        "train_examples": len(data.x_train),
        "eval_examples": len(data.x_val) + len(data.x_test),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }

    def tunefleet_iteration() -> float:
        return float(trainable.step()["samples_per_s"])

    def bare_iteration() -> float:
        bare.iteration()
        return samples / bare.last_train_seconds

    report.log(f"warm-up: {args.warmup} iteration(s) of each arm, then {args.rounds} rounds")
    rates = paired_rates(
        {"tunefleet": tunefleet_iteration, "bare": bare_iteration},
        samples,
        args.rounds,
        args.warmup,
        log=report.log,
    )

    table = report.table(
        f"MNIST-1D CNN, batch {hp.batch_size}, {args.steps} steps per iteration, {torch.get_num_threads()} "
        f"thread(s), {args.rounds} interleaved rounds: samples/s, median [interquartile range]",
        ["what is timed", "tunefleet", "bare PyTorch", "ratio (paired per round)"],
    )
    kinds = {
        "wall": "whole iteration (train + eval), wall clock",
        "cpu": "whole iteration (train + eval), per CPU-second",
        "train": "training steps only, wall clock",
    }
    figures = rate_figures(rates, kinds, table)
    report.figures = figures
    report.note(
        "ratio = tunefleet / bare of the same round; > 1 means tunefleet is faster. The trainable's "
        "training-only rate is its own samples_per_s metric; its iteration also computes macro "
        "precision/recall/F1 that the bare loop does not."
    )
    report.finish()


if __name__ == "__main__":
    main()
