"""Will a trial ever fit? Checked before the sweep starts, so it fails fast instead of PENDING forever.

Pure functions over plain resource dicts (``{"CPU": 4.0, "GPU": 1.0}``): the runner collects what
the cluster has (:func:`tunefleet.run.session.cluster_capacity`) and asks :func:`unschedulable_reason`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ClusterCapacity", "unschedulable_reason"]

Resources = dict[str, float]


@dataclass(frozen=True)
class ClusterCapacity:
    """What the nodes of a cluster have, and what the autoscaler may add.

    Attributes:
        nodes: Total resources of every live node.
        node_types: Resources of every node type the autoscaler can still launch, when known.
        autoscaling: The cluster has an autoscaler that may add nodes of types we do not know;
            then a trial that fits no live node is not an error (the autoscaler decides).
    """

    nodes: list[Resources]
    node_types: dict[str, Resources] = field(default_factory=dict)
    autoscaling: bool = False


def _fits(bundle: Resources, node: Resources) -> bool:
    return all(node.get(name, 0.0) >= amount for name, amount in bundle.items())


def _total(bundles: Sequence[Resources]) -> Resources:
    total: Resources = {}
    for bundle in bundles:
        for name, amount in bundle.items():
            total[name] = total.get(name, 0.0) + amount
    return total


def _placeable(bundles: Sequence[Resources], strategy: str, nodes: Sequence[Resources]) -> bool:
    """Whether some assignment of the bundles to (empty) nodes exists for the strategy."""
    if strategy == "STRICT_PACK":
        return any(_fits(_total(bundles), node) for node in nodes)
    if strategy == "STRICT_SPREAD":
        # Each bundle on its own node: greedy, largest bundles first, smallest fitting node.
        free = list(nodes)
        for bundle in sorted(bundles, key=lambda b: sorted(b.items()), reverse=True):
            match = next((n for n in free if _fits(bundle, n)), None)
            if match is None:
                return False
            free.remove(match)
        return True
    # PACK and SPREAD are best effort: every bundle needs a node it fits on.
    return all(any(_fits(bundle, node) for node in nodes) for bundle in bundles)


def _describe(resources: Resources) -> str:
    return ", ".join(f"{amount:g} {name}" for name, amount in sorted(resources.items())) or "nothing"


def unschedulable_reason(
    bundles: Sequence[Resources], strategy: str, capacity: ClusterCapacity
) -> str | None:
    """Why a trial asking for ``bundles`` can never start on the cluster; None when it can (or may).

    Args:
        bundles: The trial's placement group (its own bundle first).
        strategy: Ray placement strategy (PACK, SPREAD, STRICT_PACK, STRICT_SPREAD).
        capacity: What the cluster has.

    Example:
        >>> laptop = ClusterCapacity(nodes=[{"CPU": 8.0}])
        >>> unschedulable_reason([{"CPU": 1.0, "GPU": 0.5}], "PACK", laptop)
        'a trial needs 1 CPU, 0.5 GPU but no node has that much (nodes: 8 CPU)'
    """
    bundles = [bundle for bundle in bundles if bundle]  # Ray drops an empty bundle
    if _placeable(bundles, strategy, capacity.nodes):
        return None
    possible = [*capacity.nodes, *capacity.node_types.values()]
    if capacity.node_types and _placeable(bundles, strategy, possible):
        return None  # the autoscaler can add a node it fits on
    if capacity.autoscaling and not capacity.node_types:
        return None  # node types unknown: let the autoscaler decide
    need = (
        _describe(_total(bundles)) if len(bundles) == 1 else " + ".join(f"[{_describe(b)}]" for b in bundles)
    )
    where = "; ".join(sorted(_describe(node) for node in capacity.nodes)) or "none"
    message = f"a trial needs {need}"
    if len(bundles) > 1:
        message += f" ({strategy})"
    message += f" but no node has that much (nodes: {where}"
    if capacity.node_types:
        types = "; ".join(f"{name}: {_describe(r)}" for name, r in sorted(capacity.node_types.items()))
        message += f"; node types the autoscaler can add: {types}"
    return message + ")"
