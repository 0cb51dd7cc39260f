"""`tunefleet run --address` and `ray job submit` on a real two-node cluster with a (fake) GPU node."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.helpers import reported_rows
from tests.ray_nodes import node_env
from tests.support import tunefleet

pytestmark = pytest.mark.slow

AUTH = {"RAY_AUTH_MODE": "token"}

RESTORE = """
import json, sys
import ray
from ray import tune

address, path, module_dir = sys.argv[1:4]
sys.path.insert(0, module_dir)
from where_models import WhereRegression

ray.init(address=address, runtime_env={"py_modules": [f"{module_dir}/where_models.py"]}, log_to_driver=False)
trainable = tune.with_resources(WhereRegression, {"cpu": 1, "gpu": 0.5})
results = tune.Tuner.restore(path, trainable=trainable, resume_errored=True).fit()
print(json.dumps([{"error": r.error is not None, **{k: r.metrics.get(k) for k in
      ("training_iteration", "iterations_since_restore", "node_id")}} for r in results]))
"""


def test_gpu_trials_run_on_the_gpu_node_store_checkpoints_and_restore(
    two_node_cluster, where_project, tmp_path
):
    marker = tmp_path / "interrupt"
    marker.touch()
    experiment = where_project(
        f"""\
        resources: {{cpu: 1, gpu: 0.5}}
        space: {{lr: {{loguniform: [1.0e-3, 1.0e-1]}}, steps_per_iteration: 5, fail_marker: {marker}}}
        """
    )
    storage = tmp_path / "shared"
    proc = tunefleet(
        "run", str(experiment), "--address", two_node_cluster.address, "--storage", str(storage), env=AUTH
    )
    # Both trials stop on purpose at iteration 2, after checkpointing iteration 1 on the GPU node.
    assert proc.returncode == 1, proc.stderr[-3000:]
    run_dir = storage / "exp"
    rows = reported_rows(run_dir)
    assert rows, proc.stderr[-3000:]
    assert {r["node_id"] for r in rows} == {two_node_cluster.gpu_node_id}
    assert {r["gpu_ids"] for r in rows} == {"0"}  # Ray assigned the fake GPU ...
    assert {r["device"] for r in rows} == {"cpu"}  # ... which has no CUDA: torch trains on the CPU
    checkpoints = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob("*/checkpoint_*/state.pt"))
    assert len(checkpoints) == 2, checkpoints  # written on the worker node, found in storage

    marker.unlink()
    restored = subprocess.run(
        [sys.executable, "-c", RESTORE, two_node_cluster.address, str(run_dir), str(experiment.parent)],
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert restored.returncode == 0, restored.stderr[-3000:]
    trials = json.loads(restored.stdout.strip().splitlines()[-1])
    assert len(trials) == 2
    for trial in trials:
        assert not trial["error"]
        assert trial["training_iteration"] == 3
        assert trial["iterations_since_restore"] == 2  # resumed from the checkpoint of iteration 1
        assert trial["node_id"] == two_node_cluster.gpu_node_id


def test_a_trial_larger_than_every_node_fails_before_anything_runs(two_node_cluster, where_project, tmp_path):
    experiment = where_project("resources: {cpu: 1, gpu: 2}\n")
    proc = tunefleet(
        "run",
        str(experiment),
        "--address",
        two_node_cluster.address,
        "--storage",
        str(tmp_path / "r"),
        env=AUTH,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert (
        "resources: a trial needs 1 CPU, 2 GPU but no node has that much (nodes: 1 CPU; 1 CPU, 1 GPU)"
        in " ".join(proc.stderr.split())
    )
    assert not (tmp_path / "r" / "exp").exists()


def test_ray_job_submit_runs_the_sweep_on_the_cluster(two_node_cluster, where_project, tmp_path):
    experiment = where_project("resources: {cpu: 1, gpu: 0.25}\nnum_samples: 2\nmax_iterations: 2\n")
    storage = tmp_path / "shared"
    entrypoint = f"{sys.executable} -m tunefleet.cli run {experiment} --storage {storage}"
    ray = Path(sys.executable).with_name("ray")
    proc = subprocess.run(
        [str(ray), "job", "submit", "--address", two_node_cluster.dashboard, "--", *entrypoint.split()],
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "succeeded" in proc.stdout
    rows = reported_rows(storage / "exp")
    assert len({r["trial_id"] for r in rows}) == 2
    # RAY_ADDRESS, set by the job, made tunefleet use the cluster rather than a Ray of its own.
    assert {r["node_id"] for r in rows} == {two_node_cluster.gpu_node_id}
