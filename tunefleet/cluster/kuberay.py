"""KubeRay manifests (``RayCluster``, ``RayJob``): the checks that can be made without a cluster.

Kubernetes validates the full CRD schema when the manifest is applied; here we check what makes
a tunefleet sweep fail or hang later: Ray versions, whole GPU limits on GPU worker groups, a head
that would run trials, storage every pod can reach, a job that would not use the cluster.
"""

from __future__ import annotations

from typing import Any

from tunefleet.cluster.launcher import ray_version_problems
from tunefleet.errors import Problem, shown

__all__ = ["KINDS", "check_kuberay_manifest"]

KINDS = ("RayCluster", "RayJob")
GPU_KEY = "nvidia.com/gpu"


def _containers(group: dict[str, Any]) -> list[dict[str, Any]]:
    spec = ((group.get("template") or {}).get("spec")) or {}
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {str(e.get("name")): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}


def _group_problems(group: dict[str, Any], key: str) -> list[Problem]:
    problems = []
    containers = _containers(group)
    if not containers:
        return [Problem(f"{key}.template.spec.containers", "required: the Ray container (image, resources)")]
    for index, container in enumerate(containers):
        ckey = f"{key}.template.spec.containers.{index}"
        if isinstance(container.get("image"), str):
            problems += ray_version_problems(container["image"], f"{ckey}.image")
        resources = container.get("resources") or {}
        limit = (resources.get("limits") or {}).get(GPU_KEY)
        request = (resources.get("requests") or {}).get(GPU_KEY)
        if limit is not None and not str(limit).isdigit():
            problems.append(
                Problem(
                    f"{ckey}.resources.limits.{GPU_KEY}",
                    f"Kubernetes hands out whole GPUs, got {shown(limit)}; share a GPU between trials "
                    "with resources.gpu: 0.25 in the experiment file",
                )
            )
        if request is not None and str(request) != str(limit):
            problems.append(
                Problem(
                    f"{ckey}.resources.requests.{GPU_KEY}",
                    f"GPU requests must equal the limits ({shown(limit)}), got {shown(request)}",
                )
            )
    params = group.get("rayStartParams") or {}
    gpus = params.get("num-gpus")
    if gpus is not None and not str(gpus).isdigit():
        problems.append(
            Problem(f"{key}.rayStartParams.num-gpus", f"a node has whole GPUs, got {shown(gpus)}")
        )
    low, high = group.get("minReplicas", 0), group.get("maxReplicas")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(Problem(f"{key}.minReplicas", f"{low} is above maxReplicas {high}"))
    return problems


def _cluster_problems(spec: Any, key: str) -> tuple[list[Problem], list[Problem]]:
    import ray

    if not isinstance(spec, dict) or not isinstance(spec.get("headGroupSpec"), dict):
        return [Problem(f"{key}.headGroupSpec", "required: the head pod's group")], []
    errors, warnings = [], []
    version = spec.get("rayVersion")
    if version is not None and str(version) != ray.__version__:
        errors.append(
            Problem(
                f"{key}.rayVersion", f"expected {ray.__version__} (tunefleet's Ray), got {shown(version)}"
            )
        )
    head = spec["headGroupSpec"]
    errors += _group_problems(head, f"{key}.headGroupSpec")
    workers = [g for g in spec.get("workerGroupSpecs") or [] if isinstance(g, dict)]
    for index, group in enumerate(workers):
        errors += _group_problems(group, f"{key}.workerGroupSpecs.{index}")
    if workers and str((head.get("rayStartParams") or {}).get("num-cpus")) != "0":
        errors.append(
            Problem(
                f"{key}.headGroupSpec.rayStartParams.num-cpus",
                "the head would run trials beside the GCS and the Tune driver; expected '0'",
            )
        )
    if workers and not any("TUNEFLEET_STORAGE" in _env(c) for c in _containers(head)):
        errors.append(
            Problem(
                f"{key}.headGroupSpec.template.spec.containers.0.env",
                "a multi-node cluster needs storage every pod can reach: set TUNEFLEET_STORAGE "
                "(s3://, gs://, or a ReadWriteMany volume path mounted in every pod)",
            )
        )
    if head.get("serviceType") in ("LoadBalancer", "NodePort") or head.get("enableIngress"):
        errors.append(
            Problem(
                f"{key}.headGroupSpec.serviceType",
                "exposes the dashboard/Jobs API (which runs any code it is sent) outside the cluster; "
                "use ClusterIP and `kubectl port-forward`",
            )
        )
    if (spec.get("authOptions") or {}).get("mode") != "token":
        warnings.append(
            Problem(f"{key}.authOptions.mode", "set to token (KubeRay >= 1.5.1) to require Ray's token")
        )
    return errors, warnings


def _job_problems(spec: Any) -> tuple[list[Problem], list[Problem]]:
    if not isinstance(spec, dict):
        return [Problem("spec", "required: the RayJob spec")], []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    entrypoint = spec.get("entrypoint")
    if not isinstance(entrypoint, str) or "tunefleet run" not in entrypoint:
        errors.append(
            Problem(
                "spec.entrypoint",
                f"expected a `tunefleet run EXPERIMENT ...` command, got {shown(entrypoint)}",
            )
        )
    if "rayClusterSpec" in spec:
        cluster_errors, warnings = _cluster_problems(spec["rayClusterSpec"], "spec.rayClusterSpec")
        errors += cluster_errors
    elif not spec.get("clusterSelector"):
        errors.append(Problem("spec", "expected rayClusterSpec (a cluster for this job) or clusterSelector"))
    return errors, warnings


def check_kuberay_manifest(document: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """Check one ``RayCluster`` or ``RayJob`` document; returns errors and warnings."""
    if not str(document.get("apiVersion", "")).startswith("ray.io/"):
        return [Problem("apiVersion", f"expected ray.io/v1, got {shown(document.get('apiVersion'))}")], []
    if document["kind"] == "RayCluster":
        errors, warnings = _cluster_problems(document.get("spec"), "spec")
    else:
        errors, warnings = _job_problems(document.get("spec"))
    return errors, warnings
