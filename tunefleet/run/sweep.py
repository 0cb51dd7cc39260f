"""Run and resume sweeps: validated experiment in, experiment directory out.

:func:`run_experiment` and :func:`resume_experiment` are the library's entry points (the CLI's
``run`` and ``resume``); they start Ray (:mod:`~tunefleet.run.session`), build or restore the Tuner
(:mod:`~tunefleet.run.tuner`), write through :mod:`tunefleet.rundir`, and say how the sweep ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from tunefleet.config import Experiment, ExperimentFile, check_name_argument, check_storage
from tunefleet.console import echo, make_console
from tunefleet.errors import Terminated, TunefleetError
from tunefleet.ray_internals import unreported_metric
from tunefleet.run.session import (
    check_trials_fit,
    cluster_capacity,
    quiet_ray,
    resolve_storage,
    runtime_env,
    start_ray,
)
from tunefleet.run.signals import handle_sigterm_again, sigterm_stops_sweep
from tunefleet.run.tuner import build_tuner, restore_tuner
from tunefleet.rundir import (
    EXPERIMENT_FILE,
    check_resumable,
    latest_run,
    read_experiment_file,
    resume_command,
    unfinished_trials,
    unused_run_name,
    write_experiment_file,
)

__all__ = ["RunOutcome", "load_saved_experiment", "resume_experiment", "run_experiment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """What a finished sweep left behind.

    Attributes:
        path: The experiment directory (readable by ``ray.tune.ExperimentAnalysis``).
        num_trials: Trials that ran.
        num_errors: Trials that ended in ERROR.
        num_unfinished: Trials not run to their end because the sweep was stopped early (Ctrl-C,
            ``time_budget``); ``tunefleet resume`` continues them.
    """

    path: Path
    num_trials: int
    num_errors: int
    num_unfinished: int = 0

    @property
    def interrupted(self) -> bool:
        """True when the sweep stopped before its end and can be resumed."""
        return self.num_unfinished > 0


def run_experiment(
    experiment: Experiment,
    *,
    address: str | None = None,
    storage: str | None = None,
    name: str | None = None,
    console: Console | None = None,
    resume: bool = False,
) -> RunOutcome:
    """Run a validated experiment to completion.

    Args:
        experiment: From :func:`tunefleet.config.load_experiment`.
        address: An existing Ray cluster (``auto``, ``ray://host:10001``...); None starts an
            embedded local Ray bound to 127.0.0.1 without a dashboard.
        storage: Overrides the experiment's ``storage``.
        name: Overrides the experiment's ``name``.
        console: Where progress goes (default: stderr).
        resume: Continue the latest run of this experiment in ``storage`` instead of starting
            a new one (see :func:`resume_experiment`).

    Returns:
        Where the results are and how many trials failed or are unfinished.

    Raises:
        ConfigError: ``name`` is not one directory name (see ``config.schema.name_problem``);
            a local storage cannot be created or written, or a URI is malformed.
        TunefleetError: A storage URI cannot be used (see :func:`check_remote_storage`); an
            ``address`` is malformed or unreachable; with ``resume``, there is no earlier run
            or it was run with different settings; a trial reported results without the
            experiment's ``metric`` (the sweep stops there, its trial in ERROR).
    """
    if name is not None:
        check_name_argument(name, experiment)
    console = console or make_console(stderr=True)
    quiet_ray()
    # Checked before anything starts, without creating anything: a refused run leaves nothing behind.
    check_storage(experiment, storage)
    storage_path = resolve_storage(storage or experiment.settings.storage)
    if resume:
        if "://" in storage_path:
            raise TunefleetError(
                "--resume finds earlier runs in local storage only; use tunefleet resume URI"
            )
        directory = latest_run(storage_path, name or experiment.name)
        _check_same_settings(experiment, directory)
        return resume_experiment(directory, address=address, console=console, experiment=experiment)
    run_name = unused_run_name(storage_path, name or experiment.name)
    return _launch(
        experiment,
        storage_path,
        run_name,
        address=address,
        console=console,
        make_tuner=lambda: build_tuner(experiment, storage_path, run_name, console),
    )


def resume_experiment(
    directory: str | Path,
    *,
    address: str | None = None,
    console: Console | None = None,
    experiment: Experiment | None = None,
) -> RunOutcome:
    """Continue an interrupted sweep in its experiment directory until it is complete.

    Finished trials are kept as they are; unfinished ones continue from their last checkpoint
    (or start, if they never saved one); trials that ended in ERROR are kept, resumed or
    restarted as ``failure.errored_on_resume`` says; the searcher continues from its saved
    state. Works after Ctrl-C, a ``time_budget`` stop, a killed driver, or a Ray that is gone.

    Args:
        directory: The experiment directory (``STORAGE/NAME``) of the sweep.
        address: An existing Ray cluster; None starts an embedded local Ray.
        console: Where progress goes (default: stderr).
        experiment: The experiment as it was run; default: read from ``DIR/tunefleet.yaml``.

    Raises:
        TunefleetError: ``directory`` is not a sweep that can be resumed.
    """
    console = console or make_console(stderr=True)
    quiet_ray()
    path = Path(directory).expanduser().resolve()
    resumable = check_resumable(path)
    experiment = experiment or load_saved_experiment(path)
    if resumable:
        make_tuner = partial(restore_tuner, experiment, str(path))
    else:
        echo(
            console,
            f"tunefleet: {path} holds no snapshot yet (the sweep was stopped as it started): starting over",
            highlight=False,
            soft_wrap=True,
        )
        make_tuner = partial(build_tuner, experiment, str(path.parent), path.name, console)
    return _launch(
        experiment, str(path.parent), path.name, address=address, console=console, make_tuner=make_tuner
    )


def load_saved_experiment(directory: Path) -> Experiment:
    """The experiment as it was run in ``directory`` (its ``tunefleet.yaml``), validated again.

    A user trainable module is looked up next to the original experiment file, as at the start.
    """
    from tunefleet.config import load_experiment

    saved = read_experiment_file(directory)
    return load_experiment(saved.path, search_dirs=[saved.origin.parent] if saved.origin else [])


def _comparable(settings: ExperimentFile) -> dict[str, Any]:
    # Everything but what a resume may change: where it runs, and what it does with errored trials.
    data = settings.model_dump(exclude={"name", "storage"})
    data["failure"].pop("errored_on_resume")
    return data


def _check_same_settings(experiment: Experiment, directory: Path) -> None:
    """A sweep resumes with the settings it started with: refuse an edited experiment file."""
    saved = read_experiment_file(directory).settings()
    before, now = _comparable(ExperimentFile.model_validate(saved)), _comparable(experiment.settings)
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if changed:
        raise TunefleetError(
            f"{experiment.source}: {', '.join(changed)} changed since the run in {directory} started; "
            f"a sweep resumes with the settings it started with: undo the change, or run "
            f"`{resume_command(directory)}`, or run without --resume to start a new sweep"
        )


@sigterm_stops_sweep()
def _launch(
    experiment: Experiment,
    storage_path: str,
    run_name: str,
    *,
    address: str | None,
    console: Console,
    make_tuner: Callable[[], Any],
) -> RunOutcome:
    """Start Ray, fit the tuner ``make_tuner`` builds (or restores), shut Ray down.

    SIGTERM stops the sweep as a first Ctrl-C does (:func:`~tunefleet.run.signals.sigterm_stops_sweep`).
    """
    local_dir = None if "://" in storage_path else Path(storage_path) / run_name
    shutdown = start_ray(address, runtime_env(experiment))
    handle_sigterm_again()  # ray.init installed its own handler
    try:
        # Only an embedded Ray tunefleet started itself is known never to grow.
        check_trials_fit(experiment, cluster_capacity(may_autoscale=address is not None or shutdown is None))
        if local_dir is not None and not (local_dir / EXPERIMENT_FILE).is_file():
            write_experiment_file(local_dir, experiment.raw, run_name, experiment.source)
        echo(
            console,
            f"tunefleet: {run_name}: {experiment.num_trials_hint()} of {experiment.trainable.ref}, "
            f"{experiment.search.algorithm} search, {experiment.scheduler.name} scheduler, "
            f"optimizing {experiment.objectives_hint()}",
            highlight=False,
            soft_wrap=True,
        )
        echo(
            console,
            f"tunefleet: results in {local_dir or storage_path + '/' + run_name}",
            highlight=False,
            soft_wrap=True,
        )
        tuner = make_tuner()
        try:
            results = tuner.fit()
        except (KeyboardInterrupt, Terminated):
            # A second Ctrl-C skips Ray's final snapshot; the previous one is still there.
            echo(
                console,
                "tunefleet: stopped at once; the last snapshot is kept. Resume with:\n  "
                + resume_command(local_dir or f"{storage_path}/{run_name}", address),
                highlight=False,
                soft_wrap=True,
            )
            raise
        path = Path(results.experiment_path) if local_dir is None else local_dir
        reported = unreported_metric(results)
        if reported is not None:
            wanted = " or ".join(repr(o.metric) for o in experiment.objectives)
            raise TunefleetError(
                f"{experiment.source}: metric: {experiment.trainable.ref} reported {reported} but not "
                f"{wanted}; set metric: to one of those, or report {wanted} "
                f"from the trainable (the sweep stopped at the first such result: {path})"
            )
        return RunOutcome(
            path=path,
            num_trials=len(results),
            num_errors=len(results.errors),
            num_unfinished=0 if local_dir is None else unfinished_trials(local_dir, experiment.num_trials),
        )
    finally:
        if shutdown is not None:
            shutdown()
