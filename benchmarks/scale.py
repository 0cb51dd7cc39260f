"""Scale: a sweep of 10,000 trivial trials through the real ``tunefleet run``, then ``tunefleet analyze``.

Measures whether it completes, the wall time, the peak resident memory (read from ``/proc``, so
Linux only) of the driver process (``tunefleet run``) and of everything it started (Ray's GCS,
raylet, workers), the size and file count of the experiment directory, and the wall time of
``tunefleet analyze --format json`` on it.
The trainable is ``benchmarks/trivial.py``'s ``NoWork`` (no work, ``--iterations`` results each,
one by default: the figures are about the number of trials).

A watchdog (``--max-minutes``) stops a sweep that cannot finish in time; the report then says how
many trials had started, so a partial run is reported as partial.

    python -m benchmarks.scale            # 10,000 trials
    python -m benchmarks.scale --smoke    # 2 trials of 2 iterations
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Report, argument_parser, directory_size, timed
from benchmarks.trivial import no_work_experiment

NAME = "scale"
TRAINABLE = "benchmarks.trivial:NoWork"


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) of every process, from ``/proc`` (Linux)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss(pid: int) -> tuple[int, int]:
    """Resident bytes of ``pid``, and of it plus its descendants and its session (Ray's processes)."""
    table = _processes()
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _) in table.items() if ppid == parent and p not in family]
        family.update(children)
        frontier.extend(children)
    family.update(p for p, (_, session) in table.items() if session == pid)
    return _rss_bytes(pid), sum(_rss_bytes(p) for p in family)


def run_sweep(command: list[str], log: Path, max_seconds: float, poll_s: float = 0.5) -> dict[str, Any]:
    """Runs ``command`` in its own session, sampling its memory; stops it after ``max_seconds``."""
    peak_driver = peak_total = 0
    timed_out = False
    with log.open("w") as sink, timed() as wall:
        proc = subprocess.Popen(
            command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        start = time.monotonic()
        while proc.poll() is None:
            own, total = _rss(proc.pid)
            peak_driver, peak_total = max(peak_driver, own), max(peak_total, total)
            if time.monotonic() - start > max_seconds:
                timed_out = True
                os.killpg(proc.pid, signal.SIGINT)  # lets Ray shut down and save its state
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                break
            time.sleep(poll_s)
    return {
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "wall_s": wall.seconds,
        "peak_driver_rss_mib": peak_driver / 2**20,
        "peak_all_processes_rss_mib": peak_total / 2**20,
    }


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=1, help="results per trial")
    parser.add_argument("--max-minutes", type=float, default=25.0, help="stop the sweep after this long")
    parser.add_argument("--analyze-timeout", type=float, default=900, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the experiment directory")
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.iterations = 2, 2

    report = Report(NAME, smoke=args.smoke, output=args.output)
    report.settings = {"trials": args.trials, "iterations": args.iterations, "max_minutes": args.max_minutes}
    tmp = Path(tempfile.mkdtemp(prefix="tf-scale-"))
    experiment = tmp / "scale.yaml"
    experiment.write_text(no_work_experiment("scale", TRAINABLE, args.trials, args.iterations, tmp))
    tunefleet = [sys.executable, "-m", "tunefleet.cli"]

    report.log(f"tunefleet run: {args.trials} trials x {args.iterations} iterations (log: {tmp}/run.log)")
    sweep = run_sweep([*tunefleet, "run", str(experiment)], tmp / "run.log", args.max_minutes * 60)
    directory = tmp / "scale"
    trial_dirs = sum(1 for p in directory.iterdir() if p.is_dir()) if directory.exists() else 0
    size, files = directory_size(directory) if directory.exists() else (0, 0)
    report.log(f"  exit {sweep['returncode']} after {sweep['wall_s']:.0f} s; {trial_dirs} trial directories")

    analyze = [*tunefleet, "analyze", str(directory), "--format", "json", "--top", "5"]
    with timed() as analyze_wall:
        try:
            analyzed = subprocess.run(
                analyze, cwd=REPO, capture_output=True, text=True, check=False, timeout=args.analyze_timeout
            )
        except subprocess.TimeoutExpired:
            analyzed = subprocess.CompletedProcess(
                analyze, -1, "", f"timed out after {args.analyze_timeout} s"
            )
    summary = json.loads(analyzed.stdout) if analyzed.returncode == 0 else {}
    completed = summary.get("status_counts", {}).get("TERMINATED")

    table = report.table(
        f"{args.trials} trials x {args.iterations} iterations of a no-work trainable, {os.cpu_count()} cores",
        ["figure", "value"],
    )
    rows: list[tuple[str, Any]] = [
        ("tunefleet run exit code", sweep["returncode"]),
        ("stopped by the watchdog", sweep["timed_out"]),
        ("trials completed (analyze)", completed),
        ("trial directories", trial_dirs),
        ("sweep wall time, s", round(sweep["wall_s"], 1)),
        ("per trial, ms", round(1000 * sweep["wall_s"] / max(trial_dirs, 1), 1)),
        ("peak driver RSS, MiB", round(sweep["peak_driver_rss_mib"], 1)),
        ("peak RSS of driver + Ray processes, MiB", round(sweep["peak_all_processes_rss_mib"], 1)),
        ("experiment directory, MiB", round(size / 2**20, 1)),
        ("experiment directory, files", files),
        ("tunefleet analyze wall time, s", round(analyze_wall.seconds, 2)),
        ("tunefleet analyze exit code", analyzed.returncode),
    ]
    for row in rows:
        table.append(row)
    report.figures = {
        **sweep,
        "trials_completed": completed,
        "trial_directories": trial_dirs,
        "experiment_dir_bytes": size,
        "experiment_dir_files": files,
        "analyze_wall_s": analyze_wall.seconds,
        "analyze_returncode": analyzed.returncode,
        "analyze_stderr_tail": analyzed.stderr[-2000:],
        "experiment_dir": str(directory) if args.keep else None,
    }
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    report.finish()


if __name__ == "__main__":
    main()
