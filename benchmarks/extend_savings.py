"""What ``tunefleet extend`` saves: a small sweep extended, against a fresh sweep of the same final size.

Per seed: (1) a small MNIST-1D MLP sweep, ``--small-trials`` x ``--small-iterations`` with Hyperopt
and ASHA; (2) ``tunefleet extend`` of it to ``--final-iterations``, with ``num_samples`` the
difference to ``--final-trials`` (so that old + new trials = the final size; continued trials
count as new trials); (3) a fresh sweep of ``--final-trials`` x ``--final-iterations`` with the same
settings. Reported: trial-iterations used (small + extension, against fresh), the best validation
accuracy, and the test accuracy of the trial chosen by validation. Counts, not times: they do
not depend on the machine's load.

    python -m benchmarks.extend_savings --seeds 0 1 2 --output benchmarks/results/extend_savings.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

EXPERIMENT: dict[str, Any] = {
    "name": "small",
    "trainable": "mnist1d_mlp",
    "metric": "val_accuracy",
    "mode": "max",
    "search": {"algorithm": "hyperopt", "n_initial_points": 5, "max_concurrent": 2},
    "space": {
        "lr": {"loguniform": [1.0e-4, 3.0e-2]},
        "weight_decay": {"loguniform": [1.0e-5, 1.0e-2]},
        "dropout": {"uniform": [0.0, 0.5]},
        "hidden": {"choice": [64, 128, 256]},
        "optimizer": "adamw",
        # A constant rate: a cosine schedule's horizon is max_iterations, which the extend changes.
        "lr_schedule": "constant",
        "steps_per_iteration": 30,
    },
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3},
    "resources": {"cpu": 1, "gpu": 0},
}


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tunefleet.cli", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"tunefleet {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def summary(*directories: Path) -> list[dict[str, Any]]:
    rows = json.loads(cli("compare", *map(str, directories), "--format", "json"))
    for row, directory in zip(rows, directories, strict=True):
        best = json.loads(cli("analyze", str(directory), "--format", "json", "--top", "1"))
        row["test_accuracy_of_best"] = (best.get("test_metrics") or {}).get("test_accuracy")
        row["best_sweep"] = (best.get("best") or {}).get("sweep")
    return rows


def one_seed(seed: int, args: argparse.Namespace, storage: Path) -> dict[str, Any]:
    path = storage / "small.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "storage": str(storage)}))
    common = ["--set", f"search.seed={seed}"]
    cli(
        "run",
        str(path),
        *common,
        "--set",
        f"num_samples={args.small_trials}",
        "--set",
        f"max_iterations={args.small_iterations}",
    )
    small = storage / "small"
    added = args.final_trials - args.small_trials
    text = cli(
        "extend",
        str(small),
        "--set",
        f"num_samples={added}",
        "--set",
        f"max_iterations={args.final_iterations}",
    )
    extended = storage / "small-extended"
    cli(
        "run",
        str(path),
        *common,
        "--name",
        "fresh",
        "--set",
        f"num_samples={args.final_trials}",
        "--set",
        f"max_iterations={args.final_iterations}",
    )
    fresh = storage / "fresh"
    small_row, extended_row, fresh_row = summary(small, extended, fresh)
    record = json.loads((extended / "tunefleet_extension.json").read_text())
    return {
        "seed": seed,
        "small": small_row,
        "extended": extended_row,  # includes the small sweep's trials and compute
        "fresh": fresh_row,
        "continued": record["continued"],
        "warm_started": len(record["warm_started"]),
        "extend_output": [line for line in text.splitlines() if line.startswith("tunefleet: ")][:6],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--small-trials", type=int, default=10)
    parser.add_argument("--small-iterations", type=int, default=10)
    parser.add_argument("--final-trials", type=int, default=20)
    parser.add_argument("--final-iterations", type=int, default=20)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="extend-savings-") as tmp:
            results.append(one_seed(seed, args, Path(tmp)))
        print(json.dumps(results[-1], indent=2), flush=True)
        if args.output:
            args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
