"""A worker node that dies mid-trial loses no finished result: its trial continues elsewhere from
its last checkpoint. A real two-node local cluster (``ray start`` twice, 127.0.0.1 only)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ray_nodes import RayNode, short_temp_dir, start_head, start_node, wait_for_output
from tests.reliability.helpers import counter_experiment, iterations_by_trial
from tests.reliability.interrupting import finish, start, wait_until
from tunefleet.analysis import load_results

pytestmark = pytest.mark.slow

#: Ray declares a node dead after its health checks fail; make that take about a second.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "300",
    "RAY_health_check_failure_threshold": "3",
}


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


@pytest.fixture
def two_nodes() -> Iterator[tuple[str, RayNode]]:
    """A head and a worker node, 1 CPU each; yields the address and the worker node."""
    with short_temp_dir() as temp:
        head, address = start_head(
            temp / "head", "--num-cpus=1", "--include-dashboard=false", env=FAST_HEALTH_CHECKS
        )
        worker = None
        try:
            worker = start_node(
                temp / "worker", f"--address={address}", "--num-cpus=1", env=FAST_HEALTH_CHECKS
            )
            wait_for_output(worker, "Ray runtime started")
            yield address, worker
        finally:
            for node in (worker, head):
                if node is not None:
                    node.stop()


def _runs(log: Path) -> list[tuple[str, int, int]]:
    """``(trial_id, iteration, pid)`` of each executed iteration."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [(t, int(i), int(p)) for t, i, p in (line.split() for line in lines)]


def test_a_trial_on_a_dead_node_continues_from_its_checkpoint_elsewhere(
    two_nodes: tuple[str, RayNode], tmp_path: Path
) -> None:
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

    raylet = next(pid for pid, cmd in _group(worker.process.pid).items() if "/raylet " in cmd)

    def on_worker_node() -> list[tuple[str, int, int]]:
        return [run for run in _runs(log) if raylet in _ancestors(run[2])]

    wait_until(lambda: len(on_worker_node()) >= 2, driver)  # a trial there saved 2 checkpoints
    victim, iteration, _ = on_worker_node()[-1]
    doomed = {pid for _, _, pid in on_worker_node()}
    os.kill(raylet, signal.SIGKILL)

    ended = finish(driver)
    assert ended.code == 0, ended.stderr[-3000:]
    results = load_results(tmp_path / "results" / "reliability")
    assert set(results.trials()["status"]) == {"TERMINATED"}
    assert all(h == list(range(1, 9)) for h in iterations_by_trial(results.history()).values())
    # The victim went on from a checkpoint, on the node that is left, not from scratch.
    after = [i for t, i, pid in _runs(log) if t == victim and pid not in doomed]
    assert after and 1 < after[0] <= iteration + 1, (iteration, after)
    assert results.errors().set_index("trial_id").loc[victim, "num_failures"] >= 1
