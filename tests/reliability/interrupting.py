"""Interrupting real ``tunefleet`` processes, and checking that a resumed sweep lost nothing.

Shared by ``test_kill_and_resume.py`` and the longer randomized loop in ``kill_loop.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO
from tests.processes import command_line, kill_session, session_members
from tests.reliability.conftest import counter_experiment, executed
from tunefleet.resume import saved_trials

#: Ray snapshots the sweep every second instead of every ~10 s, so that a sweep of a few seconds
#: has several snapshots for a kill to land between.
SNAPSHOT_ENV = {"TUNE_GLOBAL_CHECKPOINT_S": "1"}


def hyperopt_sweep(directory: Path, num_samples: int, iterations: int, seed: int = 0) -> Path:
    """A Hyperopt sweep of ``faulty.counter`` trials slow enough (0.3 s an iteration) to interrupt."""
    return counter_experiment(
        directory,
        num_samples=num_samples,
        max_iterations=iterations,
        search={"algorithm": "hyperopt", "seed": seed, "n_initial_points": 2, "max_concurrent": 2},
        space={"seconds": 0.3},
    )


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``tunefleet ARGS`` as the leader of a new session: it, the Ray it starts and Ray's workers.

    Ray's workers run in process groups of their own, but they stay in the driver's session:
    the session is how everything of one driver is found (``tests.processes``).
    """
    return subprocess.Popen(
        [sys.executable, "-m", "tunefleet.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": "", **SNAPSHOT_ENV, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def progress_of(proc: subprocess.Popen[str], log: Path) -> int:
    """Iterations in the runs log executed by ``proc``'s own workers (not a dying earlier driver's)."""
    if not log.exists():
        return 0
    mine = 0
    for line in log.read_text().splitlines():
        with contextlib.suppress(ProcessLookupError, ValueError, IndexError):
            mine += os.getsid(int(line.split()[2])) == proc.pid
    return mine


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 300) -> None:
    """Poll ``condition``; fail if ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(
                f"tunefleet ended (rc {proc.returncode}) before the interruption:\n{err[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the sweep to make progress")
        time.sleep(0.05)


def interrupt(proc: subprocess.Popen[str], sig: signal.Signals, timeout: float = 300) -> tuple[int, str]:
    """Send ``sig`` to the driver, wait for it, then SIGKILL what is left of its session.

    After a SIGKILL of the driver, Ray's raylet dies with it and its workers follow as soon as
    they notice; they go here at once, so that none logs an iteration into the next session.
    Returns the driver's exit code and its stderr.
    """
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    finally:
        kill_session(proc.pid)
    _, err = proc.communicate()
    return proc.returncode, err


def kill_driver_alone(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[list[str], str]:
    """SIGKILL the driver alone, as ``kill -9 PID`` or the OOM killer would, and see what is left.

    Waits for the driver and for its reaper (the process that ends what is left of its embedded
    Ray) to end, then returns the command lines of its session's processes still alive, and its
    stderr; what is left is killed afterwards.
    """
    reapers = [pid for pid in session_members(proc.pid) if "-m tunefleet.reaper" in command_line(pid)]
    proc.kill()
    try:
        proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while set(reapers) & set(session_members(proc.pid)):
            if time.monotonic() > deadline:
                raise AssertionError(f"the reaper of driver {proc.pid} did not end")
            time.sleep(0.05)
        left = [command_line(pid) for pid in session_members(proc.pid)]
    finally:
        kill_session(proc.pid)
    _, err = proc.communicate()
    return left, err


@dataclass
class Finished:
    """How a driver that ran to its end ended."""

    code: int
    stdout: str
    stderr: str
    #: Command lines of its session's processes still alive ``grace`` seconds after it exited.
    left_behind: list[str]


def finish(proc: subprocess.Popen[str], timeout: float = 600, grace: float = 10) -> Finished:
    """Wait for a driver to end by itself, then up to ``grace`` s for everything it started.

    What is still alive then is recorded (and killed): a driver must leave no process behind.
    """
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        kill_session(proc.pid)
        raise
    deadline = time.monotonic() + grace
    while session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left_behind = [command_line(pid) for pid in session_members(proc.pid)]
    kill_session(proc.pid)
    return Finished(proc.returncode, out, err, left_behind)


@dataclass
class Snapshot:
    """What the newest experiment state said right after an interruption."""

    mark: int  # iterations executed (lines of the runs log) at the interruption
    status: dict[str, str] = field(default_factory=dict)  # trial_id -> status
    iteration: dict[str, int] = field(default_factory=dict)  # trial_id -> last reported iteration


def read_snapshot(experiment_dir: Path, log: Path) -> Snapshot:
    """The trials' statuses and last results in the newest ``experiment_state-*.json``."""
    snapshot = Snapshot(mark=len(executed(log)))
    for trial_id, (status, iteration) in saved_trials(experiment_dir).items():
        snapshot.status[trial_id] = status
        snapshot.iteration[trial_id] = iteration
    return snapshot


def check_nothing_lost(
    final_history: dict[str, list[int]], snapshots: list[Snapshot], log: Path, iterations: int
) -> None:
    """Every trial once, with iterations 1..N; finished trials never ran again; running ones
    continued from the checkpoint the snapshot named."""
    runs = [line.split() for line in log.read_text().splitlines() if line]  # trial, iteration, pid
    for trial_id, history in final_history.items():
        assert history == list(range(1, iterations + 1)), (trial_id, history)
    for snapshot in snapshots:
        # What the sessions after this interruption ran: a worker of the interrupted session may
        # still log the iteration it was in as it goes down.
        interrupted = {pid for *_, pid in runs[: snapshot.mark]}
        later = [(t, int(i)) for t, i, pid in runs[snapshot.mark :] if pid not in interrupted]
        for trial_id, status in snapshot.status.items():
            assert trial_id in final_history, f"trial {trial_id} of a snapshot is missing from the results"
            after = [i for t, i in later if t == trial_id]
            if status == "TERMINATED":
                assert not after, f"finished trial {trial_id} ran again: {after}"
            elif after:
                # The last result is the last checkpoint (the trainable checkpoints every iteration).
                assert after[0] <= snapshot.iteration[trial_id] + 1, (trial_id, snapshot, after)
