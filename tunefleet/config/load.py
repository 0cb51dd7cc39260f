"""Experiment file -> validated :class:`Experiment`: every check happens here, before Ray starts."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tunefleet.config.schema import ExperimentFile, SearchSettings
from tunefleet.config.yaml_source import apply_overrides, read_yaml_file
from tunefleet.errors import ConfigError, Problem
from tunefleet.schedulers import SchedulerContext, SchedulerOptions, SchedulerPlugin, get_scheduler
from tunefleet.search.spaces import (
    Choice,
    Conditional,
    Constant,
    Grid,
    Normal,
    Param,
    Space,
    parse_space,
    walk,
)
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.registry import ResolvedTrainable, TrainableNotFound, resolve_trainable

__all__ = ["Experiment", "load_experiment"]

#: Hyperparameters the runner fills in from the experiment when the trainable accepts them.
INJECTED_HYPERPARAMS = ("max_iterations",)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment, ready for :func:`tunefleet.runner.run_experiment`.

    Attributes:
        source: The experiment file.
        raw: The file's mapping after ``--set`` overrides (saved next to the results).
        settings: The typed top-level settings.
        space: The parsed search space.
        trainable: The imported trainable.
        scheduler: The scheduler plugin and its validated options.
    """

    source: Path
    raw: dict[str, Any]
    settings: ExperimentFile
    space: Space
    trainable: ResolvedTrainable
    scheduler: SchedulerPlugin
    scheduler_options: SchedulerOptions

    @property
    def name(self) -> str:
        return self.settings.name or self.source.stem

    @property
    def metric(self) -> str:
        return self.settings.metric

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def search(self) -> SearchSettings:
        return self.settings.search

    @property
    def scheduler_context(self) -> SchedulerContext:
        return SchedulerContext(
            metric=self.metric,
            mode=self.mode,
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
        enumerated: list[Choice] = [p for p in self.space.values() if isinstance(p, Grid)]
        if self.search.algorithm == "grid":
            enumerated += [p for p in self.space.values() if type(p) is Choice]
        size = 1
        for param in enumerated:
            size *= len(param.options)
        return size

    @property
    def num_trials(self) -> int:
        """How many trials the sweep will run."""
        return self.grid_size() * self.settings.num_samples

    def num_trials_hint(self) -> str:
        """Human description of how many trials the sweep will run."""
        size = self.grid_size()
        if size == 1:
            return f"{self.num_trials} trials"
        return f"{self.num_trials} trials ({size} grid points x {self.settings.num_samples})"


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``loc`` (for listing valid keys)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
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
            message = f"unknown key{_did_you_mean(loc[-1], valid)}"
            if valid:
                message += f"; expected one of: {', '.join(valid)}"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{item['msg']}, got {item['input']!r}"
        problems.append(Problem(key, message))
    return problems


def _parse_scheduler(raw: Any, source: Path) -> tuple[SchedulerPlugin, SchedulerOptions] | list[Problem]:
    if not isinstance(raw, dict) or "type" not in raw:
        return [
            Problem("scheduler", f"expected a mapping with a 'type' key, e.g. {{type: asha}}, got {raw!r}")
        ]
    options = dict(raw)
    name = options.pop("type")
    try:
        plugin = get_scheduler(str(name))
    except KeyError as exc:
        return [Problem("scheduler.type", str(exc.args[0]))]
    try:
        return plugin, plugin.options.model_validate(options)
    except ValidationError as exc:
        return pydantic_problems(exc, plugin.options, prefix="scheduler")


def _error_message(error: Any) -> str:
    """A pydantic error's message, without the "Value error, " prefix of a validator's ValueError."""
    cause = error.get("ctx", {}).get("error")
    return str(cause) if isinstance(cause, ValueError) else str(error["msg"])


def _check_space_fits_trainable(
    space: Space, trainable: ResolvedTrainable, prefix: str = "space"
) -> list[Problem]:
    model = trainable.hyperparams
    if model is None:
        return []
    accepted = sorted(model.model_fields)
    problems = []
    for path, name, param in walk(space):
        if name not in model.model_fields:
            problems.append(
                Problem(
                    f"{prefix}.{path}",
                    f"{trainable.ref} has no hyperparameter {name!r}{_did_you_mean(name, accepted)}; "
                    f"it accepts: {', '.join(accepted)}",
                )
            )
            continue
        key = f"{prefix}.{path}" if isinstance(param, Constant) else f"{prefix}.{path}.{param.kind}"
        for value in param.examples():
            try:
                model.model_validate({name: value})
            except ValidationError as exc:
                messages = [_error_message(e) for e in exc.errors() if e["loc"][:1] == (name,)]
                if messages:
                    problems.append(Problem(key, f"{value!r} is not a valid {name}: {messages[0]}"))
                    break
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
                message = f"not set, and the default does not work here: {_error_message(error)}"
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
                params[dep] = branch.get(dep, f"not sampled when {name} is {point.get(name)!r}")
    for name, value in point.items():
        found = params.get(name)
        if found is None:
            problems.append(Problem(f"{key}.{name}", f"not in space (expected one of: {', '.join(params)})"))
        elif isinstance(found, str):
            if value is not None:
                problems.append(Problem(f"{key}.{name}", found))
        elif not found.contains(value):
            problems.append(Problem(f"{key}.{name}", f"{value!r} is outside {found.to_yaml()!r}"))
    return problems


def _check_search(space: Space, search: SearchSettings) -> list[Problem]:
    problems = []
    algorithm = search.algorithm
    sampled = {k: p for k, p in space.items() if p.sampled}
    if algorithm != "hyperopt":
        for option in ("n_initial_points", "gamma"):
            if getattr(search, option) is not None:
                problems.append(
                    Problem(f"search.{option}", f"only used by algorithm hyperopt, not {algorithm}")
                )
    if algorithm == "hyperopt":
        if not sampled:
            problems.append(Problem("space", "hyperopt needs at least one sampled hyperparameter"))
        for path, _, param in walk(space):
            if isinstance(param, Grid):
                problems.append(
                    Problem(
                        f"space.{path}.grid",
                        "grid values cannot be used with search.algorithm hyperopt (TPE samples, "
                        "it does not enumerate); use choice, or algorithm grid or random",
                    )
                )
        conditionals = [k for k, p in space.items() if isinstance(p, Conditional)]
        if conditionals and search.points_to_evaluate:
            problems.append(
                Problem(
                    "search.points_to_evaluate",
                    "Ray's HyperOptSearch cannot start from given points when the space has "
                    f"conditional hyperparameters ({', '.join(conditionals)}); use algorithm random",
                )
            )
    if algorithm == "bohb":
        for path, _, param in walk(space):
            if isinstance(param, Grid | Conditional | Normal):
                problems.append(
                    Problem(
                        f"space.{path}.{param.kind}",
                        f"search.algorithm bohb (a ConfigSpace) cannot express {param.kind} values; "
                        "use algorithm random or hyperopt",
                    )
                )
    if algorithm == "grid":
        for path, _, param in walk(space):
            if param.sampled and not isinstance(param, Choice):
                problems.append(
                    Problem(
                        f"space.{path}.{param.kind}",
                        "search.algorithm grid needs grid or choice values (or constants); "
                        "use algorithm random to cross a grid with sampled values",
                    )
                )
    for index, point in enumerate(search.points_to_evaluate):
        key = f"search.points_to_evaluate.{index}"
        problems += _check_point(point, space, key)
        missing = [k for k in sampled if k not in point]
        if algorithm == "hyperopt" and missing:
            problems.append(
                Problem(
                    key,
                    f"hyperopt needs a value for every sampled hyperparameter; missing: {', '.join(missing)}",
                )
            )
    return problems


def load_experiment(
    path: str | Path, overrides: Sequence[str] = (), *, search_dirs: Sequence[Path] = ()
) -> Experiment:
    """Read, override and validate an experiment file.

    Nothing is started: this only reads files and imports the trainable's module.

    Args:
        path: The experiment YAML.
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
    source = Path(path)
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

    scheduler = _parse_scheduler(raw.get("scheduler", {"type": "fifo"}), source)
    if isinstance(scheduler, list):
        problems += scheduler

    trainable: ResolvedTrainable | None = None
    ref = raw.get("trainable")
    if isinstance(ref, str) and ref:
        try:
            trainable = resolve_trainable(ref, [source.resolve().parent, *search_dirs, Path.cwd()])
        except TrainableNotFound as exc:
            problems.append(Problem("trainable", str(exc)))

    if problems or settings is None or trainable is None or isinstance(scheduler, list):
        raise ConfigError(source, problems)

    reported = trainable.reported_metrics
    if reported is not None and settings.metric not in reported:
        hint = _did_you_mean(settings.metric, sorted(reported))
        problems.append(
            Problem(
                "metric",
                f"{trainable.ref} never reports {settings.metric!r}{hint}; "
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
    problems += _check_space_fits_trainable(space, trainable)
    problems += _check_fp16_has_a_gpu(space, settings, trainable)
    problems += _check_search(space, settings.search)
    plugin, options = scheduler
    experiment = Experiment(source, raw, settings, space, trainable, plugin, options)
    problems += _check_defaults(space, trainable, experiment.injected_constants())
    problems += [
        Problem(f"scheduler.{key}", message)
        for key, message in plugin.check(options, experiment.scheduler_context)
    ]
    problems += [
        Problem("scheduler.type", f"scheduler {plugin.name} needs {missing}, which is not installed")
        for missing in plugin.missing_dependencies()
    ]
    if settings.search.algorithm == "bohb" and plugin.name != "bohb":
        problems.append(
            Problem("search.algorithm", f"bohb needs scheduler bohb (its HyperBand), got {plugin.name}")
        )
    mutation_space = getattr(options, "mutation_space", None)
    if mutation_space is not None and not problems:
        problems += _check_space_fits_trainable(mutation_space(), trainable, prefix="scheduler.mutations")
        problems += _check_fp16_has_a_gpu(mutation_space(), settings, trainable, prefix="scheduler.mutations")
    if problems:
        raise ConfigError(source, problems)
    return experiment
