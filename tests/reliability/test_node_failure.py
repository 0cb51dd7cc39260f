"""A worker node that dies mid-trial loses no finished result: its trial continues elsewhere from
its last checkpoint. A real two-node local cluster (``ray start`` twice, 127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import counter_experiment, iterations_by_trial
from tests.reliability.interrupting import finish, start, wait_until
from tests.test_existing_cluster import free_port
from tunefleet.analysis import load_results

pytestmark = pytest.mark.slow

#: Ray declares a node dead after its health checks fail; make that take about a second.
FAST_HEALTH_CHECKS = {
    "RAY_AUTH_MODE": "token",
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "300",
    "RAY_health_check_failure_threshold": "3",
}


def _ray_start(output: Path, *args: str) -> subprocess.Popen[bytes]:
    """``ray start --block ARGS`` in its own process group (stopped as a whole, nothing else)."""
    command = [str(Path(sys.executable).with_name("ray")), "start", "--block", "--disable-usage-stats", *args]
    with output.open("wb") as out:
        return subprocess.Popen(
            [*command, "--node-ip-address=127.0.0.1", "--num-cpus=1"],
            env={**os.environ, **FAST_HEALTH_CHECKS},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_started(proc: subprocess.Popen[bytes], output: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while b"Ray runtime started" not in output.read_bytes():
        assert proc.poll() is None, output.read_text()[-2000:]
        assert time.monotonic() < deadline, "ray start did not finish in time"
        time.sleep(0.3)


def _group(pgid: int) -> dict[int, str]:
    """``pid -> command line`` of the live processes in process group ``pgid``."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, _, group = stat.rpartition(")")[2].split()[:3]
        if state != "Z" and int(group) == pgid:
            found[int(entry)] = cmdline
    return found


def _ancestors(pid: int) -> list[int]:
    """The parent, grandparent... of a process (empty once it is gone)."""
    found = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError):
            break
        found.append(pid)
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the node's whole process group, nothing else
    proc.wait()


@pytest.fixture
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A head and a worker node, 1 CPU each; yields the address and the worker's process."""
    port = free_port()
    logs = tmp_path_factory.mktemp("ray")
    head = _ray_start(
        logs / "head.out", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={logs}"
    )
    worker = None
    try:
        _wait_started(head, logs / "head.out")
        worker = _ray_start(logs / "worker.out", f"--address=127.0.0.1:{port}")
        _wait_started(worker, logs / "worker.out")
        yield f"127.0.0.1:{port}", worker
    finally:
        for proc in (worker, head):
            if proc is not None:
                _stop(proc)


def _runs(log: Path) -> list[tuple[str, int, int]]:
    """``(trial_id, iteration, pid)`` of each executed iteration."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [(t, int(i), int(p)) for t, i, p in (line.split() for line in lines)]


def test_a_trial_on_a_dead_node_continues_from_its_checkpoint_elsewhere(two_nodes, tmp_path: Path) -> None:
    address, worker = two_nodes
    log = tmp_path / "runs.log"
    experiment = counter_experiment(
        # Long enough trials that both nodes run one at once, even on a busy machine.
        tmp_path,
        num_samples=2,
        max_iterations=8,
        space={"seconds": 1.0},
        failure={"max_failures": 2},
    )
    driver = start("run", str(experiment), "--address", address, env={"RAY_AUTH_MODE": "token"})

    raylet = next(pid for pid, cmd in _group(worker.pid).items() if "/raylet " in cmd)

    def on_worker_node() -> list[tuple[str, int, int]]:
        return [run for run in _runs(log) if raylet in _ancestors(run[2])]

    wait_until(lambda: len(on_worker_node()) >= 2, driver)  # a trial there saved 2 checkpoints
    victim, iteration, _ = on_worker_node()[-1]
    doomed = {pid for _, _, pid in on_worker_node()}
    os.kill(raylet, signal.SIGKILL)

    code, _, stderr = finish(driver)
    assert code == 0, stderr[-3000:]
    results = load_results(tmp_path / "results" / "reliability")
    assert set(results.trials()["status"]) == {"TERMINATED"}
    assert all(h == list(range(1, 9)) for h in iterations_by_trial(results.history()).values())
    # The victim went on from a checkpoint, on the node that is left, not from scratch.
    after = [i for t, i, pid in _runs(log) if t == victim and pid not in doomed]
    assert after and 1 < after[0] <= iteration + 1, (iteration, after)
    assert results.errors().set_index("trial_id").loc[victim, "num_failures"] >= 1
