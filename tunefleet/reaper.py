"""Ends what is left of an embedded Ray when its driver dies without shutting it down (SIGKILL, the
OOM killer).

Ray 2.60 ties the processes ``ray.init`` starts (GCS, raylet, ...) to the driver
(``PR_SET_PDEATHSIG``), and its workers exit as soon as their raylet is gone. The raylet's two
agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) see it die at once too, but then try to
report that to the GCS, which died as well, for 60 s before they exit
(``ray/_private/process_watcher.py``: ``report_raylet_error_logs`` calls
``publish_error_to_driver`` with a 60 s timeout). A killed driver left them running for that
minute, in its session and process group, for the next run or the supervisor to trip over.

The driver starts this module (``python -m tunefleet.reaper PID...``, no Ray or torch import) right
after starting its embedded Ray, naming the processes ``ray.init`` started, with a pipe on its
stdin that only the driver holds. While the pipe is open, the reaper notes those processes and
their descendants (pid and start time); when it closes (the driver exited, however it did), it
kills those still alive, checked by start time so that a reused pid is never hit, waits until
they are gone, and exits. Nothing else is touched: no other Ray, no other driver's processes.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Reaper", "children", "main"]

#: Seconds between two looks at the process tree: short while Ray starts, then longer (the
#: agents and Ray's head processes live as long as Ray; workers exit by themselves anyway).
FIRST_SCAN_INTERVAL_S, LAST_SCAN_INTERVAL_S = 0.5, 5.0
#: Seconds the reaper waits for the processes it killed to be gone.
KILL_WAIT_S = 10.0

#: pid -> (parent pid, start time in clock ticks since boot), of every live process.
_Table = dict[int, tuple[int, int]]


def _processes() -> _Table:
    table: _Table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        # The command name (in parentheses) may hold spaces; the fields after it are fixed.
        fields = stat.rpartition(b")")[2].split()
        if fields[0] != b"Z":  # a zombie is dead already
            table[int(entry)] = (int(fields[1]), int(fields[19]))
    return table


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    return {child for child, (parent, _) in _processes().items() if parent == pid}


def _descendants(roots: Iterable[tuple[int, int]], table: _Table) -> set[tuple[int, int]]:
    """``(pid, start time)`` of the live ``roots`` and all their live descendants."""
    by_parent: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        by_parent.setdefault(parent, []).append(pid)
    found = {(pid, start) for pid, start in roots if table.get(pid, (0, -1))[1] == start}
    todo = [pid for pid, _ in found]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            found.add((child, table[child][1]))
            todo.append(child)
    return found


def _kill(known: set[tuple[int, int]]) -> None:
    def alive() -> list[int]:
        table = _processes()
        return [pid for pid, start in known if table.get(pid, (0, -1))[1] == start]

    deadline = time.monotonic() + KILL_WAIT_S
    while (survivors := alive()) and time.monotonic() < deadline:
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def main(argv: list[str]) -> None:
    """Watch the processes named in ``argv`` until stdin closes, then end what is left of them."""
    # The driver's terminal, `timeout` or a supervisor may signal the whole process group: the
    # reaper stays until the driver is gone, which is when it is needed.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    table = _processes()
    roots = {(pid, table[pid][1]) for pid in map(int, argv) if pid in table}
    known = set(roots)
    interval = FIRST_SCAN_INTERVAL_S
    while True:
        known |= _descendants(known, _processes())
        ready, _, _ = select.select([sys.stdin.fileno()], [], [], interval)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break  # the driver is gone
        interval = min(2 * interval, LAST_SCAN_INTERVAL_S)
    # Children the raylet started since the last look, if it is not dead yet.
    known |= _descendants(known, _processes())
    _kill(known)


@dataclass
class Reaper:
    """The driver's handle on its reaper process."""

    process: subprocess.Popen[bytes]
    pipe: int  # the write end of the reaper's stdin, held by the driver alone

    @classmethod
    def start(cls, pids: Iterable[int]) -> Reaper:
        """Start a reaper of the processes ``pids`` (and their descendants) for this process."""
        read_end, write_end = os.pipe()  # not inherited by any other child (PEP 446)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "tunefleet.reaper", *map(str, sorted(pids))],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        return cls(process, write_end)

    def stop(self) -> None:
        """After Ray's own shutdown: the reaper ends any straggler, then exits."""
        os.close(self.pipe)
        try:
            self.process.wait(timeout=KILL_WAIT_S + 10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a reaper that hangs is a bug
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
