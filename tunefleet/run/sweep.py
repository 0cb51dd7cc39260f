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

from pydantic import ValidationError
from rich.console import Console

from tunefleet.config import Experiment, ExperimentFile, check_name_argument, check_storage
from tunefleet.config.schema import SelectSettings
from tunefleet.config.selection import selection_problems
from tunefleet.config.space_fit import field_error_message
from tunefleet.console import echo, make_console, plural
from tunefleet.errors import ConfigError, Problem, Terminated, TunefleetError, shown
from tunefleet.ray_internals import unreported_metric
from tunefleet.run.selection import SelectionPlan, fixed_search, plan_selection, selection_experiment
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
    SELECTION_FILE,
    check_resumable,
    latest_run,
    read_experiment_file,
    read_selection_plan,
    resume_command,
    selection_directory,
    unfinished_trials,
    unused_run_name,
    write_experiment_file,
    write_selection_plan,
)

__all__ = [
    "RunOutcome",
    "launch",
    "load_saved_experiment",
    "resume_experiment",
    "run_experiment",
    "select_experiment",
]

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
    """Run a validated experiment to completion: the search, then its selection phase if it has
    ``select:`` (:mod:`tunefleet.run.selection`).

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
        TunefleetError: A storage URI cannot be used (see :func:`check_remote_storage`), or the
            experiment has ``select:`` (which needs a local storage); an
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
    if experiment.settings.select is not None and "://" in storage_path:
        raise TunefleetError(
            f"{experiment.source}: select: the selection phase reads the search's results from a "
            f"local directory; {storage_path} is not one (use a local or mounted --storage)"
        )
    if resume:
        if "://" in storage_path:
            raise TunefleetError(
                "--resume finds earlier runs in local storage only; use tunefleet resume URI"
            )
        directory = latest_run(storage_path, name or experiment.name)
        _check_same_settings(experiment, directory)
        return resume_experiment(directory, address=address, console=console, experiment=experiment)
    run_name = unused_run_name(storage_path, name or experiment.name)
    return launch(
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
    Then the selection phase (``select:``, or one ``tunefleet select`` started) runs or continues:
    its finished trials are kept, its unfinished ones continue.

    Args:
        directory: The experiment directory (``STORAGE/NAME``) of the sweep, or its selection's.
        address: An existing Ray cluster; None starts an embedded local Ray.
        console: Where progress goes (default: stderr).
        experiment: The experiment as it was run; default: read from ``DIR/tunefleet.yaml``.

    Raises:
        TunefleetError: ``directory`` is not a sweep that can be resumed.
    """
    console = console or make_console(stderr=True)
    quiet_ray()
    # The selection phase of a sweep (DIR/selection) continues with its sweep.
    path = _sweep_of(Path(directory).expanduser().resolve())
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
    return launch(
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
def launch(
    experiment: Experiment,
    storage_path: str,
    run_name: str,
    *,
    address: str | None,
    console: Console,
    make_tuner: Callable[[], Any] | None,
    select: SelectSettings | None = None,
) -> RunOutcome:
    """Start Ray, fit the tuner ``make_tuner`` builds (or restores), then the selection phase
    (:func:`_select_phase`) if the experiment has one, and shut Ray down.

    Args:
        make_tuner: None to skip the search (``tunefleet select`` of a finished one).
        select: The selection's settings (default: the experiment's ``select``); a selection
            already started in the directory continues with its own plan.

    SIGTERM stops the sweep as a first Ctrl-C does (:func:`~tunefleet.run.signals.sigterm_stops_sweep`).
    """
    local_dir = None if "://" in storage_path else Path(storage_path) / run_name
    shutdown = start_ray(address, runtime_env(experiment))
    handle_sigterm_again()  # ray.init installed its own handler
    try:
        # Only an embedded Ray tunefleet started itself is known never to grow.
        check_trials_fit(experiment, cluster_capacity(may_autoscale=address is not None or shutdown is None))
        outcome = RunOutcome(path=local_dir or Path(storage_path, run_name), num_trials=0, num_errors=0)
        if make_tuner is not None:
            description = (
                f"{experiment.num_trials_hint()} of {experiment.trainable.ref}, "
                f"{experiment.search.algorithm} search, {experiment.scheduler.name} scheduler, "
                f"optimizing {experiment.objectives_hint()}"
            )
            outcome = _fit(experiment, storage_path, run_name, address, console, make_tuner, description)
        select = select or experiment.settings.select
        selecting = local_dir is not None and (
            select is not None or read_selection_plan(selection_directory(local_dir)) is not None
        )
        if selecting and local_dir is not None and not outcome.interrupted:
            selected = _select_phase(local_dir, experiment, select, address=address, console=console)
            outcome = RunOutcome(
                path=outcome.path,
                num_trials=outcome.num_trials + selected.num_trials,
                num_errors=outcome.num_errors + selected.num_errors,
                num_unfinished=selected.num_unfinished,
            )
        return outcome
    finally:
        if shutdown is not None:
            shutdown()


def _fit(
    experiment: Experiment,
    storage_path: str,
    run_name: str,
    address: str | None,
    console: Console,
    make_tuner: Callable[[], Any],
    description: str,
    resume_path: Path | None = None,
) -> RunOutcome:
    """Fit one Ray Tune experiment (the search, or the selection phase) in a started Ray.

    Args:
        resume_path: The directory ``tunefleet resume`` continues it from (default: its own).
    """
    local_dir = None if "://" in storage_path else Path(storage_path) / run_name
    if local_dir is not None and not (local_dir / EXPERIMENT_FILE).is_file():
        write_experiment_file(local_dir, experiment.raw, run_name, experiment.source)
    echo(console, f"tunefleet: {run_name}: {description}", highlight=False, soft_wrap=True)
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
            + resume_command(resume_path or local_dir or f"{storage_path}/{run_name}", address),
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


def _select_phase(
    directory: Path,
    experiment: Experiment,
    select: SelectSettings | None,
    *,
    address: str | None,
    console: Console,
) -> RunOutcome:
    """Run (or continue) the selection phase of the finished search in ``directory``.

    A selection already started there continues with its own plan (``selection.json``); otherwise
    the finalists are ranked now and the plan is written before any trial starts.
    """
    sel_dir = selection_directory(directory)
    saved = read_selection_plan(sel_dir)
    if saved is not None:
        plan = SelectionPlan.from_json(saved)
    elif select is not None:
        plan = plan_selection(directory, experiment, select)
        write_selection_plan(sel_dir, plan.to_json())
    else:  # pragma: no cover (callers pass settings when no plan exists)
        raise TunefleetError(f"{directory}: no selection settings and no selection started")
    phase = selection_experiment(experiment, plan)
    if (sel_dir / EXPERIMENT_FILE).is_file() and check_resumable(sel_dir):
        make_tuner = partial(restore_tuner, phase, str(sel_dir))
    else:
        search = fixed_search(plan, experiment.search.max_concurrent)
        make_tuner = partial(build_tuner, phase, str(directory), sel_dir.name, console, search=search)
    description = (
        f"{plan.describe()}, {phase.num_trials} trials of {experiment.trainable.ref} to "
        f"{experiment.settings.max_iterations} iterations, by {experiment.metric} ({experiment.mode})"
    )
    return _fit(phase, str(directory), sel_dir.name, address, console, make_tuner, description, directory)


def select_experiment(
    directory: str | Path,
    *,
    top_k: int | None = None,
    seeds: int | None = None,
    include_defaults: bool | None = None,
    address: str | None = None,
    console: Console | None = None,
) -> RunOutcome:
    """Run the selection phase of a finished sweep (``tunefleet select``), or continue it.

    Options left None come from the experiment's ``select:``, else the defaults of
    :class:`~tunefleet.config.schema.SelectSettings`. A selection already started in the directory
    continues with its own plan; options that contradict it are refused.

    Args:
        directory: The sweep's experiment directory (or its ``selection`` sub-directory).
        address: An existing Ray cluster; None starts an embedded local Ray.
        console: Where progress goes (default: stderr).

    Returns:
        The outcome of the selection phase; ``path`` is the sweep's directory.

    Raises:
        TunefleetError: ``directory`` is not a tunefleet experiment directory, or its search is
            not finished, or the selection already started there had other settings.
        ConfigError: an option is invalid (the message names it, e.g. ``--seeds``).
    """
    console = console or make_console(stderr=True)
    quiet_ray()
    path = _sweep_of(Path(directory).expanduser().resolve())
    read_experiment_file(path)  # raises for a directory that is not a tunefleet experiment's
    experiment = load_saved_experiment(path)
    given = {"top_k": top_k, "seeds": seeds, "include_defaults": include_defaults}
    select = _select_settings(path, experiment, {k: v for k, v in given.items() if v is not None})
    saved = read_selection_plan(selection_directory(path))
    if saved is not None:
        _check_same_selection(path, saved, select, [k for k, v in given.items() if v is not None])
    unfinished = unfinished_trials(path, experiment.num_trials)
    if unfinished:
        raise TunefleetError(
            f"{path}: the search has {plural(unfinished, 'unfinished trial')}; finish it first with "
            f"`{resume_command(path, address)}` (which then runs the selection if the experiment has "
            "select:), or select from it as it is after that"
        )
    return launch(
        experiment,
        str(path.parent),
        path.name,
        address=address,
        console=console,
        make_tuner=None,
        select=select,
    )


def _sweep_of(path: Path) -> Path:
    """The sweep's directory, given it or its selection's (``DIR/selection``)."""
    return path.parent if (path / SELECTION_FILE).is_file() else path


_OPTIONS = {"top_k": "--top-k", "seeds": "--seeds", "include_defaults": "--include-defaults"}


def _select_settings(path: Path, experiment: Experiment, given: dict[str, Any]) -> SelectSettings:
    """The selection's settings: ``given`` options over the experiment's ``select:``, validated.

    Raises:
        ConfigError: naming the option (``--seeds``) or the key (``select.seeds``) at fault.
    """

    def key(field: str) -> str:
        if not field:
            return "select"
        return _OPTIONS[field] if field in given else f"select.{field}"

    base = experiment.settings.select.model_dump() if experiment.settings.select else {}
    try:
        select = SelectSettings.model_validate({**base, **given})
    except ValidationError as exc:
        problems = [
            Problem(key(str(error["loc"][0])), f"{field_error_message(error)}, got {shown(error['input'])}")
            for error in exc.errors()
        ]
        raise ConfigError(path, problems, kind="selection") from None
    problems = [Problem(key(field), message) for field, message in selection_problems(select, experiment)]
    if problems:
        raise ConfigError(path, problems, kind="selection")
    return select


def _check_same_selection(
    path: Path, saved: dict[str, Any], select: SelectSettings, given: list[str]
) -> None:
    """Options given to continue a started selection must be the ones it started with."""
    started = {
        "top_k": saved["top_k"],
        "seeds": len(saved["seeds"]),
        "include_defaults": saved["include_defaults"],
    }
    differ = [
        f"{_OPTIONS[k]} {getattr(select, k)} (started with {started[k]})"
        for k in given
        if getattr(select, k) != started[k]
    ]
    if differ:
        raise TunefleetError(
            f"{selection_directory(path)}: a selection already started there; {', '.join(differ)}. Run "
            f"`tunefleet select {path}` without options to continue it, or move that directory away to "
            "select again"
        )
