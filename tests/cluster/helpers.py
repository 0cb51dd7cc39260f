"""Helpers of the cluster tests."""

from __future__ import annotations

import json
from pathlib import Path


def reported_rows(experiment_dir: Path) -> list[dict]:
    """Every result every trial reported, read from the experiment directory in storage."""
    return [
        json.loads(line)
        for result in experiment_dir.glob("*/result.json")
        for line in result.read_text().splitlines()
        if line.strip()
    ]
