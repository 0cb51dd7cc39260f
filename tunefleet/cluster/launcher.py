"""Ray cluster launcher YAMLs (``ray up FILE``): Ray's own offline checks, then tunefleet's.

Ray's part is what ``ray up`` runs before it touches a cloud: ``prepare_config`` (merge the
provider's defaults, the ``local`` provider's rules) and ``validate_config`` (``ray-schema.json``
and the node-type rules). The provider's ``bootstrap_config`` is *not* called: it needs cloud
credentials. tunefleet's part catches what makes a sweep slow, stuck or exposed: a head that runs
trials, fractional GPUs in node resources, a multi-node cluster without shared storage, ports
open to the world, a Ray version other than tunefleet's.
"""

from __future__ import annotations

import copy
import logging
import re
import shlex
from collections.abc import Iterator
from typing import Any

from tunefleet.console import plural
from tunefleet.errors import Problem

__all__ = ["check_launcher_config"]

#: The provider Ray tests autoscaling with on one machine; its autoscaler reads the file as is.
FAKE_PROVIDER = "fake_multinode"

_COMMAND_KEYS = (
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
)
_STORAGE_RE = re.compile(r"\bTUNEFLEET_STORAGE=(\S+)")
_OPEN_CIDRS = ("0.0.0.0/0", "::/0")
_RAY_IMAGE_RE = re.compile(r"^(?:docker\.io/)?rayproject/(ray(?:-ml)?):([^\s@]+)$")


def ray_version_problems(image: str, key: str) -> list[Problem]:
    """A ``rayproject/ray`` image must carry the Ray version tunefleet runs (and not ray-ml)."""
    import ray

    match = _RAY_IMAGE_RE.match(image.strip())
    if not match:
        return []  # a custom image: its Ray version is its owner's business
    repo, tag = match.groups()
    if repo == "ray-ml":
        replacement = f"rayproject/ray:{ray.__version__}-py311-gpu"
        return [Problem(key, f"the rayproject/ray-ml images are discontinued; use {replacement}")]
    version = tag.split("-")[0]
    if version != ray.__version__:
        return [
            Problem(
                key,
                f"image runs Ray {version}, but tunefleet runs Ray {ray.__version__}: every node and the "
                f"driver need the same version (e.g. rayproject/ray:{ray.__version__}-py311-gpu)",
            )
        ]
    return []


def _commands(config: dict[str, Any], key: str) -> list[str]:
    value = config.get(key) or []
    return [c for c in value if isinstance(c, str)] if isinstance(value, list) else []


def _flag(commands: list[str], flag: str) -> str | None:
    """The value of ``--flag=V`` / ``--flag V`` in the ``ray start`` commands, last one wins."""
    value = None
    for command in commands:
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        for index, word in enumerate(words):
            if word.startswith(f"{flag}="):
                value = word.split("=", 1)[1]
            elif word == flag and index + 1 < len(words):
                value = words[index + 1]
    return value


def _node_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    types = config.get("available_node_types")
    return {k: v for k, v in types.items() if isinstance(v, dict)} if isinstance(types, dict) else {}


def _has_workers(config: dict[str, Any]) -> bool:
    provider = config.get("provider") or {}
    if provider.get("type") == "local":
        return bool(provider.get("worker_ips")) or bool(provider.get("coordinator_address"))
    head = config.get("head_node_type")
    workers = [t for name, t in _node_types(config).items() if name != head]
    return config.get("max_workers", 2) != 0 and any(t.get("max_workers", 1) != 0 for t in workers)


def _ray_problems(config: dict[str, Any]) -> list[Problem]:
    """Ray's ``prepare_config`` then ``validate_config``: what ``ray up`` checks offline."""
    import click
    import jsonschema

    from tunefleet.ray_internals import prepare_cluster_config, validate_cluster_config

    provider = config.get("provider")
    if not isinstance(provider, dict) or not isinstance(provider.get("type"), str):
        return [Problem("provider.type", "required: the node provider, e.g. aws, gcp, local")]
    kind = provider["type"]
    logging.getLogger("ray.autoscaler").setLevel(logging.WARNING)  # "setting max workers..." chatter
    if kind == "local":
        # Ray's prepare_local aborts on these with a log line; say it with the key instead.
        for key in ("available_node_types", "head_node", "worker_nodes"):
            if config.get(key):
                return [
                    Problem(
                        key,
                        "not allowed with provider type local: on-prem clusters have one worker type; "
                        "give a worker's GPUs with `ray start --num-gpus=N` in worker_start_ray_commands",
                    )
                ]
        if "coordinator_address" not in provider and not ("head_ip" in provider and "worker_ips" in provider):
            return [Problem("provider", "the local provider needs head_ip and worker_ips")]
    if kind == FAKE_PROVIDER:
        # `ray start --autoscaling-config` hands the file to the autoscaler unprepared (and the
        # wheel lacks this provider's defaults file), so it must be complete as written.
        prepared = copy.deepcopy(config)
    else:
        try:
            prepared = prepare_cluster_config(copy.deepcopy(config))
        except NotImplementedError as exc:
            return [Problem("provider.type", str(exc))]
        except (click.ClickException, ValueError, KeyError, TypeError, AssertionError) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            return [Problem("", f"Ray's prepare_config rejects it: {message}")]
    try:
        validate_cluster_config(prepared)
    except jsonschema.ValidationError as exc:
        key = ".".join(str(p) for p in exc.absolute_path)
        return [Problem(key, f"{exc.message} (Ray's cluster schema)")]
    except (ValueError, RuntimeError) as exc:
        return [Problem("", str(exc))]
    return []


def _gpu_problems(config: dict[str, Any]) -> list[Problem]:
    problems = []
    for name, node_type in _node_types(config).items():
        gpus = (node_type.get("resources") or {}).get("GPU")
        if isinstance(gpus, (int, float)) and not float(gpus).is_integer():
            problems.append(
                Problem(
                    f"available_node_types.{name}.resources.GPU",
                    f"a node has whole GPUs, got {gpus}; to share one GPU between trials, set "
                    f"resources.gpu: {gpus} in the experiment file instead",
                )
            )
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        gpus = _flag(_commands(config, key), "--num-gpus")
        if gpus is not None and not _is_whole(gpus):
            problems.append(
                Problem(
                    key, f"--num-gpus={gpus}: a node has whole GPUs; share them with resources.gpu per trial"
                )
            )
    return problems


def _is_whole(text: str) -> bool:
    try:
        return float(text).is_integer()
    except ValueError:
        return True  # a shell variable: not ours to judge


def _head_problems(config: dict[str, Any]) -> list[Problem]:
    if not _has_workers(config):
        return []  # a single-node cluster: the head is where trials run
    head = str(config.get("head_node_type") or "")
    declared = (_node_types(config).get(head) or {}).get("resources") or {}
    if "CPU" in declared:
        if declared["CPU"] == 0:
            return []
        return [
            Problem(
                f"available_node_types.{head}.resources.CPU",
                f"the head would run trials ({plural(declared['CPU'], 'CPU')}), beside the GCS, the "
                "autoscaler and the Tune driver, and stay up (and paid for) as a trial node; expected CPU: 0",
            )
        ]
    cpus = _flag(_commands(config, "head_start_ray_commands"), "--num-cpus")
    if cpus is not None and _is_whole(cpus) and float(cpus) == 0:
        return []
    key = f"available_node_types.{head}.resources" if head else "head_start_ray_commands"
    fix = "resources: {CPU: 0}" if head else "--num-cpus=0 in the head's `ray start`"
    return [Problem(key, f"the head would run trials (Ray gives it every CPU it has); expected {fix}")]


def _storage_problems(config: dict[str, Any]) -> list[Problem]:
    provider = (config.get("provider") or {}).get("type")
    if provider == FAKE_PROVIDER or not _has_workers(config):
        return []  # one machine: every "node" sees the same disk
    commands = [c for key in _COMMAND_KEYS for c in _commands(config, key)]
    values = [m.group(1).strip("'\";") for c in commands for m in _STORAGE_RE.finditer(c)]
    if not values:
        return [
            Problem(
                "head_start_ray_commands",
                "a multi-node cluster needs storage every node can reach (Ray Tune since 2.7): "
                "export TUNEFLEET_STORAGE=s3://bucket/prefix (or gs://..., or an NFS path mounted on "
                "every node) before `ray start --head`, so `tunefleet run` on the cluster writes there",
            )
        ]
    local = [v for v in values if "://" not in v]
    if local and not any("mount" in c for c in commands):
        return [
            Problem(
                "setup_commands",
                f"TUNEFLEET_STORAGE={local[0]} is a local path: mount the same shared file system (NFS, "
                "EFS, Filestore...) there on every node in setup_commands, or use s3:// / gs://",
            )
        ]
    return []


def _rules(config: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    group = (config.get("provider") or {}).get("security_group") or {}
    for index, rule in enumerate(group.get("IpPermissions") or []):
        if isinstance(rule, dict):
            yield index, rule


def _exposure_problems(config: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for index, rule in _rules(config):
        cidrs = [r.get("CidrIp") for r in rule.get("IpRanges") or []]
        cidrs += [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges") or []]
        if not any(c in _OPEN_CIDRS for c in cidrs):
            continue
        ports = (rule.get("FromPort"), rule.get("ToPort"))
        if str(rule.get("IpProtocol")) != "-1" and ports == (22, 22):
            continue
        shown = "all ports" if str(rule.get("IpProtocol")) == "-1" else f"ports {ports[0]}-{ports[1]}"
        errors.append(
            Problem(
                f"provider.security_group.IpPermissions.{index}",
                f"opens {shown} to the whole internet; Ray's dashboard/Jobs API (8265), client (10001) "
                "and GCS (6379) run any code they are sent: keep only SSH (22) open and reach the "
                "dashboard through `ray dashboard FILE` (an SSH tunnel)",
            )
        )
    host = _flag(_commands(config, "head_start_ray_commands"), "--dashboard-host")
    if host in ("0.0.0.0", "::"):
        problem = Problem(
            "head_start_ray_commands",
            f"--dashboard-host={host} serves the dashboard (which runs any job it is sent) on every "
            "network interface; use --dashboard-host=127.0.0.1 and `ray dashboard FILE` (an SSH tunnel)",
        )
        # On-prem machines have no security group in front of them; cloud ones do.
        (errors if (config.get("provider") or {}).get("type") == "local" else warnings).append(problem)
    return errors, warnings


def _image_problems(config: dict[str, Any]) -> list[Problem]:
    problems = []
    docker = config.get("docker") or {}
    for key in ("image", "head_image", "worker_image"):
        if isinstance(docker.get(key), str):
            problems += ray_version_problems(docker[key], f"docker.{key}")
    for name, node_type in _node_types(config).items():
        image = (node_type.get("docker") or {}).get("worker_image")
        if isinstance(image, str):
            problems += ray_version_problems(image, f"available_node_types.{name}.docker.worker_image")
    return problems


def check_launcher_config(config: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """Check a cluster launcher config offline.

    Args:
        config: The YAML's mapping, as ``ray up`` would read it.

    Returns:
        Errors (the file must not be used as is) and warnings.
    """
    errors = _ray_problems(config)
    own = _gpu_problems(config) + _head_problems(config) + _storage_problems(config) + _image_problems(config)
    exposure, warnings = _exposure_problems(config)
    own += exposure
    # One message per key: tunefleet's says how to fix what Ray's schema only rejects.
    explained = {p.key for p in own}
    errors = [p for p in errors if p.key not in explained]
    return errors + own, warnings
