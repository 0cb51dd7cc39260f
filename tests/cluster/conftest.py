"""A real two-node Ray cluster on 127.0.0.1 (a CPU head and a worker with one fake GPU), shared by the module."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.ray_nodes import RayNode, free_port, short_temp_dir, start_head, start_node, wait_for_output

#: A user's trainable that says where it ran: the built-in regression task plus its node, the GPUs
#: Ray assigned and the torch device it picked. It raises once at iteration 2 while a marker file
#: exists, so a test can interrupt a trial after its first checkpoint and restore it.
WHERE_MODULE = '''
from pathlib import Path

import ray

from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.tasks import LinearRegression


class WhereHyperparams(TrainingHyperparams):
    fail_marker: str = ""


class WhereRegression(LinearRegression):
    """LinearRegression that reports its node, its GPUs and its torch device."""

    Hyperparams = WhereHyperparams

    def step(self):
        marker = Path(self.hp.fail_marker) if self.hp.fail_marker else None
        if marker is not None and marker.exists() and self.iteration == 1:
            raise RuntimeError("interrupted on purpose after the first checkpoint")
        result = super().step()
        result.update(
            node_id=ray.get_runtime_context().get_node_id(),
            gpu_ids=",".join(str(g) for g in ray.get_gpu_ids()),
            device=str(self.device),
        )
        return result
'''


#: Ray's own test hook fixes the GPU worker's node id, so trials can be traced to it.
GPU_NODE_ID = "ab" * 28


@dataclass(frozen=True)
class TwoNodeCluster:
    """Address, dashboard URL and the GPU node's id of the running cluster."""

    address: str
    dashboard: str
    gpu_node_id: str


@pytest.fixture(scope="package")
def two_node_cluster() -> Iterator[TwoNodeCluster]:
    """`ray start --head` (1 CPU) + `ray start --address` (1 CPU, 1 fake GPU), separate processes and temp dirs."""
    with short_temp_dir() as root:
        yield from _two_node_cluster(root)


def _two_node_cluster(root: Path) -> Iterator[TwoNodeCluster]:
    dashboard_port = free_port()
    head, address = start_head(
        root / "head",
        "--num-cpus=1",
        "--num-gpus=0",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
    )
    nodes: list[RayNode] = [head]
    try:
        gpu_worker = start_node(
            root / "gpu-worker",
            f"--address={address}",
            "--num-cpus=1",
            "--num-gpus=1",  # a fake GPU: Ray schedules on it, CUDA does not exist
            f"--dashboard-agent-listen-port={free_port()}",
            env={"RAY_OVERRIDE_NODE_ID_FOR_TESTING": GPU_NODE_ID},
        )
        nodes.append(gpu_worker)
        wait_for_output(gpu_worker, "Ray runtime started")
        yield TwoNodeCluster(address, f"http://127.0.0.1:{dashboard_port}", GPU_NODE_ID)
    finally:
        for node in reversed(nodes):
            node.stop()


@pytest.fixture
def where_project(tmp_path: Path):
    """Write an experiment of WhereRegression (next to its module) and return a writer for more."""
    (tmp_path / "where_models.py").write_text(WHERE_MODULE)

    def write(extra: str = "", name: str = "exp.yaml") -> Path:
        """The base experiment with the top-level keys of the YAML ``extra`` replaced or added."""
        experiment = {
            "trainable": "where_models:WhereRegression",
            "metric": "val_loss",
            "mode": "min",
            "num_samples": 2,
            "max_iterations": 3,
            "search": {"algorithm": "random", "seed": 0},
            "space": {"lr": {"loguniform": [1.0e-3, 1.0e-1]}, "steps_per_iteration": 5},
            "checkpoint": {"frequency": 1},
        }
        experiment.update(yaml.safe_load(textwrap.dedent(extra)) or {})
        path = tmp_path / name
        path.write_text(yaml.safe_dump(experiment, sort_keys=False))
        return path

    return write
