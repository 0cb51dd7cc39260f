"""Real Ray nodes as separate processes on 127.0.0.1, for tests against clusters tunefleet did not start.

Every node is ``ray start --block`` in its own process group with its own ``--temp-dir`` and the
suite's ``RAY_AUTH_MODE``; it is stopped by its process group (never ``ray stop``, which would stop
every Ray process of the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


@contextlib.contextmanager
def short_temp_dir() -> Iterator[Path]:
    """A fresh directory directly in /tmp, removed afterwards.

    Ray puts its Unix sockets under ``--temp-dir``; a socket path may not exceed 107 bytes, which
    pytest's ``tmp_path`` (``/tmp/pytest-of-USER/pytest-N/name0/...``) plus Ray's session name do.
    """
    path = Path(tempfile.mkdtemp(prefix="tf-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Ray process of a test cluster (same auth mode as the suite)."""
    auth = os.environ.get("RAY_AUTH_MODE", "token")
    return {**os.environ, "RAY_AUTH_MODE": auth, "PYTHONUNBUFFERED": "1", **(extra or {})}


@dataclass
class RayNode:
    """One ``ray start --block`` process group."""

    process: subprocess.Popen[bytes]
    temp_dir: Path

    def stop(self) -> None:
        """SIGTERM the node's process group (``--block`` stops what it started), SIGKILL what lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=3)  # a test cluster has nothing to save: do not wait long
        # Stragglers of the group (the dashboard's forkserver outlives `ray start`): kill them too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log(self) -> str:
        """The end of what ``ray start`` printed."""
        path = self.temp_dir / "ray-start.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def start_node(temp_dir: Path, *args: str, env: dict[str, str] | None = None) -> RayNode:
    """Start ``ray start --block ARGS`` on 127.0.0.1 with its own temp dir; output in temp_dir."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    with open(temp_dir / "ray-start.log", "wb") as log:
        process = subprocess.Popen(
            [
                str(RAY),
                "start",
                "--block",
                "--node-ip-address=127.0.0.1",
                "--disable-usage-stats",
                f"--temp-dir={temp_dir}",
                *args,
            ],
            env=node_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, nothing else touched
        )
    return RayNode(process, temp_dir)


def wait_for_port(port: int, node: RayNode, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if node.process.poll() is not None:
            raise RuntimeError(f"ray start exited:\n{node.log()}")
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s:\n{node.log()}")


def start_head(
    temp_dir: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> tuple[RayNode, str]:
    """Start a head node (on a free port by default); returns it and its address once it is up."""
    port = port or free_port()
    head = start_node(temp_dir, "--head", f"--port={port}", *args, env=env)
    try:
        wait_for_port(port, head)
        wait_for_output(head, "Ray runtime started")  # the head node itself is registered, not just the GCS
    except Exception:
        head.stop()
        raise
    return head, f"127.0.0.1:{port}"


def wait_for_output(node: RayNode, text: str, timeout: float = 240) -> None:
    """Wait until ``ray start`` printed ``text`` (a worker prints "Ray runtime started" once registered)."""
    deadline = time.monotonic() + timeout
    while text not in node.log():
        if node.process.poll() is not None:
            raise RuntimeError(f"ray start exited:\n{node.log()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"ray start did not print {text!r} within {timeout:.0f} s:\n{node.log()}")
        time.sleep(0.5)
