"""Running sweeps: Ray, the Tuner, the driver's callbacks, and run/resume.

- :mod:`~tunefleet.run.sweep`: :func:`run_experiment`, :func:`resume_experiment`,
  :func:`select_experiment` (the entry points);
- :mod:`~tunefleet.run.selection`: the selection phase's plan, trials and searcher;
- :mod:`~tunefleet.run.extend`: :func:`extend_experiment`, a new sweep continuing a finished one;
- :mod:`~tunefleet.run.session`: starting or connecting to Ray, what the cluster has;
- :mod:`~tunefleet.run.tuner`: the one place that assembles the Ray Tune objects;
- :mod:`~tunefleet.run.callbacks`: progress, time budget, the divergence stopper;
- :mod:`~tunefleet.run.signals`: SIGTERM as a resumable stop;
- :mod:`~tunefleet.run.reaper`: ends an embedded Ray whose driver was killed (no Ray import).

Imported lazily: ``python -m tunefleet.run.reaper`` must not import Ray.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "RunOutcome",
    "extend_experiment",
    "init_local_ray",
    "load_saved_experiment",
    "resume_experiment",
    "run_experiment",
    "select_experiment",
]

_LAZY = {
    "extend_experiment": "tunefleet.run.extend",
    "RunOutcome": "tunefleet.run.sweep",
    "load_saved_experiment": "tunefleet.run.sweep",
    "resume_experiment": "tunefleet.run.sweep",
    "run_experiment": "tunefleet.run.sweep",
    "select_experiment": "tunefleet.run.sweep",
    "init_local_ray": "tunefleet.run.session",
}

if TYPE_CHECKING:
    from tunefleet.run.extend import extend_experiment
    from tunefleet.run.session import init_local_ray
    from tunefleet.run.sweep import (
        RunOutcome,
        load_saved_experiment,
        resume_experiment,
        run_experiment,
        select_experiment,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunefleet.run' has no attribute {name!r}")
