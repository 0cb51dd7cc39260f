"""Experiment -> ``ray.tune.Tuner``: the one place that assembles the Ray Tune objects of a sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console

from tunefleet.config import Experiment
from tunefleet.loggers import LoggerContext
from tunefleet.ray_internals import (
    CsvLogger,
    JsonLogger,
    NoTensorBoard,
    TrialSafeguards,
    continue_checkpoints,
    keep_trial_output,
)
from tunefleet.run.callbacks import ProgressCallback, StopDiverged, TimeBudget
from tunefleet.rundir import CHECKPOINT_ITERATION_FILE, CONTINUES_KEY, STDERR_FILE, STDOUT_FILE
from tunefleet.search import EvaluatedPoint, build_search
from tunefleet.search.spaces import Constant

__all__ = ["build_tuner", "restore_tuner"]


def _trial_dirname(trial: Any) -> str:
    # Ray's default embeds the whole config in the folder name; short ids stay readable.
    return f"{trial.trainable_name}_{trial.trial_id}"


def _trial_resources(experiment: Experiment) -> Any:
    from ray import tune

    resources = experiment.settings.resources
    if resources.workers is None:
        return {"cpu": resources.cpu, "gpu": resources.gpu}
    # The trainable's own tasks and actors land in the trial's placement group (Tune captures
    # child tasks), so the workers it starts get the bundles after the first.
    return tune.PlacementGroupFactory(resources.bundles(), strategy=resources.placement)


def _trainable_with_resources(experiment: Experiment) -> Any:
    from ray import tune

    trainable = experiment.trainable.obj
    if experiment.trainable.is_class and experiment.trainable.saves_checkpoints:
        # Its checkpoints say their iteration, and `tunefleet extend` can continue them.
        trainable = continue_checkpoints(trainable, CONTINUES_KEY, CHECKPOINT_ITERATION_FILE)
    kept = keep_trial_output(trainable, (STDOUT_FILE, STDERR_FILE))
    return tune.with_resources(kept, _trial_resources(experiment))


def _logger_callbacks(experiment: Experiment, storage: str, name: str) -> list[Any]:
    """The callbacks of the experiment's ``loggers:`` (result.json and progress.csv are not among them)."""
    context = LoggerContext(experiment=experiment.name, run=name, storage=storage)
    callbacks = [plugin.build(options, context) for plugin, options in experiment.loggers]
    if all(plugin.name != "tensorboard" for plugin, _ in experiment.loggers):
        callbacks.append(NoTensorBoard())  # or Ray adds its TensorBoard logger
    return callbacks


def build_tuner(
    experiment: Experiment,
    storage: str,
    name: str,
    console: Console,
    *,
    search: tuple[Any, Any] | None = None,
    history: Sequence[EvaluatedPoint] = (),
    continuations: Sequence[dict[str, Any]] = (),
) -> Any:
    """Assemble the ``ray.tune.Tuner`` for a validated experiment.

    Args:
        search: ``(search_alg, param_space)`` to use instead of the experiment's search (the
            selection phase's fixed configurations, :mod:`tunefleet.run.selection`).
        history: Old results the searcher is warm-started with (``tunefleet extend``,
            :mod:`tunefleet.run.extend`).
        continuations: The configs of trials that continue old checkpoints (run first; extend).
    """
    from ray import tune

    settings = experiment.settings
    objectives = experiment.objectives
    if search is None:
        space = {**experiment.space, **{k: Constant(v) for k, v in experiment.injected_constants().items()}}
        if experiment.multi_objective:
            # The searcher gets every objective; Ray's TuneConfig takes one metric (its best result,
            # its check that trials report it): the first. The scheduler has them all in its context.
            metric: str | list[str] = [o.metric for o in objectives]
            mode: str | list[str] = [o.mode for o in objectives]
        else:
            metric, mode = experiment.metric, experiment.mode
        search = build_search(
            settings.search,
            space,
            metric,
            mode,
            history=history,
            continuations=continuations,
            continues_key=CONTINUES_KEY,
        )
    search_alg, param_space = search
    scheduler = experiment.scheduler.build(experiment.scheduler_options, experiment.scheduler_context)

    is_class = experiment.trainable.is_class
    checkpoint = settings.checkpoint
    # A scheduler may need its own frequency (PBT: its perturbation interval; validated).
    needed = experiment.scheduler.checkpoint_frequency(experiment.scheduler_options)
    frequency = needed or checkpoint.frequency
    checkpoint_config = tune.CheckpointConfig(
        num_to_keep=checkpoint.keep,
        # Function trainables checkpoint themselves through tune.report(checkpoint=...); a
        # class without save_checkpoint cannot be checkpointed at all (validated).
        checkpoint_frequency=frequency if is_class else 0,
        checkpoint_at_end=checkpoint.at_end and experiment.trainable.saves_checkpoints if is_class else None,
    )
    callbacks: list[Any] = [
        ProgressCallback(
            experiment.metric, experiment.mode, experiment.num_trials, console, objectives=objectives
        ),
        # Instead of Ray's own, which lose results when a trial restarts from a checkpoint.
        JsonLogger(),
        CsvLogger(),
        TrialSafeguards(),
        *_logger_callbacks(experiment, storage, name),
    ]
    if settings.time_budget is not None:
        callbacks.append(TimeBudget(settings.time_budget))
    return tune.Tuner(
        _trainable_with_resources(experiment),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=experiment.metric,
            mode=experiment.mode,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=settings.num_samples,
            # One process per concurrent trial, reused through reset_config: no new
            # process and no new `import torch` per trial. Only for trainables that reset
            # themselves: for the others Ray 2.60 fails the trial (see ray_internals).
            reuse_actors=experiment.trainable.reuses_actors,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            stop=StopDiverged([o.metric for o in objectives], settings.max_iterations),
            checkpoint_config=checkpoint_config,
            failure_config=tune.FailureConfig(max_failures=settings.failure.max_failures),
            callbacks=callbacks,
            # Into the trial's working directory; ray_internals copies them to storage.
            log_to_file=(STDOUT_FILE, STDERR_FILE),
            verbose=0,
        ),
    )


def restore_tuner(experiment: Experiment, directory: str) -> Any:
    """``Tuner.restore`` of the sweep in ``directory``, with the experiment's trainable and its
    ``failure.errored_on_resume``."""
    from ray import tune

    from tunefleet.pickled_names import install_pickled_names

    install_pickled_names()  # objects an earlier tunefleet pickled into tuner.pkl
    errored = experiment.settings.failure.errored_on_resume
    return tune.Tuner.restore(
        directory,
        trainable=_trainable_with_resources(experiment),
        resume_unfinished=True,
        resume_errored=errored == "resume",
        restart_errored=errored == "restart",
    )
