"""What ``pbt`` and ``pb2`` add to Ray's PopulationBasedTraining: lineage, seeds, bounds, kept checkpoints.

Ray's scheduler decides; this mixin records and guards those decisions:

- every exploit/explore is appended to the experiment's ``pbt_lineage.jsonl``, one JSON object per
  line (:func:`tunefleet.rundir.append_lineage`);
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

This overrides private methods of Ray 2.60's ``PopulationBasedTraining`` (``_exploit``,
``_get_new_config``) and reads its ``_trial_state``; every other private Ray API it needs goes
through :mod:`tunefleet.ray_internals`, which lists these overrides too.
"""

from __future__ import annotations

import contextlib
import random
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search import BasicVariantGenerator

from tunefleet.ray_internals import (
    cache_one_fewer_actor,
    cache_one_more_actor,
    keep_needed_checkpoints,
    resolved_checkpoint_path,
    search_algorithm,
)
from tunefleet.rundir import append_lineage
from tunefleet.search.ray_domains import ray_domain
from tunefleet.search.spaces import Choice, Space

__all__ = ["TunefleetPB2", "TunefleetPBT", "ray_mutations"]

#: The keys of every lineage record, a stable schema that reports read.


def ray_mutations(space: Space) -> dict[str, Any]:
    """``hyperparam_mutations`` for Ray: a choice is a list, so explore moves to a neighbouring value.

    (Ray treats ``tune.choice`` as continuous and multiplies it by 0.8 or 1.2.)
    """
    return {
        key: list(param.options) if isinstance(param, Choice) else ray_domain(param)
        for key, param in space.items()
    }


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
        keep_needed_checkpoints(trial.run_metadata.checkpoint_manager, self._needed_checkpoints)
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
        append_lineage(Path(trial.local_experiment_path), record)
        self.num_lineage_records += 1

    # ------------------------------------------------------------------ internals

    def _keep_actor(self, tune_controller: Any, trial: Any) -> None:
        """Lets Ray cache one more actor (this member's) instead of ending it when it pauses."""
        search = search_algorithm(tune_controller)
        if type(search) is BasicVariantGenerator:
            search.__class__ = _PopulationSearch
        if isinstance(search, _PopulationSearch):
            search._population_live = self._population_live
        cache_one_more_actor(tune_controller, trial.placement_group_factory)
        self._actor_kept.add(trial)

    def _release_actor(self, tune_controller: Any, trial: Any) -> None:
        if trial in self._actor_kept:
            self._actor_kept.discard(trial)
            cache_one_fewer_actor(tune_controller, trial.placement_group_factory)

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
            path = resolved_checkpoint_path(state.last_checkpoint)
            if path is not None:
                needed.add(path)
        return needed


class TunefleetPBT(PopulationMixin, PopulationBasedTraining):
    """Ray's ``PopulationBasedTraining`` with lineage, seeded explore, bounds and kept checkpoints."""


class TunefleetPB2(PopulationMixin, PB2):
    """Ray's ``PB2`` (GP-bandit explore) with lineage, seeds, bounds and kept checkpoints."""
