"""Running a whole experiment file on the session's local Ray."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tunefleet.config import load_experiment
from tunefleet.run import RunOutcome, run_experiment


@pytest.fixture
def run_file(ray_local: None, tmp_path: Path) -> Callable[..., RunOutcome]:
    """Validate and run an experiment file (overrides as for --set) into a temporary storage."""

    def run(path: Path, *overrides: str, name: Any = None) -> RunOutcome:
        experiment = load_experiment(path, list(overrides))
        console = Console(file=open(tmp_path / "progress.txt", "a"))  # noqa: SIM115
        return run_experiment(experiment, storage=str(tmp_path / "results"), name=name, console=console)

    return run
