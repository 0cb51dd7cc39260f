"""How supervisors stop a driver: SIGTERM (Slurm, Kubernetes, ``timeout``) does what a first
Ctrl-C does; SIGKILL of the driver alone leaves no process of its embedded Ray behind.

One sweep goes through both: ``tunefleet run --name`` is SIGKILLed, ``tunefleet resume`` gets a
SIGTERM, and a last ``tunefleet resume`` completes it.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.conftest import counter_experiment, iterations_by_trial
from tests.reliability.interrupting import (
    Finished,
    Snapshot,
    check_nothing_lost,
    finish,
    interrupt,
    kill_driver_alone,
    progress_of,
    read_snapshot,
    start,
    wait_until,
)
from tunefleet.analysis import load_results
from tunefleet.errors import Terminated
from tunefleet.resume import handle_sigterm_again, sigterm_stops_sweep

NUM_SAMPLES, ITERATIONS = 2, 10


@dataclass
class Supervised:
    path: Path
    log: Path
    killed_left: list[str]
    killed_stderr: str
    sigterm: tuple[int, str]
    snapshots: list[Snapshot]
    final: Finished


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Supervised:
    directory = tmp_path_factory.mktemp("supervised")
    experiment = counter_experiment(
        directory, num_samples=NUM_SAMPLES, max_iterations=ITERATIONS, space={"seconds": 0.3}
    )
    log, path = directory / "runs.log", directory / "results" / "supervised"
    snapshots = []

    proc = start("run", str(experiment), "--name", "supervised")
    wait_until(lambda: progress_of(proc, log) > 0, proc)
    killed_left, killed_stderr = kill_driver_alone(proc)
    snapshots.append(read_snapshot(path, log))

    proc = start("resume", str(path))
    wait_until(lambda: progress_of(proc, log) > 0, proc)
    sigterm = interrupt(proc, signal.SIGTERM)
    snapshots.append(read_snapshot(path, log))

    final = finish(start("resume", str(path)))
    return Supervised(path, log, killed_left, killed_stderr, sigterm, snapshots, final)


@pytest.mark.slow
def test_a_driver_killed_alone_leaves_no_process_of_its_ray_behind(supervised: Supervised) -> None:
    # Ray's agents would outlive it by a minute, trying to tell the dead GCS that the raylet died.
    assert supervised.killed_left == []


@pytest.mark.slow
def test_sigterm_stops_the_sweep_like_ctrl_c_and_prints_the_resume_command(supervised: Supervised) -> None:
    code, stderr = supervised.sigterm
    assert code == 3, stderr[-3000:]
    assert f"Resume with:\n  tunefleet resume {supervised.path}\n" in stderr
    assert "Traceback" not in stderr
    assert "SIGTERM received" not in stderr  # Ray's native stack dump


@pytest.mark.slow
def test_the_sweep_stopped_by_sigterm_resumes_to_the_end(supervised: Supervised) -> None:
    assert supervised.final.code == 0, supervised.final.stderr[-3000:]
    results = load_results(supervised.path)
    assert set(results.trials()["status"]) == {"TERMINATED"} and len(results.trials()) == NUM_SAMPLES
    check_nothing_lost(
        iterations_by_trial(results.history()), supervised.snapshots, supervised.log, ITERATIONS
    )
    assert supervised.final.left_behind == []


@pytest.mark.slow
def test_the_run_header_names_the_run_not_the_experiment_file(supervised: Supervised) -> None:
    assert "tunefleet: supervised: 2 trials" in supervised.killed_stderr  # run --name supervised
    assert "tunefleet: supervised: 2 trials" in supervised.sigterm[1]  # resume of that directory


def sigterm_to_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_before_the_sweep_runs_stops_at_once() -> None:
    with sigterm_stops_sweep(), pytest.raises(Terminated):
        sigterm_to_self()


def test_a_first_sigterm_asks_the_running_sweep_to_stop_and_a_second_stops_at_once() -> None:
    asked: list[int] = []
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)
    with sigterm_stops_sweep():
        # What Ray Tune installs while a sweep runs: SIGUSR1 ends it like a first Ctrl-C.
        signal.signal(signal.SIGUSR1, lambda signum, frame: asked.append(signum))
        sigterm_to_self()
        assert asked == [signal.SIGUSR1]
        with pytest.raises(Terminated):
            sigterm_to_self()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)) == before


def ray_init_handler(signum: int, frame: object) -> None:
    """The SIGTERM handler ``ray.init`` installs."""
    sys.exit(signum)


def test_sigterm_while_ray_starts_stops_at_once() -> None:
    with pytest.raises(Terminated), sigterm_stops_sweep():
        signal.signal(signal.SIGTERM, ray_init_handler)
        sigterm_to_self()


def test_the_handler_ray_init_installs_is_replaced_again() -> None:
    asked: list[int] = []
    with sigterm_stops_sweep():
        signal.signal(signal.SIGTERM, ray_init_handler)
        handle_sigterm_again()
        signal.signal(signal.SIGUSR1, lambda signum, frame: asked.append(signum))
        sigterm_to_self()
    assert asked == [signal.SIGUSR1]
