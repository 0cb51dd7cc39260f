"""Tiny trainables for tests of the tuning machinery (no torch: fast and deterministic)."""

from __future__ import annotations

import math
from typing import Any

from ray import tune


def quadratic(config: dict[str, Any]) -> None:
    """Function trainable: ``score`` approaches ``-(log10(lr) + 2)**2 - (width - 64)**2 / 1e4``."""
    optimum = -((math.log10(config["lr"]) + 2) ** 2) - (config.get("width", 64) - 64) ** 2 / 1e4
    for i in range(1, config.get("iterations", 3) + 1):
        tune.report({"score": optimum * (1 + 1 / i)})


quadratic.reported_metrics = frozenset({"score"})  # type: ignore[attr-defined]
