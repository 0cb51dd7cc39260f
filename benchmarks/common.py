"""What every benchmark shares: the machine record, timing helpers, statistics, the table and the JSON.

Each benchmark script gathers its figures in a :class:`Report` and calls :meth:`Report.finish`,
which prints the tables and writes ``benchmarks/results/<name>.json`` with the machine it ran on
(CPU model, cores, GPUs, load average at the start and at the end, versions of Python, Ray, torch...).

Example:
    >>> report = Report("demo", smoke=True)
    >>> table = report.table("timings", ["what", "seconds"])
    >>> table.append(["sleep", 0.1])
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "REPO",
    "RESULTS_DIR",
    "Report",
    "Stopwatch",
    "Summary",
    "argument_parser",
    "directory_size",
    "machine_info",
    "paired_rates",
    "percentile",
    "rate_figures",
    "run_interleaved",
    "summarize",
    "timed",
]

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
_VERSIONED_PACKAGES = ("ray", "torch", "hyperopt", "numpy", "mnist1d", "tunefleet")

# Every benchmark that starts Ray starts it like tunefleet does (token auth, set before import).
os.environ.setdefault("RAY_AUTH_MODE", "token")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _nvidia_smi(query: str) -> list[str]:
    """One CSV line per GPU for ``nvidia-smi --query-gpu=QUERY``; none without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _torch_cuda() -> tuple[bool | None, str | None]:
    """Whether torch sees a CUDA device, and the CUDA version torch was built with."""
    try:
        import torch
    except ImportError:
        return None, None
    return torch.cuda.is_available(), torch.version.cuda


def machine_info() -> dict[str, Any]:
    """The machine and software a benchmark runs on (load average is recorded by :class:`Report`).

    ``gpus`` lists ``name, driver_version, memory.total`` of each GPU as ``nvidia-smi`` reports
    them (empty where there is no nvidia-smi).
    """
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gib = None
    cuda_available, torch_cuda = _torch_cuda()
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(memory_gib, 1) if memory_gib else None,
        "gpus": _nvidia_smi("name,driver_version,memory.total"),
        "cuda_available": cuda_available,
        "torch_cuda": torch_cuda,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in _VERSIONED_PACKAGES},
        "git_commit": _git_commit(),
    }


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass(frozen=True)
class Summary:
    """Median and spread of repeated measurements (quartiles and extremes)."""

    median: float
    low: float
    high: float
    n: int
    q1: float
    q3: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "median": self.median,
            "q1": self.q1,
            "q3": self.q3,
            "min": self.low,
            "max": self.high,
            "n": self.n,
        }

    def text(self) -> str:
        """``median [q1, q3]`` (the interquartile range), or the value of a single measurement."""
        if self.n == 1:
            return _number(self.median)
        return f"{_number(self.median)} [{_number(self.q1)}, {_number(self.q3)}]"


def _number(value: float) -> str:
    """Three significant digits, without an exponent for large values (12,345 not 1.23e+04)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation between the closest ranks), None for no values."""
    data = sorted(values)
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def summarize(values: Sequence[float]) -> Summary:
    """Median, quartiles, minimum and maximum of ``values`` (at least one)."""
    q1, q3 = percentile(values, 25), percentile(values, 75)
    if q1 is None or q3 is None:
        raise ValueError("nothing to summarize")
    return Summary(statistics.median(values), min(values), max(values), len(values), q1, q3)


@dataclass
class Stopwatch:
    """Elapsed wall time of a ``with timed() as watch:`` block, in ``watch.seconds``."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Stopwatch]:
    """Times the block with ``time.perf_counter``."""
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


def directory_size(path: Path) -> tuple[int, int]:
    """``(bytes, files)`` under ``path`` (apparent sizes, symlinks not followed)."""
    total = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
            files += 1
    return total, files


def argument_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the switches every benchmark has (``--smoke``, ``--output``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="a tiny version that runs in seconds")
    parser.add_argument(
        "--output", type=Path, default=None, help="JSON file to write (default: benchmarks/results/NAME.json)"
    )
    return parser


@dataclass
class _Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def append(self, row: Sequence[Any]) -> None:
        self.rows.append(list(row))


def _cell(value: Any) -> str:
    if isinstance(value, Summary):
        return value.text()
    if isinstance(value, dict) and {"median", "q1", "q3", "min", "max", "n"} <= value.keys():
        return Summary(
            **{k: value[k] for k in ("median", "q1", "q3", "n")}, low=value["min"], high=value["max"]
        ).text()
    if isinstance(value, float):
        return _number(value)
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Summary):
        return value.as_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars (pandas cells)
        return value.item()
    return value


class Report:
    """Figures of one benchmark run: tables for people, a JSON document for tools.

    Args:
        name: Benchmark name; the JSON goes to ``benchmarks/results/<name>.json``.
        smoke: Whether this is the tiny ``--smoke`` version (recorded, and the JSON name gets
            a ``-smoke`` suffix so that a smoke run never overwrites real figures).
        output: Another JSON path.
        argv: The command-line arguments the benchmark was given (default: ``sys.argv[1:]``).

    Attributes:
        sections: Top-level parts of the document besides ``figures``, for benchmarks whose
            committed results are laid out that way (``rows``; ``efficiency`` and ``tune``).
    """

    def __init__(
        self,
        name: str,
        smoke: bool = False,
        output: Path | None = None,
        argv: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.smoke = smoke
        suffix = "-smoke" if smoke else ""
        self.output = output or RESULTS_DIR / f"{name}{suffix}.json"
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.started = dt.datetime.now(dt.timezone.utc)
        self.machine = machine_info()
        self.load_start = _load_average()
        self.settings: dict[str, Any] = {}
        self.figures: dict[str, Any] = {}
        self.sections: dict[str, Any] = {}
        self.notes: list[str] = []
        self.tables: list[_Table] = []
        self.console = Console()

    def table(self, title: str, columns: Sequence[str]) -> _Table:
        """A new table, printed (and stored in the JSON) by :meth:`finish`."""
        table = _Table(title, list(columns))
        self.tables.append(table)
        return table

    def note(self, text: str) -> None:
        """A sentence printed under the tables and stored in the JSON."""
        self.notes.append(text)

    def log(self, text: str) -> None:
        """Progress for the person running the benchmark (stderr, not stored)."""
        print(f"[{self.name} {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def document(self) -> dict[str, Any]:
        """Everything :meth:`finish` writes, as plain JSON-able values."""
        return _plain(
            {
                "benchmark": self.name,
                "smoke": self.smoke,
                "started_utc": self.started.isoformat(timespec="seconds"),
                "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(["python -m", f"benchmarks.{self.name}", *self.argv]),
                "machine": self.machine,
                "load_average_start": self.load_start,
                "load_average_end": _load_average(),
                "settings": self.settings,
                "figures": self.figures,
                "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows} for t in self.tables],
                "notes": self.notes,
                **self.sections,
            }
        )

    def save(self) -> dict[str, Any]:
        """Writes the JSON as it stands (partial figures survive an interrupted run); returns it."""
        doc = self.document()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return doc

    def finish(self) -> dict[str, Any]:
        """Prints the tables and notes, writes the JSON; returns the document."""
        doc = self.save()
        machine = self.machine
        self.console.print(
            f"{self.name}: {machine['cpu_model']}, {machine['cpu_count']} cores, load average "
            f"{doc['load_average_start']} at start, {doc['load_average_end']} at end"
            + (" (smoke run)" if self.smoke else ""),
            highlight=False,
        )
        for spec in self.tables:
            table = Table(title=escape(spec.title), title_justify="left")
            for column in spec.columns:
                table.add_column(escape(column), overflow="fold")
            for row in spec.rows:
                table.add_row(*(escape(_cell(v)) for v in row))
            self.console.print(table)
        for text in self.notes:
            self.console.print(f"- {escape(text)}", highlight=False, soft_wrap=True)
        self.console.print(f"figures written to {self.output}", highlight=False, soft_wrap=True)
        return doc


def run_interleaved(
    arms: dict[str, Callable[[], float]], repetitions: int, log: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """Runs every arm ``repetitions`` times, alternating their order each round.

    Interleaving spreads slow phases of a shared machine over every arm instead of one.

    Returns:
        Arm name -> the value each repetition returned, in round order.
    """
    names = list(arms)
    values: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repetitions):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            values[name].append(arms[name]())
        if log:
            log(f"round {round_ + 1}/{repetitions}: " + ", ".join(f"{n}={values[n][-1]:.4g}" for n in names))
    return values


def paired_rates(
    iterations: dict[str, Callable[[], float]],
    samples: int,
    rounds: int,
    warmup: int,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Samples/s of each arm's iteration, the arms interleaved, after ``warmup`` untimed rounds.

    Args:
        iterations: Arm name -> one iteration of ``samples`` samples, returning the rate of its
            training steps alone.
        samples: Samples one iteration trains on.

    Returns:
        Arm -> ``wall`` (samples per wall-clock second of the whole iteration), ``cpu`` (per
        CPU-second of this process: with one torch thread, not inflated by waiting for a core
        that other jobs hold) and ``train`` (what the iteration returned), one value per round.
    """
    rates: dict[str, dict[str, list[float]]] = {}

    def measure(arm: str, iteration: Callable[[], float]) -> float:
        cpu, start = time.process_time(), time.perf_counter()
        train_rate = iteration()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        per_arm = rates.setdefault(arm, {"wall": [], "cpu": [], "train": []})
        per_arm["wall"].append(samples / wall)
        per_arm["cpu"].append(samples / max(cpu, 1e-9))
        per_arm["train"].append(train_rate)
        return samples / wall

    arms: dict[str, Callable[[], float]] = {
        arm: functools.partial(measure, arm, iteration) for arm, iteration in iterations.items()
    }
    run_interleaved(arms, warmup)
    rates.clear()
    run_interleaved(arms, rounds, log=log)
    return rates


def rate_figures(
    rates: dict[str, dict[str, list[float]]],
    kinds: dict[str, str],
    table: Any,
    arm: str = "tunefleet",
    reference: str = "bare",
    row_prefix: Sequence[Any] = (),
) -> dict[str, Any]:
    """For each kind of :func:`paired_rates`: a table row ``[*row_prefix, label, arm's rate,
    reference's rate, ratio paired per round]`` and the figures behind it (raw values too)."""
    figures: dict[str, Any] = {}
    for kind, label in kinds.items():
        paired = [a / b for a, b in zip(rates[arm][kind], rates[reference][kind], strict=True)]
        ratio = summarize(paired)
        arm_rate, reference_rate = summarize(rates[arm][kind]), summarize(rates[reference][kind])
        table.append([*row_prefix, label, arm_rate, reference_rate, ratio])
        figures[kind] = {
            "label": label,
            f"{arm}_samples_per_s": arm_rate,
            f"{reference}_samples_per_s": reference_rate,
            "ratio": ratio,
            "raw": {name: rates[name][kind] for name in rates},
        }
    return figures


def markdown(document: dict[str, Any]) -> str:
    """The tables and notes of a benchmark's JSON document as Markdown (for BENCHMARKS.md)."""
    load = f"load average {document['load_average_start']} at start, {document['load_average_end']} at end"
    parts = [f"`{document['command']}`, {document['started_utc']} to {document['finished_utc']}, {load}:"]
    for table in document["tables"]:
        parts.append(f"\n*{table['title']}*\n")
        parts.append("| " + " | ".join(table["columns"]) + " |")
        parts.append("|" + "---|" * len(table["columns"]))
        parts.extend("| " + " | ".join(_cell(v) for v in row) + " |" for row in table["rows"])
    parts.extend(f"\n- {note}" for note in document["notes"])
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    # python -m benchmarks.common benchmarks/results/NAME.json ...: the tables as Markdown.
    for name in sys.argv[1:]:
        print(markdown(json.loads(Path(name).read_text())))
