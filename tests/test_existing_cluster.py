"""``tunefleet run --address``: a sweep on a Ray cluster that tunefleet did not start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import tunefleet

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ray_head(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A real head node (`ray start --head --block`) on 127.0.0.1, stopped by its PID."""
    port = free_port()
    temp_dir = tmp_path_factory.mktemp("ray-head")
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        env={**os.environ, "RAY_AUTH_MODE": "token"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as a whole, nothing else touched
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None, "ray start --head exited"
            time.sleep(0.5)
        else:
            pytest.fail("the Ray head did not come up within 60 s")
        yield address, temp_dir
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block stops every process it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def test_sweep_runs_on_an_existing_cluster_with_a_shipped_user_module(
    ray_head, user_project, tmp_path
) -> None:
    address, head_temp_dir = ray_head
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = tunefleet(
        "run",
        str(user_project),
        "--address",
        address,
        "--storage",
        str(tmp_path / "r"),
        cwd=elsewhere,
        env={"RAY_AUTH_MODE": "token"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(tunefleet("analyze", str(tmp_path / "r" / "exp"), "--format", "json").stdout)
    assert summary["num_trials"] == 2 and summary["num_errors"] == 0
    # The trials ran on that cluster, which received the module through the runtime env.
    assert "Started a local Ray instance" not in proc.stderr
    shipped = list(head_temp_dir.glob("session_*/runtime_resources/py_modules_files/*/my_models.py"))
    assert shipped, sorted(p.name for p in head_temp_dir.glob("session_*/runtime_resources/*"))
