"""`tunefleet cluster validate`: every file in cluster/ passes; broken ones fail with the fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO, tunefleet
from tunefleet.cluster import validate_cluster_file
from tunefleet.errors import ConfigError

CLUSTER_FILES = sorted((REPO / "cluster").rglob("*.yaml"))


def test_the_cluster_directory_holds_every_kind_of_cluster_file() -> None:
    names = {p.relative_to(REPO / "cluster").as_posix() for p in CLUSTER_FILES}
    assert {"aws-gpu.yaml", "gcp-gpu.yaml", "onprem.yaml", "local-multinode.yaml"} <= names
    assert {"kuberay/raycluster-gpu.yaml", "kuberay/rayjob-tunefleet.yaml"} <= names


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.relative_to(REPO / "cluster").as_posix())
def test_every_cluster_file_passes_ray_and_tunefleet_checks(path: Path) -> None:
    report = validate_cluster_file(path)
    assert report.warnings == []


def test_cli_validates_several_files_and_exits_2_on_the_first_bad_one(tmp_path: Path) -> None:
    ok = tunefleet("cluster", "validate", "cluster/aws-gpu.yaml", "cluster/kuberay/raycluster-gpu.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "cluster/aws-gpu.yaml: ok: Ray cluster launcher (aws)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster_name: x\nprovider: {type: aws}\nmax_wokers: 2\n")
    proc = tunefleet("cluster", "validate", str(bad))
    assert proc.returncode == 2
    assert f"error: {bad}: invalid cluster file" in proc.stderr
    assert "('max_wokers' was unexpected)" in proc.stderr
    assert "Traceback" not in proc.stderr


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "cluster" / name).read_text())


def _aws(change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any]]:
    config = copy.deepcopy(_load("aws-gpu.yaml"))
    change(config)
    return "aws-gpu.yaml", config


def _head_cpus(c: dict[str, Any]) -> None:
    c["available_node_types"]["ray.head.cpu"]["resources"] = {"CPU": 4}


def _half_gpu(c: dict[str, Any]) -> None:
    c["available_node_types"]["ray.worker.gpu"]["resources"]["GPU"] = 0.5


def _no_storage(c: dict[str, Any]) -> None:
    c["head_start_ray_commands"] = [
        s.replace("TUNEFLEET_STORAGE=s3://YOUR-BUCKET/tunefleet", "") for s in c["head_start_ray_commands"]
    ]


def _open_dashboard(c: dict[str, Any]) -> None:
    rule = {"IpProtocol": "tcp", "FromPort": 8265, "ToPort": 8265, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    c["provider"]["security_group"] = {"GroupName": "tunefleet", "IpPermissions": [rule]}


def _old_ray(c: dict[str, Any]) -> None:
    c["docker"]["image"] = "rayproject/ray:2.9.0-py310-gpu"


def _onprem_node_types(c: dict[str, Any]) -> None:
    c["available_node_types"] = {"gpu": {"resources": {"GPU": 1}, "node_config": {}}}


def _onprem_public_dashboard(c: dict[str, Any]) -> None:
    c["head_start_ray_commands"] = [s.replace("127.0.0.1", "0.0.0.0") for s in c["head_start_ray_commands"]]


def _onprem(change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any]]:
    config = copy.deepcopy(_load("onprem.yaml"))
    change(config)
    return "onprem.yaml", config


BROKEN = {
    "head runs trials": (
        _aws(_head_cpus),
        "available_node_types.ray.head.cpu.resources.CPU: the head would run trials (4 CPUs)",
    ),
    "fractional GPU node": (
        _aws(_half_gpu),
        "available_node_types.ray.worker.gpu.resources.GPU: a node has whole GPUs, got 0.5; to share one GPU "
        "between trials, set resources.gpu: 0.5 in the experiment file instead",
    ),
    "no shared storage": (
        _aws(_no_storage),
        "head_start_ray_commands: a multi-node cluster needs storage every node can reach",
    ),
    "dashboard open to the world": (
        _aws(_open_dashboard),
        "provider.security_group.IpPermissions.0: opens ports 8265-8265 to the whole internet",
    ),
    "another Ray": (_aws(_old_ray), "docker.image: image runs Ray 2.9.0, but tunefleet runs Ray 2.60.0"),
    "node types on prem": (
        _onprem(_onprem_node_types),
        "available_node_types: not allowed with provider type local",
    ),
    "on-prem dashboard on every interface": (
        _onprem(_onprem_public_dashboard),
        "head_start_ray_commands: --dashboard-host=0.0.0.0 serves the dashboard",
    ),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=list(BROKEN))
def test_a_broken_cluster_file_names_the_key_and_the_fix(case, tmp_path: Path) -> None:
    (name, config), expected = case
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as caught:
        validate_cluster_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid cluster file\n  - ")
    assert expected in message
    assert message.count("\n  - ") == 1  # one problem, said once (not also as Ray's schema error)


def _kuberay_cluster() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((REPO / "cluster/kuberay/raycluster-gpu.yaml").read_text()))


def test_kuberay_gpu_limits_must_be_whole_and_match_requests(tmp_path: Path) -> None:
    manifest = _kuberay_cluster()
    worker = manifest["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    worker["resources"]["limits"]["nvidia.com/gpu"] = 0.5
    manifest["spec"]["headGroupSpec"]["rayStartParams"] = {}
    path = tmp_path / "raycluster.yaml"
    path.write_text(yaml.safe_dump(manifest))
    with pytest.raises(ConfigError) as caught:
        validate_cluster_file(path)
    assert str(caught.value).splitlines()[1:] == [
        "  - spec.workerGroupSpecs.0.template.spec.containers.0.resources.limits.nvidia.com/gpu: Kubernetes "
        "hands out whole GPUs, got 0.5; share a GPU between trials with resources.gpu: 0.25 in the experiment file",
        "  - spec.workerGroupSpecs.0.template.spec.containers.0.resources.requests.nvidia.com/gpu: GPU requests "
        "must equal the limits (0.5), got 1",
        "  - spec.headGroupSpec.rayStartParams.num-cpus: the head would run trials beside the GCS and the Tune "
        "driver; expected '0'",
    ]


def test_a_rayjob_must_run_tunefleet_on_a_cluster(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        "apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: j}\nspec: {entrypoint: python train.py}\n"
    )
    with pytest.raises(ConfigError) as caught:
        validate_cluster_file(path)
    assert str(caught.value).splitlines()[1:] == [
        "  - spec.entrypoint: expected a `tunefleet run EXPERIMENT ...` command, got 'python train.py'",
        "  - spec: expected rayClusterSpec (a cluster for this job) or clusterSelector",
    ]
