"""cluster/local-multinode.yaml: the fake_multinode autoscaler starts a GPU worker for a GPU trial."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster.helpers import reported_rows
from tests.ray_nodes import free_port, short_temp_dir, start_head
from tests.support import REPO, tunefleet

pytestmark = pytest.mark.slow

#: The fake provider numbers its nodes: the head is ...00000, the workers it launches ...00001, ...00002.
FAKE_NODE_PREFIX, FAKE_HEAD = "f" * 51, "f" * 51 + "00000"


@pytest.fixture
def autoscaling_head() -> Iterator[str]:
    """A head with no CPU that runs the autoscaler on cluster/local-multinode.yaml (its GCS port patched)."""
    with short_temp_dir() as root:
        yield from _autoscaling_head(root)


def _autoscaling_head(root: Path) -> Iterator[str]:
    port = free_port()
    config = yaml.safe_load((REPO / "cluster" / "local-multinode.yaml").read_text())
    config["provider"]["gcs_address"] = f"127.0.0.1:{port}"
    config_file = root / "local-multinode.yaml"
    config_file.write_text(yaml.safe_dump(config))
    head, address = start_head(
        root / "head",
        "--num-cpus=0",
        "--include-dashboard=false",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--autoscaling-config={config_file}",
        env={"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_TMPDIR": str(root)},
        port=port,
    )
    try:
        yield address
    finally:
        head.stop()  # fake workers are processes of the head's autoscaler: they stop with it


def test_a_gpu_trial_makes_the_autoscaler_add_a_gpu_worker(autoscaling_head, where_project, tmp_path) -> None:
    experiment = where_project("resources: {cpu: 1, gpu: 0.5}\nmax_iterations: 2\n")
    storage = tmp_path / "r"
    proc = tunefleet(
        "run",
        str(experiment),
        "--address",
        autoscaling_head,
        "--storage",
        str(storage),
        env={"RAY_AUTH_MODE": "token"},
        timeout=400,
    )
    # No live node has a GPU when the sweep starts; tunefleet must not refuse it (the autoscaler decides).
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = reported_rows(storage / "exp")
    assert len({r["trial_id"] for r in rows}) == 2
    nodes = {r["node_id"] for r in rows}
    assert all(n.startswith(FAKE_NODE_PREFIX) and n != FAKE_HEAD for n in nodes), nodes  # launched workers
    assert {r["gpu_ids"] for r in rows} == {"0"}
