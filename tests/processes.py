"""Everything one process started, found by its session (Linux ``/proc``).

A command started with ``start_new_session=True`` leads a new session. Everything it starts stays
in that session, including Ray's workers, which run in process groups of their own (so a
``killpg`` of the command's group misses them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def session_members(session: int) -> list[int]:
    """The live (not zombie) processes of ``session``."""
    members = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _, _, sid = stat.rpartition(")")[2].split()[:4]
        if state != "Z" and int(sid) == session:
            members.append(int(entry))
    return members


def kill_session(session: int, timeout: float = 30) -> None:
    """SIGKILL every process of ``session`` and wait until they are gone."""
    deadline = time.monotonic() + timeout
    while members := session_members(session):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of session {session} outlived SIGKILL: {members}")
        time.sleep(0.05)


def command_line(pid: int) -> str:
    """``"PID: command line"`` of a process, for messages."""
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid}: (gone)"
