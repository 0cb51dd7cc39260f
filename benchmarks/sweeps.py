"""What the GPU and search benchmarks share: run an experiment mapping through tunefleet's own
runner on one long-lived local Ray, read every result back, describe the machine, write the JSON.

Each sweep is exactly what ``tunefleet run FILE.yaml --address <this Ray>`` would run: the mapping
is written to a YAML file, validated by :func:`tunefleet.config.load_experiment` and run by
:func:`tunefleet.runner.run_experiment`. Ray is started once per benchmark (not once per sweep) so
that timings measure the sweeps, not Ray's start-up.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# Ray 2.60 enables token authentication for new local clusters; say so before Ray is imported,
# as `tunefleet run` does, so that every Ray process of the benchmark agrees.
os.environ.setdefault("RAY_AUTH_MODE", "token")

import pandas as pd
import yaml

__all__ = [
    "RESULTS_DIR",
    "Sweep",
    "local_ray",
    "machine_info",
    "markdown_table",
    "median_spread",
    "percentile",
    "run_sweep",
    "write_results",
]

BENCHMARKS_DIR = Path(__file__).resolve().parent
#: Default destination of the JSON figures.
RESULTS_DIR = BENCHMARKS_DIR / "results"


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


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _nvidia_smi(query: str) -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    """The machine and software a benchmark ran on (GPU, driver, CPUs, versions)."""
    import torch

    gpus = _nvidia_smi("name,driver_version,memory.total")
    return {
        "gpus": gpus,
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name) for name in ("tunefleet", "ray", "torch", "hyperopt", "numpy", "mnist1d")
        },
    }


@contextlib.contextmanager
def local_ray(num_cpus: int, num_gpus: int | None = None) -> Iterator[None]:
    """One local Ray for the whole benchmark, set up like ``tunefleet run``'s embedded one.

    127.0.0.1 only, no dashboard, token authentication. The ``benchmarks`` package is shipped
    to the workers (Ray's ``py_modules``, as tunefleet ships a user's module), so trainables
    defined in a benchmark module import there. ``num_gpus=None`` lets Ray detect the GPUs.
    """
    import ray

    if ray.is_initialized():  # e.g. the test suite's session Ray: use it as it is
        yield
        return
    ray.init(
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
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
    from tunefleet.runner import run_experiment

    # The benchmark's Ray already ships the benchmarks package (see local_ray): the runner's
    # warning that an already-initialized Ray does not ship it does not apply.
    logging.getLogger("tunefleet.runner").setLevel(logging.ERROR)
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
    frames = []
    for trial in results.analysis.trials:
        frame = results.analysis.trial_dataframes.get(trial.trial_id)
        if frame is None or frame.empty:
            continue
        frame = frame.copy()
        frame["trial_id"] = trial.trial_id
        for key, value in trial.config.items():
            frame[f"config/{key}"] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def scratch_storage() -> Path:
    """A fresh directory for experiment directories, under ``$TUNEFLEET_BENCH_STORAGE`` or /tmp."""
    root = os.environ.get("TUNEFLEET_BENCH_STORAGE")
    return Path(tempfile.mkdtemp(prefix="tunefleet-bench-", dir=root))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation), or None for no values."""
    data = sorted(values)
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def median_spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min and max of the values that are not None, and how many there were."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0, "of": len(values)}
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
        "of": len(values),
    }


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pasted as is into BENCHMARKS.md)."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, payload: Mapping[str, Any], out_dir: Path = RESULTS_DIR) -> Path:
    """Write ``<out_dir>/<name>.json`` with the machine description and the command line added."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    document = {
        "benchmark": name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
