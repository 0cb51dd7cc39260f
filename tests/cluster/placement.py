"""A function trainable that starts Ray tasks of its own, as trainables with workers do."""

from __future__ import annotations

from typing import Any

import ray
from ray import tune


@ray.remote(num_cpus=1)
def _worker_group() -> str | None:
    group = ray.util.get_current_placement_group()
    return group.id.hex() if group else None


def starts_workers(config: dict[str, Any]) -> None:
    """Starts ``workers`` one-CPU tasks and reports how many ran inside the trial's placement group."""
    own = ray.util.get_current_placement_group()
    groups = ray.get([_worker_group.remote() for _ in range(config["workers"])], timeout=120)
    inside = sum(own is not None and g == own.id.hex() for g in groups)
    tune.report({"score": float(inside), "workers_in_trial_group": inside})


starts_workers.reported_metrics = frozenset({"score", "workers_in_trial_group"})  # type: ignore[attr-defined]
