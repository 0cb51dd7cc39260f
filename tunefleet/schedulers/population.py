"""What ``pbt`` and ``pb2`` add to Ray's PopulationBasedTraining: lineage, seeds, bounds, kept checkpoints.

Ray's scheduler decides; this mixin records and guards those decisions:

- every exploit/explore is appended to ``<experiment>/pbt_lineage.jsonl`` (:data:`LINEAGE_FILE`),
  one JSON object per line with the keys of :data:`LINEAGE_KEYS`;
- explore draws from the scheduler's own seeded random streams, so a synchronous run repeats;
- a perturbed value is brought back inside the range of its mutation (Ray multiplies by 0.8 or
  1.2 without looking: a momentum of 0.9 becomes 1.08 and the trial would crash);
- paused members keep their processes: Ray caches an actor for reuse only while the search may
  still add trials, and at most one when no trial is waiting for one, so every synchronous step
  (all members pause) and every exploit would start fresh worker processes; the population's
  actors are kept and reused (``reset_config``) until its last member ends;
- a checkpoint that a trial may still be cloned from, or that an exploited trial has not yet
  restored, survives ``checkpoint.keep`` (Ray would delete it as soon as the trial that wrote it
  has saved ``keep`` newer ones; Ray only warns about ``num_to_keep <= 2``).

Everything here relies on private methods of Ray 2.60's ``PopulationBasedTraining``
(``_exploit``, ``_get_new_config``, ``_trial_state``); Ray is pinned to that minor version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
from ray.train._internal.checkpoint_manager import _CheckpointManager, _delete_fs_path
from ray.train._internal.session import _FutureTrainingResult
from ray.tune import Checkpoint
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search import BasicVariantGenerator

from tunefleet.schedulers import LINEAGE_FILE, LINEAGE_KEYS
from tunefleet.search.ray_domains import ray_domain
from tunefleet.search.spaces import Choice, Space

__all__ = ["LINEAGE_FILE", "LINEAGE_KEYS", "TunefleetPB2", "TunefleetPBT", "ray_mutations"]

#: The keys of every lineage record, a stable schema that reports read.


def ray_mutations(space: Space) -> dict[str, Any]:
    """``hyperparam_mutations`` for Ray: a choice is a list, so explore moves to a neighbouring value.

    (Ray treats ``tune.choice`` as continuous and multiplies it by 0.8 or 1.2.)
    """
    return {
        key: list(param.options) if isinstance(param, Choice) else ray_domain(param)
        for key, param in space.items()
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class _KeepNeeded(_CheckpointManager):
    """Ray's per-trial checkpoint manager, except that checkpoints PBT still needs outlive ``keep``.

    ``keep`` then means: the ``keep`` most recent checkpoints, plus those still needed. A needed
    checkpoint stays in the list and is deleted by a later registration, once nothing needs it.
    """

    #: Paths still needed; set per instance by the scheduler, never pickled.
    _needed: Callable[[], set[str]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_needed", None)  # the scheduler is not part of the trial's saved state
        return state

    def register_checkpoint(self, checkpoint_result: Any) -> None:
        config = self._checkpoint_config
        keep = config.num_to_keep
        if keep is None or self._needed is None:
            super().register_checkpoint(checkpoint_result)
            return
        self._checkpoint_config = dataclasses.replace(config, num_to_keep=None)
        try:
            super().register_checkpoint(checkpoint_result)  # bookkeeping only, deletes nothing
        finally:
            self._checkpoint_config = config
        surplus = self._checkpoint_results[:-keep]
        if not surplus:
            return
        needed = self._needed()
        doomed = [
            r
            for r in surplus
            if r is not self._latest_checkpoint_result and r.checkpoint and r.checkpoint.path not in needed
        ]
        self._checkpoint_results = [r for r in self._checkpoint_results if r not in doomed]
        for result in doomed:
            checkpoint = result.checkpoint
            if checkpoint is not None:
                _delete_fs_path(fs=checkpoint.filesystem, fs_path=checkpoint.path)


class _PopulationSearch(BasicVariantGenerator):
    """Ray's grid/random generator, not finished while a population member may still run.

    Ray's controller drops the actor of a paused trial once the search is finished; PBT pauses
    members all the time.
    """

    #: Whether the population still has a member to run; set by the scheduler, never pickled.
    _population_live: Callable[[], bool] | None = None

    def is_finished(self) -> bool:
        live = self._population_live is not None and self._population_live()
        return bool(super().is_finished()) and not live

    def get_state(self) -> Any:
        state = super().get_state()
        if isinstance(state, dict):
            state.pop("_population_live", None)
        return state


class PopulationMixin:
    """Mixed into Ray's ``PopulationBasedTraining`` (or ``PB2``) before it in the bases.

    Args:
        bounds: The mutated hyperparameters as parsed from the YAML; perturbed values are
            clipped to them.
        seed: Seeds explore (None: not reproducible).
        **kwargs: Passed to the Ray scheduler.
    """

    # Provided by Ray's PopulationBasedTraining.
    _trial_state: dict[Any, Any]

    def __init__(self, *, bounds: Space, seed: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bounds = bounds
        python_rng = random.Random(seed)
        numpy_rng = np.random.RandomState(seed)
        self._rng_states: tuple[Any, Any] = (python_rng.getstate(), numpy_rng.get_state())
        self._awaiting_restore: dict[Any, str] = {}
        self._actor_kept: set[Any] = set()
        #: Lineage records written by this scheduler.
        self.num_lineage_records = 0

    # ------------------------------------------------------------------ Ray scheduler API

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        with self._own_rngs(), warnings.catch_warnings():
            # Ray warns that num_to_keep <= 2 may delete checkpoints PBT needs; _KeepNeeded keeps them.
            warnings.filterwarnings("ignore", message="Using `CheckpointConfig.num_to_keep")
            super().on_trial_add(tune_controller, trial)  # type: ignore[misc]
        manager = trial.run_metadata.checkpoint_manager
        if type(manager) is _CheckpointManager:
            manager.__class__ = _KeepNeeded
            cast(_KeepNeeded, manager)._needed = self._needed_checkpoints
        self._keep_actor(tune_controller, trial)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        super().on_trial_complete(tune_controller, trial, result)  # type: ignore[misc]
        self._release_actor(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_error(tune_controller, trial)  # type: ignore[misc]
        self._release_actor(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_remove(tune_controller, trial)  # type: ignore[misc]
        self._release_actor(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        self._awaiting_restore.pop(trial, None)  # a trial that reports has restored what it was given
        with self._own_rngs():
            decision: str = super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]
        return decision

    # ------------------------------------------------------------------ Ray PBT internals

    def _get_new_config(self, trial: Any, trial_to_clone: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        new_config, operations = super()._get_new_config(trial, trial_to_clone)  # type: ignore[misc]
        for key, param in self._bounds.items():
            if key in new_config:
                new_config[key] = param.clip(new_config[key])
        return new_config, operations

    def _exploit(self, tune_controller: Any, trial: Any, trial_to_clone: Any) -> None:
        old_config = dict(trial.config)
        target_result = self._trial_state[trial].last_result or {}
        source_result = self._trial_state[trial_to_clone].last_result or {}
        super()._exploit(tune_controller, trial, trial_to_clone)  # type: ignore[misc]
        latest = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
        if latest is not None and latest.checkpoint is not None:
            self._awaiting_restore[trial] = latest.checkpoint.path
        record = {
            "time": time.time(),
            "trial": trial.trial_id,
            "iteration": target_result.get("training_iteration"),
            "source_trial": trial_to_clone.trial_id,
            "source_iteration": source_result.get("training_iteration"),
            "old_config": old_config,
            "new_config": dict(trial.config),
        }
        with open(Path(trial.local_experiment_path) / LINEAGE_FILE, "a", encoding="utf-8") as file:
            file.write(json.dumps(record, default=_jsonable) + "\n")
        self.num_lineage_records += 1

    # ------------------------------------------------------------------ internals

    def _keep_actor(self, tune_controller: Any, trial: Any) -> None:
        """Lets Ray cache one more actor (this member's) instead of ending it when it pauses."""
        search = tune_controller._search_alg
        if type(search) is BasicVariantGenerator:
            search.__class__ = _PopulationSearch
        if isinstance(search, _PopulationSearch):
            search._population_live = self._population_live
        tune_controller._actor_cache.increase_max(trial.placement_group_factory)
        self._actor_kept.add(trial)

    def _release_actor(self, tune_controller: Any, trial: Any) -> None:
        if trial in self._actor_kept:
            self._actor_kept.discard(trial)
            tune_controller._actor_cache.decrease_max(trial.placement_group_factory)

    def _population_live(self) -> bool:
        return any(not trial.is_finished() for trial in self._trial_state)

    @contextlib.contextmanager
    def _own_rngs(self) -> Iterator[None]:
        """Runs the block on this scheduler's own streams (Ray's explore draws from the global ones)."""
        outer = (random.getstate(), np.random.get_state())
        random.setstate(self._rng_states[0])
        np.random.set_state(self._rng_states[1])
        try:
            yield
        finally:
            self._rng_states = (random.getstate(), np.random.get_state())
            random.setstate(outer[0])
            np.random.set_state(outer[1])

    def _needed_checkpoints(self) -> set[str]:
        """Checkpoints a trial may be cloned from, and those exploited trials have yet to restore."""
        needed = set(self._awaiting_restore.values())
        for state in self._trial_state.values():
            checkpoint = state.last_checkpoint
            if isinstance(checkpoint, _FutureTrainingResult):
                resolved = checkpoint.resolve(block=False)
                checkpoint = resolved.checkpoint if resolved is not None else None
            if isinstance(checkpoint, Checkpoint):
                needed.add(checkpoint.path)
        return needed


class TunefleetPBT(PopulationMixin, PopulationBasedTraining):
    """Ray's ``PopulationBasedTraining`` with lineage, seeded explore, bounds and kept checkpoints."""


class TunefleetPB2(PopulationMixin, PB2):
    """Ray's ``PB2`` (GP-bandit explore) with lineage, seeds, bounds and kept checkpoints."""
