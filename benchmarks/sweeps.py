"""Sweeps for the GPU and search benchmarks: run an experiment mapping through tunefleet's own
runner on one long-lived local Ray and read every result back.

Each sweep is exactly what ``tunefleet run FILE.yaml --address <this Ray>`` would run: the mapping
is written to a YAML file, validated by :func:`tunefleet.config.load_experiment` and run by
:func:`tunefleet.run.run_experiment`. Ray is started once per benchmark (not once per sweep) so
that timings measure the sweeps, not Ray's start-up. The machine record and the JSON are
:mod:`benchmarks.common`'s.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.common import REPO  # also sets RAY_AUTH_MODE before Ray is imported

__all__ = ["Sweep", "local_ray", "run_sweep", "scratch_storage"]

BENCHMARKS_DIR = REPO / "benchmarks"


@dataclass(frozen=True)
class Sweep:
    """A finished sweep.

    Attributes:
        name: The experiment name.
        path: Its experiment directory.
        started: ``time.time()`` just before the runner was called.
        wall_s: Seconds from calling the runner to its return (validation not included).
        num_trials: Trials that ran.
        num_errors: Trials that ended in ERROR.
        results: Every result every trial reported, one row each, with ``trial_id``,
            ``training_iteration``, ``time_total_s``, ``timestamp``, the metrics, and the
            trial's config as ``config/<key>``.
    """

    name: str
    path: Path
    started: float
    wall_s: float
    num_trials: int
    num_errors: int
    results: pd.DataFrame


@contextlib.contextmanager
def local_ray(num_cpus: int, num_gpus: int | None = None) -> Iterator[None]:
    """One local Ray for the whole benchmark, set up like ``tunefleet run``'s embedded one.

    127.0.0.1 only, no dashboard, token authentication. The ``benchmarks`` package is shipped
    to the workers (Ray's ``py_modules``, as tunefleet ships a user's module), so trainables
    defined in a benchmark module import there. ``num_gpus=None`` lets Ray detect the GPUs.
    """
    import ray

    from tunefleet.run.session import init_local_ray

    if ray.is_initialized():  # e.g. the test suite's session Ray: use it as it is
        yield
        return
    init_local_ray(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        log_to_driver=False,
        runtime_env={"py_modules": [str(BENCHMARKS_DIR)]},
    )
    try:
        yield
    finally:
        ray.shutdown()


def run_sweep(spec: Mapping[str, Any], storage: Path) -> Sweep:
    """Validate and run one experiment mapping (the content of an experiment YAML file).

    Raises:
        tunefleet.errors.ConfigError: The mapping is not a valid experiment.
        RuntimeError: Some trials failed (a benchmark must not report a broken sweep).
    """
    from rich.console import Console

    from tunefleet.analysis import load_results
    from tunefleet.config import load_experiment
    from tunefleet.run import run_experiment

    # The benchmark's Ray already ships the benchmarks package (see local_ray): the runner's
    # warning that an already-initialized Ray does not ship it does not apply.
    logging.getLogger("tunefleet.run.session").setLevel(logging.ERROR)
    storage.mkdir(parents=True, exist_ok=True)
    source = storage / f"{spec['name']}.yaml"
    source.write_text(yaml.safe_dump(dict(spec), sort_keys=False), encoding="utf-8")
    experiment = load_experiment(source)
    quiet = Console(file=io.StringIO())  # the benchmark prints its own tables
    started = time.time()
    outcome = run_experiment(experiment, storage=str(storage), console=quiet)
    wall_s = time.time() - started
    if outcome.num_errors:
        raise RuntimeError(f"{outcome.num_errors} of {outcome.num_trials} trials failed in {outcome.path}")
    return Sweep(
        name=str(spec["name"]),
        path=outcome.path,
        started=started,
        wall_s=wall_s,
        num_trials=outcome.num_trials,
        num_errors=outcome.num_errors,
        results=_all_results(load_results(outcome.path)),
    )


def _all_results(results: Any) -> pd.DataFrame:
    """Every result of :class:`~tunefleet.analysis.ExperimentResults`, with ``timestamp`` and the
    trial's config as ``config/<key>`` columns."""
    frame = results.history(bookkeeping=True)
    configs = results.configs()
    keys = dict.fromkeys(key for config in configs.values() for key in config)
    for key in keys:
        frame[f"config/{key}"] = [configs[trial].get(key) for trial in frame["trial_id"]]
    return frame


def scratch_storage() -> Path:
    """A fresh directory for experiment directories, under ``$TUNEFLEET_BENCH_STORAGE`` or /tmp."""
    root = os.environ.get("TUNEFLEET_BENCH_STORAGE")
    return Path(tempfile.mkdtemp(prefix="tunefleet-bench-", dir=root))
