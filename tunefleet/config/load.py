"""Experiment file -> validated :class:`Experiment`: every check happens here, before Ray starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from tunefleet.config.schema import MAX_TRIALS, ExperimentFile, SearchSettings, name_problem
from tunefleet.config.selection import selection_problems
from tunefleet.config.shipped import find_experiment_file
from tunefleet.config.space_fit import field_error_message, space_problems
from tunefleet.config.storage import storage_problem
from tunefleet.config.yaml_source import apply_overrides, read_yaml_file
from tunefleet.console import plural
from tunefleet.errors import ConfigError, Problem, did_you_mean, shown
from tunefleet.loggers import DEFAULT_LOGGERS, LoggerOptions, LoggerPlugin, get_logger, parse_logger_entry
from tunefleet.objectives import Objective, objectives_of
from tunefleet.schedulers import (
    SchedulerContext,
    SchedulerOptions,
    SchedulerPlugin,
    get_scheduler,
    parse_scheduler_section,
)
from tunefleet.search import (
    SearcherOptions,
    SearcherPlugin,
    algorithm_keys,
    get_searcher,
    pairing_problem,
)
from tunefleet.search.spaces import Conditional, Constant, Param, Space, parse_space, walk
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.registry import ResolvedTrainable, TrainableNotFound, resolve_trainable

__all__ = ["MAX_TRIALS", "Experiment", "check_name_argument", "check_storage", "load_experiment"]

#: Hyperparameters the runner fills in from the experiment when the trainable accepts them.
INJECTED_HYPERPARAMS = ("max_iterations",)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment, ready for :func:`tunefleet.run.run_experiment`.

    Attributes:
        source: The experiment file.
        raw: The file's mapping after ``--set`` overrides (saved next to the results).
        settings: The typed top-level settings.
        space: The parsed search space.
        trainable: The imported trainable.
        scheduler: The scheduler plugin and its validated options.
        searcher: The search algorithm's plugin and its own validated options.
        loggers: Each ``loggers:`` entry's plugin and validated options, in the file's order.
    """

    source: Path
    raw: dict[str, Any]
    settings: ExperimentFile
    space: Space
    trainable: ResolvedTrainable
    scheduler: SchedulerPlugin
    scheduler_options: SchedulerOptions
    searcher: SearcherPlugin
    searcher_options: SearcherOptions
    loggers: tuple[tuple[LoggerPlugin, LoggerOptions], ...]

    @property
    def name(self) -> str:
        return self.settings.name or self.source.stem

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """What the sweep optimizes: one objective, or several (``metric: [a, b]``)."""
        return objectives_of(self.settings.metric, self.settings.mode)

    @property
    def multi_objective(self) -> bool:
        """The sweep optimizes several metrics at once (validated: its searcher and scheduler can)."""
        return len(self.objectives) > 1

    @property
    def metric(self) -> str:
        """The (first) objective's metric: what single-objective code and Ray's ``TuneConfig`` get."""
        return self.objectives[0].metric

    @property
    def mode(self) -> str:
        """The (first) objective's mode."""
        return self.objectives[0].mode

    def objectives_hint(self) -> str:
        """``val_accuracy (max)``, or ``val_accuracy (max), params (min)``."""
        return ", ".join(f"{o.metric} ({o.mode})" for o in self.objectives)

    @property
    def search(self) -> SearchSettings:
        return self.settings.search

    @property
    def scheduler_context(self) -> SchedulerContext:
        return SchedulerContext(
            metric=self.metric,
            mode=self.mode,
            objectives=self.objectives if self.multi_objective else (),
            max_iterations=self.settings.max_iterations,
            space_keys=tuple(k for k, p in self.space.items() if p.sampled),
            search_algorithm=self.search.algorithm,
            checkpoint_frequency=self.settings.checkpoint.frequency,
            checkpoint_keep=self.settings.checkpoint.keep,
        )

    def injected_constants(self) -> dict[str, Any]:
        """Values the trainable receives from the experiment rather than from the space."""
        fields = self.trainable.hyperparams.model_fields if self.trainable.hyperparams else {}
        values = {"max_iterations": self.settings.max_iterations}
        return {k: values[k] for k in INJECTED_HYPERPARAMS if k in fields and k not in self.space}

    def grid_size(self) -> int:
        """Number of grid points (1 without grid values); each is run ``num_samples`` times."""
        return self.searcher.grid_size(self.space)

    @property
    def num_trials(self) -> int:
        """How many trials the sweep will run."""
        return self.grid_size() * self.settings.num_samples

    def num_trials_hint(self) -> str:
        """Human description of how many trials the sweep will run."""
        size = self.grid_size()
        if size == 1:
            return plural(self.num_trials, "trial")
        return f"{plural(self.num_trials, 'trial')} ({size} grid points x {self.settings.num_samples})"


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``loc`` (for listing valid keys)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        # An optional section (``select: SelectSettings | None``): the model of its settings.
        annotation = next(
            (a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), annotation
        )
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def pydantic_problems(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[Problem]:
    """Turn a pydantic error into problems with dotted key paths and the expected values."""
    problems = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"]]
        key = ".".join([prefix, *loc] if prefix else loc)
        if item["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            valid = sorted(owner.model_fields) if owner else []
            message = f"unknown key{did_you_mean(loc[-1], valid)}"
            if valid:
                message += f"; expected one of: {', '.join(valid)}"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{item['msg']}, got {shown(item['input'])}"
        problems.append(Problem(key, message))
    return problems


def _too_many_trials(experiment: Experiment) -> str:
    size, samples = experiment.grid_size(), experiment.settings.num_samples
    grid = f" ({size:,} grid points x {samples})" if size > 1 else ""
    return (
        f"{experiment.num_trials:,} trials{grid}; expected at most {MAX_TRIALS:,} per sweep: Ray Tune's "
        "driver keeps every trial in memory (about 70 MiB per 1,000 trials); split the sweep into "
        "several experiments"
    )


def check_storage(experiment: Experiment, storage: str | None = None) -> None:
    """Results can be written where the sweep would put them (``tunefleet validate``).

    Args:
        experiment: The validated experiment.
        storage: ``--storage`` (or ``TUNEFLEET_STORAGE``), which replaces the file's ``storage``.

    Raises:
        ConfigError: a local directory cannot be created or written, or a URI is malformed; a
            logger needs a local storage for its default location (``loggers.N.OPTION``).
    """
    problem = storage_problem(storage or experiment.settings.storage)
    if problem:
        raise ConfigError.single(experiment.source, "--storage" if storage else "storage", problem)
    if storage:  # the file's storage was checked with the loggers when the file was loaded
        problems = [
            Problem(f"loggers.{index}.{key}", f"{message} (--storage is {shown(storage)})")
            for index, (plugin, options) in enumerate(experiment.loggers)
            for key, message in plugin.check(options, storage)
        ]
        if problems:
            raise ConfigError(experiment.source, problems)


def check_name_argument(name: str, experiment: Experiment) -> None:
    """A name given besides the file (``tunefleet run --name``) obeys the file's own rule.

    Raises:
        ConfigError: ``name`` is not one directory name inside the storage.
    """
    if reason := name_problem(name):
        raise ConfigError.single(experiment.source, "--name", f"{shown(name)} {reason}")


def _parse_scheduler(raw: Any, source: Path) -> tuple[SchedulerPlugin, SchedulerOptions] | list[Problem]:
    if not isinstance(raw, dict) or "type" not in raw:
        return [
            Problem(
                "scheduler", f"expected a mapping with a 'type' key, e.g. {{type: asha}}, got {shown(raw)}"
            )
        ]
    try:
        return parse_scheduler_section(raw)
    except KeyError as exc:
        return [Problem("scheduler.type", str(exc.args[0]))]
    except ValidationError as exc:
        return pydantic_problems(exc, get_scheduler(str(raw["type"])).options, prefix="scheduler")


def _parse_loggers(raw: Any, storage: Any) -> tuple[list[tuple[LoggerPlugin, LoggerOptions]], list[Problem]]:
    """Each ``loggers:`` entry's plugin and options, with what it needs installed and where it
    writes checked against the file's ``storage``; problems are keyed ``loggers.N[.option]``."""
    if not isinstance(raw, list):
        return [], []  # reported by the schema
    parsed: list[tuple[LoggerPlugin, LoggerOptions]] = []
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for index, entry in enumerate(raw):
        key = f"loggers.{index}"
        name_key = f"{key}.type" if isinstance(entry, dict) else key
        try:
            plugin, options = parse_logger_entry(entry)
        except TypeError as exc:
            problems.append(Problem(key, str(exc)))
            continue
        except KeyError as exc:
            problems.append(Problem(name_key, str(exc.args[0])))
            continue
        except ValidationError as exc:
            problems += pydantic_problems(exc, get_logger(entry["type"]).options, prefix=key)
            continue
        if plugin.name in first:
            problems.append(
                Problem(
                    name_key, f"{plugin.name} is already loggers.{first[plugin.name]}; list a logger once"
                )
            )
            continue
        first[plugin.name] = index
        problems += [
            Problem(name_key, f"logger {plugin.name} needs {missing}, which is not installed")
            for missing in plugin.missing_dependencies()
        ]
        if isinstance(storage, str):
            problems += [
                Problem(f"{key}.{option}", message) for option, message in plugin.check(options, storage)
            ]
        parsed.append((plugin, options))
    return parsed, problems


def _parse_search(raw: Any) -> tuple[SearcherPlugin, SearcherOptions] | list[Problem]:
    """The algorithm's plugin and its own options; the common keys are the schema's."""
    if not isinstance(raw, dict) or not isinstance(raw.get("algorithm", "random"), str):
        return []  # reported by the schema
    try:
        plugin = get_searcher(raw.get("algorithm", "random"))
    except KeyError as exc:
        return [Problem("search.algorithm", str(exc.args[0]))]
    own, unknown = algorithm_keys(plugin, raw)
    problems = [Problem(f"search.{key}", message) for key, message in unknown]
    try:
        options = plugin.options.model_validate(own)
    except ValidationError as exc:
        problems += pydantic_problems(exc, plugin.options, prefix="search")
    return problems or (plugin, options)


def _objectives(settings: ExperimentFile) -> tuple[Objective, ...] | Problem:
    """The objectives of ``metric``/``mode``, or the problem with the two (the key that is off)."""
    try:
        return objectives_of(settings.metric, settings.mode)
    except ValueError as exc:
        metrics = [settings.metric] if isinstance(settings.metric, str) else settings.metric
        key = "metric" if len(set(metrics)) != len(metrics) else "mode"
        return Problem(key, str(exc))


def _multi_objective_problems(
    objectives: tuple[Objective, ...],
    search_plugin: SearcherPlugin,
    search_options: SearcherOptions,
    scheduler: SchedulerPlugin,
) -> list[Problem]:
    """A metric list needs a searcher and a scheduler that judge trials on several metrics."""
    given = f"metric is a list ({', '.join(o.metric for o in objectives)})"
    problems = []
    if reason := search_plugin.single_objective_reason(search_options):
        key, why = reason
        problems.append(
            Problem(
                key,
                f"{given}, but search.algorithm {search_plugin.name} {why}; use algorithm optuna "
                "(sampler nsga2, tpe, gp or random) or random",
            )
            if key == "search.algorithm"
            else Problem(key, f"{given}, but {why}")
        )
    if not scheduler.multi_objective:
        problems.append(
            Problem(
                "scheduler.type",
                f"{given}, but scheduler {scheduler.name} judges trials on one metric; use type moasha "
                "(successive halving by Pareto rank) or fifo (stops nothing)",
            )
        )
    return problems


def _check_defaults(space: Space, trainable: ResolvedTrainable, injected: dict[str, Any]) -> list[Problem]:
    """Hyperparameters the space leaves at their default are valid too, with the experiment's
    constants (a default that is checked, such as a dataset directory that must exist)."""
    model = trainable.hyperparams
    if model is None:
        return []
    constants = {name: p.value for name, p in space.items() if isinstance(p, Constant)} | injected
    try:
        model.model_validate(constants)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"] or error["loc"][0] in space:
                continue  # values in the space are checked one by one
            if error["type"] == "missing":
                message = "required, and not set"
            else:
                message = f"not set, and the default does not work here: {field_error_message(error)}"
            problems.append(Problem(f"space.{error['loc'][0]}", message))
        return problems
    return []


def _check_fp16_has_a_gpu(
    space: Space, settings: ExperimentFile, trainable: ResolvedTrainable, prefix: str = "space"
) -> list[Problem]:
    """``precision: fp16`` needs a GPU (its kernels and gradient scaler); CPUs have bf16."""
    model = trainable.hyperparams
    if model is None or not issubclass(model, TrainingHyperparams):
        return []
    resources = settings.resources
    if resources.gpu or (resources.workers is not None and resources.workers.gpu):
        return []
    return [
        Problem(
            f"{prefix}.{path}" if isinstance(param, Constant) else f"{prefix}.{path}.{param.kind}",
            "fp16 needs a GPU, and this experiment's trials get none (resources.gpu and "
            "resources.workers.gpu are 0); use bf16 or fp32 on CPUs, or give each trial a GPU",
        )
        for path, name, param in walk(space)
        if name == "precision" and param.contains("fp16")
    ]


def _data_parallel_resources(
    raw: dict[str, Any], settings: ExperimentFile, trainable: ResolvedTrainable
) -> tuple[dict[str, Any], ExperimentFile, list[Problem]]:
    """``resources.workers`` of a ``TorchTrainable`` are its data-parallel ranks: one GPU each at
    most, none in the trial's own process, whose CPUs default to 0 (it trains nothing itself).

    The default is written into the experiment (``raw`` is what is saved with the results), so
    that a resumed sweep reserves what the first run did. Other trainables' workers are their own.
    """
    resources = settings.resources
    workers = resources.workers
    if workers is None or not trainable.is_class:
        return raw, settings, []
    from tunefleet.trainables.base import TorchTrainable  # imports Ray and torch: only here

    if not issubclass(trainable.obj, TorchTrainable):
        return raw, settings, []
    problems = []
    if 0 < workers.gpu < 1 and workers.count > 1:
        problems.append(
            Problem(
                "resources.workers.gpu",
                f"{shown(workers.gpu)} GPU per worker would put several of the trial's workers on one "
                "GPU, which NCCL refuses ('Duplicate GPU detected', Ray issue 48012); give each worker "
                "a whole GPU (gpu: 1), or use one worker",
            )
        )
    elif workers.gpu > 1:
        problems.append(
            Problem(
                "resources.workers.gpu",
                f"a data-parallel worker trains on one GPU, got {shown(workers.gpu)}; for more GPUs "
                f"per trial ask for more workers (count: {workers.count * int(workers.gpu)}, gpu: 1)",
            )
        )
    if resources.gpu:
        problems.append(
            Problem(
                "resources.gpu",
                f"{trainable.ref} trains on its workers (resources.workers), not in the trial's own "
                "process; give the GPUs to the workers (resources.workers.gpu) and set resources.gpu: 0",
            )
        )
    given = raw.get("resources")
    if isinstance(given, dict) and "cpu" not in given:
        raw = {**raw, "resources": {"cpu": 0, **given}}
        settings = settings.model_copy(update={"resources": resources.model_copy(update={"cpu": 0.0})})
    return raw, settings, problems


def _check_point(point: dict[str, Any], space: Space, key: str) -> list[Problem]:
    """A ``points_to_evaluate`` entry names hyperparameters of the space, with values inside it."""
    problems = []
    params: dict[str, Param | str] = {}
    for name, param in space.items():
        params[name] = param
        if isinstance(param, Conditional):
            # A dependent is judged by the branch the point chooses.
            branch = param.branch(point.get(name))
            for dep in param.dependents:
                params[dep] = branch.get(dep, f"not sampled when {name} is {shown(point.get(name))}")
    for name, value in point.items():
        found = params.get(name)
        if found is None:
            problems.append(Problem(f"{key}.{name}", f"not in space (expected one of: {', '.join(params)})"))
        elif isinstance(found, str):
            if value is not None:
                problems.append(Problem(f"{key}.{name}", found))
        elif not found.contains(value):
            problems.append(Problem(f"{key}.{name}", f"{shown(value)} is outside {shown(found.to_yaml())}"))
    return problems


def _check_points(space: Space, search: SearchSettings) -> list[Problem]:
    """Every ``points_to_evaluate`` entry lies in the space (what each algorithm adds is its own check)."""
    problems = []
    for index, point in enumerate(search.points_to_evaluate):
        problems += _check_point(point, space, f"search.points_to_evaluate.{index}")
    return problems


def load_experiment(
    path: str | Path, overrides: Sequence[str] = (), *, search_dirs: Sequence[Path] = ()
) -> Experiment:
    """Read, override and validate an experiment file.

    Nothing is started: this only reads files and imports the trainable's module.

    Args:
        path: The experiment YAML, or the name of a shipped experiment (``"quickstart"``; see
            :mod:`tunefleet.config.shipped`): an existing file wins.
        overrides: ``key.path=value`` strings (``--set``), values parsed as YAML.
        search_dirs: More directories to import a user's trainable module from, besides the
            file's own directory and the current one.

    Returns:
        The validated experiment.

    Raises:
        ConfigError: every problem found, each with its key path and what was expected.

    Example:
        >>> exp = load_experiment("experiments/quickstart.yaml", ["num_samples=4"])  # doctest: +SKIP
        >>> exp.settings.num_samples
        4
    """
    source = find_experiment_file(path)
    raw = apply_overrides(read_yaml_file(source), list(overrides), source)

    problems: list[Problem] = []
    settings: ExperimentFile | None = None
    try:
        settings = ExperimentFile.model_validate(raw)
    except ValidationError as exc:
        problems += pydantic_problems(exc, ExperimentFile)

    space: Space = {}
    try:
        space = parse_space(raw.get("space"), source)
    except ConfigError as exc:
        problems += exc.problems

    searcher = _parse_search(raw.get("search", {}))
    if isinstance(searcher, list):
        problems += searcher

    scheduler = _parse_scheduler(raw.get("scheduler", {"type": "fifo"}), source)
    if isinstance(scheduler, list):
        problems += scheduler

    loggers, logger_problems = _parse_loggers(
        raw.get("loggers", list(DEFAULT_LOGGERS)), raw.get("storage", "tunefleet_results")
    )
    problems += logger_problems

    trainable: ResolvedTrainable | None = None
    ref = raw.get("trainable")
    if isinstance(ref, str) and ref:
        try:
            trainable = resolve_trainable(ref, [source.resolve().parent, *search_dirs, Path.cwd()])
        except TrainableNotFound as exc:
            problems.append(Problem("trainable", str(exc)))

    if (
        problems
        or settings is None
        or trainable is None
        or isinstance(scheduler, list)
        or isinstance(searcher, list)
    ):
        raise ConfigError(source, problems)

    if settings.name is not None:
        if reason := name_problem(settings.name):
            problems.append(Problem("name", f"{shown(settings.name)} {reason}"))
    elif reason := name_problem(source.stem):
        message = (
            f"not set, and the file name gives {shown(source.stem)}, which {reason} (set name: in the file)"
        )
        problems.append(Problem("name", message))
    raw, settings, resource_problems = _data_parallel_resources(raw, settings, trainable)
    problems += resource_problems
    objectives = _objectives(settings)
    if isinstance(objectives, Problem):
        problems.append(objectives)
        objectives = ()
    reported = trainable.reported_metrics
    for index, objective in enumerate(objectives):
        if reported is not None and objective.metric not in reported:
            hint = did_you_mean(objective.metric, sorted(reported))
            problems.append(
                Problem(
                    "metric" if len(objectives) == 1 else f"metric.{index}",
                    f"{trainable.ref} never reports {shown(objective.metric)}{hint}; "
                    f"it reports: {', '.join(sorted(reported))}",
                )
            )
    if not trainable.is_class and settings.checkpoint.frequency:
        problems.append(
            Problem(
                "checkpoint.frequency",
                f"{trainable.ref} is a function trainable: it saves checkpoints itself with "
                "tune.report(..., checkpoint=...); expected 0",
            )
        )
    if trainable.hyperparams is not None:
        problems += space_problems(space, trainable.hyperparams, trainable.ref)
    problems += _check_fp16_has_a_gpu(space, settings, trainable)
    search_plugin, search_options = searcher
    problems += _check_points(space, settings.search)
    problems += [
        Problem(key, message) for key, message in search_plugin.check(search_options, space, settings.search)
    ]
    plugin, options = scheduler
    if len(objectives) > 1:
        problems += _multi_objective_problems(objectives, search_plugin, search_options, plugin)
    if not trainable.saves_checkpoints:
        no_checkpoints = (
            f"{trainable.ref} has no save_checkpoint/load_checkpoint, so it cannot be checkpointed"
        )
        if settings.checkpoint.frequency:
            problems.append(Problem("checkpoint.frequency", f"{no_checkpoints}; expected 0"))
        if plugin.checkpoint_frequency(options):
            problems.append(
                Problem("scheduler.type", f"{plugin.name} moves trials through checkpoints; {no_checkpoints}")
            )
    if not objectives:
        raise ConfigError(source, problems)  # the experiment cannot say what it optimizes
    experiment = Experiment(
        source,
        raw,
        settings,
        space,
        trainable,
        plugin,
        options,
        search_plugin,
        search_options,
        tuple(loggers),
    )
    if experiment.num_trials > MAX_TRIALS:
        problems.append(Problem("num_samples", _too_many_trials(experiment)))
    if settings.select is not None:
        problems += [
            Problem(f"select.{key}" if key else "select", message)
            for key, message in selection_problems(settings.select, experiment)
        ]
    problems += _check_defaults(space, trainable, experiment.injected_constants())
    problems += [
        Problem(f"scheduler.{key}", message)
        for key, message in plugin.check(options, experiment.scheduler_context)
    ]
    scheduler_missing = plugin.missing_dependencies()
    problems += [
        Problem("scheduler.type", f"scheduler {plugin.name} needs {missing}, which is not installed")
        for missing in scheduler_missing
    ]
    problems += [
        Problem(
            "search.algorithm",
            f"search algorithm {search_plugin.name} needs {missing}, which is not installed",
        )
        for missing in search_plugin.missing_dependencies()
        if missing not in scheduler_missing  # bohb: one missing module, one problem
    ]
    if paired := pairing_problem(search_plugin.name, plugin.name):
        problems.append(Problem(*paired))
    mutation_space = getattr(options, "mutation_space", None)
    if mutation_space is not None and trainable.hyperparams is not None and not problems:
        problems += space_problems(
            mutation_space(), trainable.hyperparams, trainable.ref, prefix="scheduler.mutations"
        )
        problems += _check_fp16_has_a_gpu(mutation_space(), settings, trainable, prefix="scheduler.mutations")
    if problems:
        raise ConfigError(source, problems)
    return experiment
