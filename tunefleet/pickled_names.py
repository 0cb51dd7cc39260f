"""Names under which earlier tunefleet versions' objects were pickled into experiment directories.

Ray Tune pickles the sweep's settings into ``tuner.pkl`` (callbacks, stopper, search algorithm and
space, scheduler, the trial folder namer) and each trial's run metadata into the experiment state
(its checkpoint manager), by module path. Resuming a sweep that an earlier tunefleet started
unpickles those paths. Objects have moved since (the run package, the searcher plugins, the
module of Ray's internals); :func:`install_pickled_names` makes every old path name the object's
new home, in this process, before a restore. Nothing is imported until then.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["PICKLED_NAMES", "install_pickled_names"]

#: Old module -> {name in it: "new.module:name"}; every path a released tunefleet pickled.
PICKLED_NAMES: dict[str, dict[str, str]] = {
    "tunefleet.progress": {"ProgressCallback": "tunefleet.run.callbacks:ProgressCallback"},
    "tunefleet.resume": {"TimeBudget": "tunefleet.run.callbacks:TimeBudget"},
    "tunefleet.divergence": {"StopDiverged": "tunefleet.run.callbacks:StopDiverged"},
    "tunefleet.result_logs": {
        "JsonLogger": "tunefleet.ray_internals:JsonLogger",
        "CsvLogger": "tunefleet.ray_internals:CsvLogger",
        "_KeepDriverCopy": "tunefleet.ray_internals:_KeepDriverCopy",
    },
    "tunefleet.runner": {"_trial_dirname": "tunefleet.run.tuner:_trial_dirname"},
    "tunefleet.schedulers.population": {"_KeepNeeded": "tunefleet.ray_internals:KeepNeeded"},
    "tunefleet.search.conditional": {"ConditionalDomain": "tunefleet.search.ray_domains:ConditionalDomain"},
    "tunefleet.search.hyperopt_search": {
        "FlatHyperOptSearch": "tunefleet.search.hyperopt.searcher:FlatHyperOptSearch"
    },
}


def _target(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _module(name: str) -> types.ModuleType:
    """The module ``name``, imported if it still exists, else an empty one registered under it."""
    if name in sys.modules:
        return sys.modules[name]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        pass
    module = types.ModuleType(name, f"Old home of names pickled by an earlier tunefleet ({__name__}).")
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(_module(parent), child, module)
    return module


def install_pickled_names() -> None:
    """Make every old path of :data:`PICKLED_NAMES` name its object's new home (idempotent)."""
    for old, names in PICKLED_NAMES.items():
        module = _module(old)
        for name, new in names.items():
            if not hasattr(module, name):
                setattr(module, name, _target(new))
