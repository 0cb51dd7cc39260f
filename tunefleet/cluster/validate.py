"""``tunefleet cluster validate FILE``: a cluster launcher YAML or KubeRay manifests, checked offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunefleet.cluster.kuberay import KINDS, check_kuberay_manifest
from tunefleet.cluster.launcher import check_launcher_config
from tunefleet.errors import ConfigError, Problem, shown

__all__ = ["ClusterReport", "validate_cluster_file"]

KIND = "cluster file"


@dataclass(frozen=True)
class ClusterReport:
    """A cluster file that passed: what it is, and what is worth a second look.

    Attributes:
        path: The file.
        description: e.g. ``Ray cluster launcher (aws)`` or ``KubeRay RayCluster, RayJob``.
        warnings: Problems that do not stop the file from working.
    """

    path: Path
    description: str
    warnings: list[Problem]


def _documents(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.single(path, "", f"cannot read the file: {exc.strerror or exc}", KIND) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError.single(path, "", f"not valid YAML: {exc}", KIND) from None
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise ConfigError.single(path, "", "expected a cluster launcher mapping or KubeRay manifests", KIND)
    return documents


def validate_cluster_file(path: str | Path) -> ClusterReport:
    """Check a Ray cluster launcher YAML (``ray up``) or KubeRay manifests without any cloud access.

    Raises:
        ConfigError: every error found, each as ``key.path: what was expected``.

    Example:
        >>> validate_cluster_file("cluster/aws-gpu.yaml").description  # doctest: +SKIP
        'Ray cluster launcher (aws)'
    """
    source = Path(path)
    documents = _documents(source)
    errors: list[Problem] = []
    warnings: list[Problem] = []
    if any("kind" in d for d in documents):
        kinds = []
        for index, document in enumerate(documents):
            prefix = f"{index}." if len(documents) > 1 else ""
            kind = document.get("kind")
            if kind not in KINDS:
                expected = f"expected one of {', '.join(KINDS)}, got {shown(kind)}"
                errors.append(Problem(f"{prefix}kind", expected))
                continue
            kinds.append(kind)
            found, maybe = check_kuberay_manifest(document)
            errors += [Problem(prefix + p.key, p.message) for p in found]
            warnings += [Problem(prefix + p.key, p.message) for p in maybe]
        description = f"KubeRay {', '.join(kinds)}"
    elif len(documents) == 1:
        errors, warnings = check_launcher_config(documents[0])
        description = f"Ray cluster launcher ({(documents[0].get('provider') or {}).get('type')})"
    else:
        raise ConfigError.single(source, "", "a cluster launcher file holds one YAML document", KIND)
    if errors:
        raise ConfigError(source, errors, KIND)
    return ClusterReport(source, description, warnings)
