"""The one flattener of analysis: nested keys joined with ``/``.

Configs (``config/optim/lr`` columns, the best config shown as ``optim/lr=0.01``) and reported
results (``extra/lr_scaled``) are flattened by the same rule, so a key reads the same
everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["flatten"]


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{prefix + "a/b": 1}``.

    Lists, empty mappings and other values stay whole: an empty ``model: {}`` is still a key.
    """
    if not any(isinstance(value, dict) for value in mapping.values()):
        # Most results have no nested value: one dict comprehension (10,000 trials load faster).
        return {f"{prefix}{key}": value for key, value in mapping.items()} if prefix else dict(mapping)
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
