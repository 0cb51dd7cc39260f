"""The selection phase: retrain a finished search's best configurations with several seeds each.

A search ranks configurations by one run each, and the best of many runs is partly luck (seed
noise on MNIST-1D: 0.6-1.1 points of accuracy, more than what separates good configurations).
The selection phase takes the ``top_k`` configurations, ranked exactly as ``tunefleet analyze``
ranks them, and (``include_defaults``) the trainable's default configuration, and trains each
``seeds`` times with fresh seeds at the full budget: FIFO, ``max_iterations``, no early stopping.

It is an ordinary Ray Tune experiment in ``<experiment>/selection/`` (see
:func:`tunefleet.rundir.selection_directory`): its trials are the finalists' configs, each with a
``seed`` and a ``finalist`` tag (the rank in the search, or ``"defaults"``), suggested in order by
:class:`FixedConfigs`, checkpointed and resumed like any sweep. The tag stays in the trial's config
(``params.json``, the experiment state) but is taken out of what the trainable receives
(:func:`without_tag`). The plan (finalists, seeds) is written first (``selection.json``), so a
resumed selection retrains exactly the finalists it started with.

The statistics (mean, standard deviation, confidence interval, the verdict) are
:mod:`tunefleet.analysis.selection`'s.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher

from tunefleet.analysis.interface import Scope
from tunefleet.config import Experiment
from tunefleet.config.schema import SelectSettings
from tunefleet.config.selection import DEFAULTS_TAG, FINALIST_KEY, SEED_KEY, default_config
from tunefleet.errors import TunefleetError
from tunefleet.schedulers import parse_scheduler_section
from tunefleet.search import SearchSettings

__all__ = [
    "Finalist",
    "FixedConfigs",
    "SelectionPlan",
    "fixed_search",
    "plan_selection",
    "selection_experiment",
    "selection_seeds",
    "without_tag",
]

#: How the finalists are ranked: as ``tunefleet analyze`` does by default, by the last reported value.
RANKING_SCOPE: Scope = "last"


@dataclass(frozen=True)
class Finalist:
    """A configuration the selection retrains.

    Attributes:
        tag: Its rank in the search (1 is the best), or ``"defaults"``.
        config: The config the search trial received (without its seed), or the default one.
        trial_id: The search trial it comes from (None for the defaults).
        value: That trial's value of the metric in the search (None for the defaults).
    """

    tag: int | str
    config: dict[str, Any]
    trial_id: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class SelectionPlan:
    """What the selection phase trains: every finalist with every seed."""

    metric: str
    mode: str
    top_k: int
    seeds: tuple[int, ...]
    include_defaults: bool
    finalists: tuple[Finalist, ...]
    scope: Scope = RANKING_SCOPE

    def trial_configs(self) -> list[dict[str, Any]]:
        """One config per trial: finalist by finalist, seed by seed."""
        return [
            {**finalist.config, SEED_KEY: seed, FINALIST_KEY: finalist.tag}
            for finalist in self.finalists
            for seed in self.seeds
        ]

    def to_json(self) -> dict[str, Any]:
        """The plan as the mapping of ``selection.json``."""
        return {
            "metric": self.metric,
            "mode": self.mode,
            "scope": self.scope,
            "top_k": self.top_k,
            "seeds": list(self.seeds),
            "include_defaults": self.include_defaults,
            "finalists": [dataclasses.asdict(f) for f in self.finalists],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SelectionPlan:
        return cls(
            metric=data["metric"],
            mode=data["mode"],
            scope=data["scope"],
            top_k=data["top_k"],
            seeds=tuple(data["seeds"]),
            include_defaults=data["include_defaults"],
            finalists=tuple(Finalist(**f) for f in data["finalists"]),
        )

    def describe(self) -> str:
        """``4 configurations x 5 seeds (top 3 + defaults)``."""
        count = len(self.finalists) - self.include_defaults
        return (
            f"{len(self.finalists)} configurations x {len(self.seeds)} seeds "
            f"(top {count}{' + defaults' if self.include_defaults else ''})"
        )


def _without_seed(config: Mapping[str, Any]) -> str:
    """A configuration's identity: its config without the seed (the selection sets the seed)."""
    return json.dumps({k: v for k, v in config.items() if k != SEED_KEY}, sort_keys=True, default=str)


def selection_seeds(count: int, used: Sequence[Any]) -> tuple[int, ...]:
    """The ``count`` smallest seeds >= 0 that none of the finalists' search runs used.

    The search's own runs are not reused: the finalists were picked *because* of those runs, so
    their scores are biased upward (the winner's curse); fresh seeds measure them without bias.

    Example:
        >>> selection_seeds(3, [0, 0, 2])
        (1, 3, 4)
    """
    taken = {seed for seed in used if isinstance(seed, int) and not isinstance(seed, bool)}
    seeds: list[int] = []
    candidate = 0
    while len(seeds) < count:
        if candidate not in taken:
            seeds.append(candidate)
        candidate += 1
    return tuple(seeds)


def plan_selection(directory: Path, experiment: Experiment, select: SelectSettings) -> SelectionPlan:
    """The finalists of the finished search in ``directory`` and the seeds they are retrained with.

    The finalists are the ``top_k`` best trials as ``tunefleet analyze`` ranks them (by the last
    reported value of the experiment's metric), one per distinct configuration (a config that
    differs only in its seed counts once); trials without a finite value are not finalists.

    Raises:
        TunefleetError: no trial of the search reported a finite value of the metric.
    """
    from tunefleet.analysis import load_results  # reads the directory; only needed here

    results = load_results(directory, scope=RANKING_SCOPE)
    configs = results.configs()
    trials = results.trials()
    finalists: list[Finalist] = []
    seen: set[str] = set()
    for trial_id, value in zip(trials["trial_id"], trials["value"], strict=True):
        if len(finalists) == select.top_k:
            break
        config = configs.get(str(trial_id))
        if config is None or not math.isfinite(value):
            continue
        identity = _without_seed(config)
        if identity in seen:
            continue
        seen.add(identity)
        config = {k: v for k, v in config.items() if k != SEED_KEY}
        finalists.append(Finalist(len(finalists) + 1, config, str(trial_id), float(value)))
    if not finalists:
        raise TunefleetError(
            f"{directory}: no trial of the search reported a finite {experiment.metric}, so there is "
            "nothing to select from"
        )
    model = experiment.trainable.hyperparams
    default_seed = model.model_fields[SEED_KEY].default if model and SEED_KEY in model.model_fields else None
    used = [configs.get(f.trial_id or "", {}).get(SEED_KEY, default_seed) for f in finalists]
    if select.include_defaults:
        config, problems = default_config(experiment)
        if problems:  # validated with the experiment; this guards settings built in Python
            raise TunefleetError(f"{directory}: select.include_defaults: {problems[0][1]}")
        finalists.append(Finalist(DEFAULTS_TAG, config))
    return SelectionPlan(
        metric=experiment.metric,
        mode=experiment.mode,
        top_k=select.top_k,
        seeds=selection_seeds(select.seeds, used),
        include_defaults=select.include_defaults,
        finalists=tuple(finalists),
    )


def _untagged(config: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (config or {}).items() if k != FINALIST_KEY}


def without_tag(trainable: Any) -> Any:
    """``trainable`` receiving its trials' configs without the :data:`FINALIST_KEY` tag.

    The tag marks a selection trial in its config (and so in ``params.json`` and the results);
    the trainable must not see it (``TorchTrainable`` refuses unknown keys). A class is
    subclassed (its name kept, as Ray's own wrappers do), a function wrapped.
    """
    if not inspect.isclass(trainable):

        @functools.wraps(trainable)
        def untagged_function(config: dict[str, Any]) -> Any:
            return trainable(_untagged(config))

        return untagged_function

    class Untagged(trainable):
        def __init__(self, config: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
            super().__init__(_untagged(config), *args, **kwargs)

        def reset(self, new_config: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
            return bool(super().reset(_untagged(new_config), *args, **kwargs))

    Untagged.__name__ = Untagged.__qualname__ = trainable.__name__
    return Untagged


def selection_experiment(experiment: Experiment, plan: SelectionPlan) -> Experiment:
    """The experiment the selection phase runs: the finalists' configs as its trials, FIFO (every
    trial to ``max_iterations``), the experiment's trainable (without the tag), resources,
    checkpoints and failure handling."""
    trials = len(plan.trial_configs())
    scheduler, options = parse_scheduler_section({"type": "fifo"})
    settings = experiment.settings.model_copy(
        update={
            "num_samples": trials,
            "scheduler": {"type": "fifo"},
            # Only the concurrency limit carries over: the trials are fixed, nothing is searched.
            "search": SearchSettings.model_validate({"max_concurrent": experiment.search.max_concurrent}),
            "space": {},
            "select": None,
        }
    )
    raw = {**experiment.raw, **settings.model_dump(include={"num_samples", "scheduler", "space"})}
    raw.pop("select", None)
    raw["search"] = {"algorithm": "random", "points_to_evaluate": plan.trial_configs()}
    trainable = dataclasses.replace(experiment.trainable, obj=without_tag(experiment.trainable.obj))
    return dataclasses.replace(
        experiment,
        raw=raw,
        settings=settings,
        space={},
        trainable=trainable,
        scheduler=scheduler,
        scheduler_options=options,
    )


def fixed_search(plan: SelectionPlan, max_concurrent: int | None) -> tuple[Any, dict[str, Any]]:
    """``(search_alg, param_space)`` of the selection phase's Tuner: its trials, in order."""
    searcher: Any = FixedConfigs(plan.trial_configs(), plan.metric, plan.mode)
    if max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    return searcher, {}


class FixedConfigs(Searcher):
    """A Ray Tune searcher that suggests the given configs in order, then says it is finished.

    Its state (how many it suggested) is saved with the experiment's snapshot, so a resumed
    selection suggests only the configs it had not started yet; the started ones are trials in
    the snapshot and continue from their checkpoints.
    """

    def __init__(self, configs: Sequence[Mapping[str, Any]], metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self.configs = [dict(config) for config in configs]
        self.suggested = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.suggested >= len(self.configs):
            return self.FINISHED  # type: ignore[return-value]  # Ray's protocol: the string FINISHED
        config = copy.deepcopy(self.configs[self.suggested])
        self.suggested += 1
        return config

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        pass  # nothing to learn: the configs are fixed

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump({"configs": self.configs, "suggested": self.suggested}, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            state = pickle.load(file)  # the file this searcher wrote into its experiment
        self.configs, self.suggested = state["configs"], state["suggested"]
