"""Helpers of the analysis tests."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_without(source: Path, target: Path, *names: str) -> Path:
    """Copy an experiment directory, leaving out the named top-level files (e.g. tunefleet.yaml)."""
    shutil.copytree(source, target)
    for name in names:
        (target / name).unlink()
    return target
