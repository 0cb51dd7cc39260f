"""Running on Ray clusters: offline checks of cluster files, and whether a trial fits a cluster."""

from __future__ import annotations

from tunefleet.cluster.validate import ClusterReport, validate_cluster_file

__all__ = ["ClusterReport", "validate_cluster_file"]
