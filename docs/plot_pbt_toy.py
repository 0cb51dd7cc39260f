"""Run the PBT paper's toy with and without PBT, and plot Q over time into docs/pbt_toy.png.

    python docs/plot_pbt_toy.py [--storage DIR] [--out docs/pbt_toy.png]

Prints the best Q of each run and the number of exploits PBT made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from tunefleet import load_experiment, load_results, run_experiment

HERE = Path(__file__).resolve().parent


def q_by_member(path: Path) -> pd.DataFrame:
    """Q of every member at every training iteration (columns: trial ids)."""
    history = load_results(path).history()
    return history.pivot_table(index="training_iteration", columns="trial_id", values="Q", aggfunc="last")


def plot(runs: dict[str, pd.DataFrame]) -> plt.Figure:
    """One thin line per member, the population's best in bold, one colour per run."""
    figure, axes = plt.subplots(figsize=(7, 4))
    for (label, frame), colour in zip(runs.items(), ("tab:blue", "tab:orange"), strict=False):
        axes.plot(frame.index, frame.to_numpy(), color=colour, alpha=0.35, linewidth=1, label="_members")
        axes.plot(frame.index, frame.max(axis=1), color=colour, linewidth=2.5, label=f"{label}: best member")
    axes.axhline(1.2, color="grey", linestyle=":", linewidth=1, label="optimum Q = 1.2")
    axes.set(xlabel="training iteration", ylabel="Q(θ) = 1.2 - (θ0² + θ1²)", ylim=(-0.5, 1.25))
    axes.set_title("PBT paper toy: population h = (1, 0), (0, 1)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="tunefleet_results")
    parser.add_argument("--out", default=str(HERE / "pbt_toy.png"))
    args = parser.parse_args()

    runs, paths = {}, {}
    for label, name in (("sync PBT", "pbt_toy"), ("no PBT", "pbt_toy_no_pbt")):
        # The shipped experiments, by name (experiments/pbt_toy.yaml, experiments/pbt_toy_no_pbt.yaml).
        outcome = run_experiment(load_experiment(name), storage=args.storage)
        paths[label], runs[label] = outcome.path, q_by_member(outcome.path)
        print(f"{label}: best Q {runs[label].max().max():.4f} ({outcome.path})")
    print(f"sync PBT: {len(load_results(paths['sync PBT']).pbt_lineage())} exploits")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plot(runs).savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
