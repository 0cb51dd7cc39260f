"""``tunefleet run --address``: a sweep on a Ray cluster that tunefleet did not start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ray_nodes import short_temp_dir, start_head
from tests.support import tunefleet

pytestmark = pytest.mark.slow

PRINTING_TRAINABLE = """

class PrintingRegression(MyRegression):
    def step(self):
        print(f"lr={self.config['lr']!r} step {self.iteration + 1}")
        return super().step()
"""


@pytest.fixture
def ray_head() -> Iterator[tuple[str, Path]]:
    """A real head node (`ray start --head --block`) on 127.0.0.1, stopped by its PID."""
    with short_temp_dir() as temp_dir:
        head, address = start_head(temp_dir, "--num-cpus=2", "--include-dashboard=false")
        try:
            yield address, temp_dir
        finally:
            head.stop()


def test_sweep_runs_on_an_existing_cluster_with_a_shipped_user_module(
    ray_head, user_project, tmp_path
) -> None:
    address, head_temp_dir = ray_head
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    module = user_project.with_name("my_models.py")
    module.write_text(module.read_text() + PRINTING_TRAINABLE)
    proc = tunefleet(
        "run",
        str(user_project),
        "--set",
        "trainable=my_models:PrintingRegression",
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
    # What each trial printed on the cluster's node is in its directory in storage.
    for trial in summary["top"]:
        (trial_dir,) = (tmp_path / "r" / "exp").glob(f"*_{trial['trial_id']}")
        lr = trial["config"]["lr"]
        assert (trial_dir / "stdout").read_text().splitlines() == [f"lr={lr!r} step {i}" for i in (1, 2)]
