"""The reaper ends the processes it was given, and their descendants, once their driver is gone,
and touches nothing else (no Ray needed: a stand-in driver and stand-in Ray processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import REPO
from tests.processes import command_line, kill_session, session_members

STAND_IN_DRIVER = textwrap.dedent(
    """\
    import subprocess, sys, time
    from tunefleet.reaper import Reaper

    # Not started by Ray: the reaper must leave it alone.
    bystander = subprocess.Popen(["sleep", "600"])
    # A stand-in raylet, with a child that would outlive it (like Ray's agents).
    raylet = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '601']); time.sleep(600)"]
    )
    while not any(b"601" in open(f"/proc/{p}/cmdline", "rb").read() for p in
                  open(f"/proc/{raylet.pid}/task/{raylet.pid}/children").read().split()):
        time.sleep(0.05)
    Reaper.start([raylet.pid])
    print(bystander.pid, raylet.pid, flush=True)
    time.sleep(600)
    """
)


def alive(pid: int, session: int) -> bool:
    return pid in session_members(session)


def test_a_killed_drivers_ray_processes_end_and_nothing_else_does() -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", STAND_IN_DRIVER],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert driver.stdout is not None
        bystander, raylet = map(int, driver.stdout.readline().split())
        members = session_members(driver.pid)
        (reaper,) = [pid for pid in members if "-m tunefleet.reaper" in command_line(pid)]
        agent = next(pid for pid in members if command_line(pid).endswith("sleep 601 "))
        driver.kill()
        driver.wait()
        while alive(reaper, driver.pid):
            time.sleep(0.05)
        assert not alive(raylet, driver.pid) and not alive(agent, driver.pid)
        assert alive(bystander, driver.pid)
    finally:
        kill_session(driver.pid)


def test_the_reaper_ignores_the_signals_a_supervisor_sends_the_whole_group() -> None:
    reaper = subprocess.Popen([sys.executable, "-m", "tunefleet.reaper"], cwd=REPO, stdin=subprocess.PIPE)
    try:
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        while not all(ignored(reaper.pid, signum) for signum in signals):  # it is starting
            assert reaper.poll() is None
            time.sleep(0.05)
        for signum in signals:
            os.kill(reaper.pid, signum)
        assert reaper.stdin is not None
        reaper.stdin.close()  # the driver is gone
        assert reaper.wait(timeout=60) == 0  # it ended by itself, not by a signal
    finally:
        reaper.kill()


def ignored(pid: int, signum: int) -> bool:
    """Whether process ``pid`` ignores ``signum`` (its SigIgn mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(mask >> (signum - 1) & 1)
