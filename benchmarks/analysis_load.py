"""How long loading a big experiment directory takes: tunefleet's reader vs Ray's ExperimentAnalysis.

Builds (once) a synthetic experiment with Ray Tune's exact on-disk layout: it runs a real
two-trial Ray Tune sweep, then clones its trial entries (experiment state, result.json,
progress.csv, params.json, error.txt) into N trials whose results look like an ASHA sweep
(grace period 3, reduction factor 3, 30 iterations max: most trials stop at 3 iterations).
Ray's own ExperimentAnalysis can read the result, so both readers are timed on the same files.

    python benchmarks/analysis_load.py --trials 10000 --dir /tmp/synthetic-10k [--ray]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "token")

TEMPLATE_ID_LENGTH = 11  # Ray's trial ids: "<5 hex>_<5 digits>"
METRIC, MODE = "val_accuracy", "max"


def _template_sweep(workdir: Path) -> Path:
    """A real two-trial Ray Tune experiment (one trial fails) to copy the layout from."""
    import ray
    from ray import tune

    from tunefleet.run.session import init_local_ray

    def trainable(config: dict[str, Any]) -> None:
        if config["lr"] > 0.05:
            raise ValueError("loss diverged")
        tune.report({METRIC: 0.5, "val_loss": 1.0, "train_loss": 1.0, "test_accuracy": 0.5})

    init_local_ray(num_cpus=2, log_to_driver=False)
    try:
        tune.Tuner(
            trainable,
            param_space={"lr": tune.grid_search([0.01, 0.09]), "batch_size": 64, "optimizer": "adam"},
            tune_config=tune.TuneConfig(metric=METRIC, mode=MODE),
            run_config=tune.RunConfig(storage_path=str(workdir), name="template", verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    return workdir / "template"


def _substitute(text: str, old: str, new: str) -> str:
    """Replace a string in JSON text and inside Ray's hex-pickled fields (same length only)."""
    assert len(old) == len(new)
    return text.replace(old, new).replace(old.encode().hex(), new.encode().hex())


def _curve(rng: random.Random, iterations: int, quality: float) -> list[float]:
    return [min(0.99, quality * (1 - math.exp(-(i + 1) / 4)) + rng.gauss(0, 0.01)) for i in range(iterations)]


def _asha_iterations(rng: random.Random) -> int:
    draw = rng.random()
    return 3 if draw < 2 / 3 else 9 if draw < 8 / 9 else 27 if draw < 26 / 27 else 30


def build(out: Path, num_trials: int, seed: int = 0) -> None:
    """Write a synthetic experiment of ``num_trials`` trials into ``out``."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as workdir:
        template = _template_sweep(Path(workdir))
        state_file = next(template.glob("experiment_state-*.json"))
        state = json.loads(state_file.read_text())
        entries = [(json.loads(t), json.loads(m)) for t, m in state["trial_data"]]
        good = next((t, m) for t, m in entries if t["status"] == "TERMINATED")
        bad = next((t, m) for t, m in entries if t["status"] == "ERROR")
        good_lines = (template / good[0]["relative_logdir"] / "result.json").read_text().splitlines()
        good_row = json.loads(good_lines[0])
        error_text = (template / bad[0]["relative_logdir"] / "error.txt").read_text()
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for extra in ("tuner.pkl", "basic-variant-state-*.json"):
            for path in template.glob(extra):
                shutil.copy(path, out / path.name)
        trial_data = []
        start = state["stats"]["start_time"]
        for index in range(num_trials):
            failed = rng.random() < 0.01
            trial, metadata = copy.deepcopy(bad if failed else good)
            old_id = trial["trial_id"]
            new_id = f"{old_id[:5]}_{index:05d}"
            config: dict[str, Any] = {
                "lr": 10 ** rng.uniform(-4, -1),
                "batch_size": rng.choice([32, 64, 128]),
                "optimizer": rng.choice(["sgd", "momentum", "adam"]),
                "weight_decay": 10 ** rng.uniform(-6, -2),
                "dropout": rng.uniform(0, 0.3),
            }
            relative = trial["relative_logdir"].replace(old_id, new_id)
            trial.update(config=config, _Trial__unresolved_config=config, evaluated_params=config)
            trial["experiment_tag"] = f"{index}_lr={config['lr']:.4g}"
            folder = out / relative
            folder.mkdir()
            (folder / "params.json").write_text(json.dumps(config, indent=2))
            trial_start = start + index * 0.5
            metadata["start_time"] = trial_start
            rows = []
            if failed:
                (folder / "error.txt").write_text(error_text)
                (folder / "result.json").write_text("")
            else:
                quality = 0.95 - abs(math.log10(config["lr"]) + 2.5) * 0.15 - config["dropout"] * 0.2
                elapsed = 0.0
                for iteration, value in enumerate(_curve(rng, _asha_iterations(rng), quality), start=1):
                    step = rng.uniform(0.8, 1.2)
                    elapsed += step
                    row = dict(good_row)
                    row.update(
                        {
                            METRIC: value,
                            "val_loss": 1 - value,
                            "train_loss": 1.05 - value,
                            "test_accuracy": value - 0.01,
                            "lr": config["lr"],
                            "training_iteration": iteration,
                            "iterations_since_restore": iteration,
                            "time_this_iter_s": step,
                            "time_total_s": elapsed,
                            "time_since_restore": elapsed,
                            "timestamp": int(trial_start + elapsed),
                            "trial_id": new_id,
                            "config": config,
                        }
                    )
                    rows.append(row)
                (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
                flat = [{k: v for k, v in r.items() if k != "config"} for r in rows]
                header = list(flat[0])
                lines = [",".join(header)] + [",".join(str(r[k]) for k in header) for r in flat]
                (folder / "progress.csv").write_text("\n".join(lines) + "\n")
                metadata["last_result"] = rows[-1]
                values = [r[METRIC] for r in rows]
                analysis = metadata["metric_analysis"].setdefault(METRIC, {})
                analysis.update(max=max(values), min=min(values), last=values[-1])
            trial["relative_logdir"] = relative
            trial_json = _substitute(json.dumps(trial, indent=2), old_id, new_id)
            trial_data.append([trial_json, _substitute(json.dumps(metadata), old_id, new_id)])
        state["trial_data"] = trial_data
        (out / state_file.name).write_text(json.dumps(state))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "tunefleet-synthetic")
    parser.add_argument("--rebuild", action="store_true", help="Build the directory even if it exists.")
    parser.add_argument("--ray", action="store_true", help="Also time ray.tune.ExperimentAnalysis.")
    args = parser.parse_args()
    if args.rebuild or not any(args.dir.glob("experiment_state-*.json")):
        began = time.perf_counter()
        build(args.dir, args.trials)
        print(f"built {args.trials} trials in {args.dir} in {time.perf_counter() - began:.1f} s")

    from tunefleet.analysis import load_results

    began = time.perf_counter()
    results = load_results(args.dir, metric=METRIC, mode=MODE)
    trials = results.trials()
    loaded = time.perf_counter() - began
    summary = results.summary()
    summarized = time.perf_counter() - began - loaded
    print(
        f"tunefleet load_results + trials(): {loaded:.2f} s for {len(trials)} trials and "
        f"{len(results.history())} results; summary(): {summarized:.2f} s more; "
        f"best {summary['best']['trial_id']} = {summary['best']['value']:.4f}"
    )
    if args.ray:
        from ray.tune import ExperimentAnalysis

        began = time.perf_counter()
        analysis = ExperimentAnalysis(str(args.dir), default_metric=METRIC, default_mode=MODE)
        frames = analysis.trial_dataframes
        best = analysis.get_best_trial(scope="last")
        print(
            f"ray ExperimentAnalysis + trial_dataframes + get_best_trial: "
            f"{time.perf_counter() - began:.2f} s for {len(frames)} trials; best {best and best.trial_id}"
        )


if __name__ == "__main__":
    main()
