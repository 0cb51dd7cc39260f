"""tunefleet: cluster-scale hyperparameter tuning for PyTorch on Ray Tune.

The public API, for notebooks and scripts (the ``tunefleet`` command is built on it):

>>> from tunefleet import load_experiment, run_experiment, load_results  # doctest: +SKIP
>>> outcome = run_experiment(load_experiment("experiments/quickstart.yaml"))  # doctest: +SKIP
>>> load_results(outcome.path).trials().head()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunefleet.errors import ConfigError, TunefleetError

__all__ = [
    "ConfigError",
    "Experiment",
    "TorchTrainable",
    "TunefleetError",
    "load_experiment",
    "load_results",
    "run_experiment",
]

# Imported lazily: `tunefleet validate` must not pay for torch and Ray imports it does not need.
_LAZY = {
    "Experiment": "tunefleet.config",
    "load_experiment": "tunefleet.config",
    "run_experiment": "tunefleet.run",
    "load_results": "tunefleet.analysis",
    "TorchTrainable": "tunefleet.trainables",
}

if TYPE_CHECKING:
    from tunefleet.analysis import load_results
    from tunefleet.config import Experiment, load_experiment
    from tunefleet.run import run_experiment
    from tunefleet.trainables import TorchTrainable

    __version__: str


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # One source, pyproject.toml's version, as installed (what `tunefleet --version` prints).
        from importlib.metadata import version

        return version("tunefleet")
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunefleet' has no attribute {name!r}")
