"""The shape of an experiment file, as pydantic models (types, ranges, unknown keys).

Cross-field rules (the trainable exists and reports the metric, the space fits the trainable,
the searcher supports the space...) live in :mod:`tunefleet.config.load`, the one place that
turns a file into a validated :class:`~tunefleet.config.load.Experiment`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tunefleet.config.storage import uri_problem
from tunefleet.loggers import DEFAULT_LOGGERS
from tunefleet.search import SearchSettings  # the common keys; each algorithm validates its own


class _Strict(BaseModel):
    # Numbers are StrictInt/StrictFloat: pydantic would read true as 1 (num_samples: true ran one
    # trial). No setting means anything with .inf or .nan (resources.cpu: .inf passed validation).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _whole_or_fraction(value: float) -> float:
    if value > 1 and not float(value).is_integer():
        raise ValueError("a trial can use a fraction of one GPU or a whole number of GPUs")
    return value


class WorkerResources(_Strict):
    """``resources.workers:``: processes a trainable starts itself, one placement-group bundle each
    (a ``TorchTrainable``'s data-parallel ranks)."""

    count: StrictInt = Field(ge=1, description="How many workers the trainable starts.")
    cpu: StrictFloat = Field(1, gt=0, description="CPUs per worker.")
    gpu: StrictFloat = Field(0, ge=0, description="GPUs per worker (a fraction < 1 shares a GPU).")

    _gpu = field_validator("gpu")(_whole_or_fraction)


class ResourceSettings(_Strict):
    """``resources:``: what one trial reserves on the cluster."""

    cpu: StrictFloat = Field(
        1,
        ge=0,
        description="CPUs per trial (torch threads follow it); 0 only with workers or a GPU. "
        "A TorchTrainable with workers trains on them, and its own bundle defaults to 0.",
    )
    gpu: StrictFloat = Field(
        0, ge=0, description="GPUs per trial; a fraction < 1 shares a GPU between trials."
    )
    workers: WorkerResources | None = Field(
        None, description="Extra bundles for workers the trainable starts (Ray tasks/actors of its own)."
    )
    placement: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="How the trial's bundles are placed on nodes (Ray placement strategies)."
    )

    _gpu = field_validator("gpu")(_whole_or_fraction)

    @model_validator(mode="after")
    def _reserves_something(self) -> ResourceSettings:
        if not self.cpu and not self.gpu and self.workers is None:
            raise ValueError("a trial must reserve something: cpu: 0 needs a gpu or workers")
        return self

    def bundles(self) -> list[dict[str, float]]:
        """The trial's placement group: its own bundle first, then one per worker (zeros left out).

        An empty first bundle (``cpu: 0`` with workers) stays: Ray's ``PlacementGroupFactory``
        drops it, and the trial's process then shares the first worker's bundle.

        Example:
            >>> ResourceSettings(cpu=1, workers={"count": 2, "gpu": 0.5}).bundles()
            [{'CPU': 1.0}, {'CPU': 1.0, 'GPU': 0.5}, {'CPU': 1.0, 'GPU': 0.5}]
        """

        def bundle(cpu: float, gpu: float) -> dict[str, float]:
            return {k: float(v) for k, v in (("CPU", cpu), ("GPU", gpu)) if v}

        workers = [bundle(self.workers.cpu, self.workers.gpu)] * self.workers.count if self.workers else []
        return [bundle(self.cpu, self.gpu), *workers]


class CheckpointSettings(_Strict):
    """``checkpoint:``: when trials save their state, and how many saves are kept."""

    frequency: StrictInt = Field(0, ge=0, description="Save every N iterations (0: only at the end).")
    keep: StrictInt | None = Field(
        None, ge=1, description="Keep the N most recent checkpoints per trial (null: all)."
    )
    at_end: bool = Field(True, description="Save when a trial finishes.")


class FailureSettings(_Strict):
    """``failure:``: what happens when a trial raises."""

    max_failures: StrictInt = Field(0, ge=-1, description="Retries from the last checkpoint (-1: forever).")
    errored_on_resume: Literal["keep", "resume", "restart"] = Field(
        "keep",
        description="What a resumed sweep does with trials that ended in ERROR: keep them as they are, "
        "resume them from their last checkpoint, or restart them from scratch.",
    )


#: Fewest seeds per finalist: a standard deviation, a confidence interval and Welch's t-test
#: are all undefined for one run (n - 1 = 0 degrees of freedom).
MIN_SELECTION_SEEDS = 2


class SelectSettings(_Strict):
    """``select:``: after the search, retrain the best configurations with several seeds each.

    The ``top_k`` best trials (ranked as ``tunefleet analyze`` ranks them) and, with
    ``include_defaults``, the trainable's default configuration are trained again ``seeds`` times
    each at the full budget, so that the winner is judged by a mean over seeds, not by one lucky
    run (see :mod:`tunefleet.analysis.selection`).
    """

    top_k: StrictInt = Field(5, ge=1, description="How many of the best configurations to retrain.")
    seeds: StrictInt = Field(
        5, description=f"Runs per configuration, each with its own seed (at least {MIN_SELECTION_SEEDS})."
    )
    include_defaults: StrictBool = Field(
        False, description="Retrain the trainable's default configuration too, as a baseline."
    )

    @field_validator("seeds")
    @classmethod
    def _enough_seeds(cls, value: int) -> int:
        if value < MIN_SELECTION_SEEDS:
            raise ValueError(
                f"expected at least {MIN_SELECTION_SEEDS}: a standard deviation, a confidence interval "
                "and a t-test need two runs of each configuration"
            )
        return value


#: Longest experiment name, in bytes of UTF-8: a file system allows 255 per directory name, and
#: tunefleet appends ``-YYYYMMDD-HHMMSS`` (and ``-N``) rather than overwrite an earlier run.
MAX_NAME_BYTES = 200
#: Most trials one sweep may have. Ray Tune's driver keeps the state of every trial in memory:
#: its peak grew from 494 MiB for 1,000 one-result trials to 701 MiB for 4,000 (python -m
#: benchmarks.scale, 2 cores), about 70 MiB per 1,000 trials, so some 7 GiB at this ceiling.
MAX_TRIALS = 100_000
#: What tunefleet appends to a name already used in the storage (see ``resume.unused_run_name``).
_RUN_STAMP_RE = re.compile(r"-\d{8}-\d{6}(?:-\d+)?$")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an experiment directory (to follow the name), or None when it can.

    A name is one directory inside the storage: not ``.`` or ``..``, no ``/`` or ``\\``, no
    whitespace or control characters, at most :data:`MAX_NAME_BYTES` bytes (a run stamp that
    tunefleet appended, as in a saved ``tunefleet.yaml``, not counted).

    Example:
        >>> name_problem("mnist-asha") is None
        True
        >>> name_problem("..")
        'is not a directory name of its own (it means the storage or its parent)'
    """
    if name in (".", ".."):
        return "is not a directory name of its own (it means the storage or its parent)"
    for separator in ("/", "\\"):
        if separator in name:
            return (
                f"holds a '{separator}', so results would go outside the storage directory; "
                "use one directory name such as 'my-sweep'"
            )
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return (
            "holds whitespace or a control character; use letters, digits, '-', '_' or '.', e.g. 'my-sweep'"
        )
    size = len(_RUN_STAMP_RE.sub("", name).encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return (
            f"is {size} bytes long; expected at most {MAX_NAME_BYTES} (a directory name has at most 255, "
            "and tunefleet may append -YYYYMMDD-HHMMSS to keep an earlier run)"
        )
    return None


_DURATION_RE = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$"
)
_DURATION_UNITS = (86400, 3600, 60, 1)


_DURATION_EXPECTED = "expected a duration such as 90s, 30m, 2h, 1h30m or 1d (or a number of seconds)"


def parse_duration(value: Any) -> Any:
    """``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``, ``"1h30m"`` -> seconds (other values unchanged)."""
    if isinstance(value, bool):
        raise ValueError(_DURATION_EXPECTED)
    if not isinstance(value, str):
        return value
    match = _DURATION_RE.match(value)
    if not value.strip() or match is None or not any(match.groups()):
        raise ValueError(_DURATION_EXPECTED)
    return sum(float(part) * unit for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if part)


class ExperimentFile(_Strict):
    """The whole file. ``space``, ``scheduler`` and the algorithm's own keys of ``search`` are
    parsed further by their own modules."""

    name: str | None = Field(
        None,
        min_length=1,
        description="Experiment directory name (default: file name); checked by name_problem.",
    )
    trainable: str = Field(min_length=1, description="Built-in name or 'package.module:Name'.")
    metric: str | list[str] = Field(
        description="Reported metric the sweep optimizes, or a list of them (a multi-objective sweep)."
    )
    mode: Literal["min", "max"] | list[Literal["min", "max"]] = Field(
        description="min or max; with a metric list, a list of them, one per metric."
    )
    num_samples: StrictInt = Field(1, ge=1, description="Trials to run (grid: repetitions of the grid).")
    max_iterations: StrictInt = Field(ge=1, description="Training iterations budget per trial.")
    search: SearchSettings = Field(default_factory=SearchSettings)  # type: ignore[arg-type]
    space: dict[str, Any] = Field(default_factory=dict)
    scheduler: dict[str, Any] = Field(default_factory=lambda: {"type": "fifo"})
    resources: ResourceSettings = Field(default_factory=ResourceSettings)  # type: ignore[arg-type]
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)  # type: ignore[arg-type]
    failure: FailureSettings = Field(default_factory=FailureSettings)  # type: ignore[arg-type]
    storage: str = Field("tunefleet_results", min_length=1, description="Where experiment directories go.")
    loggers: list[Any] = Field(
        default_factory=lambda: list(DEFAULT_LOGGERS),
        description="Where results go besides result.json and progress.csv: names (tensorboard, mlflow, "
        "wandb, aim) or {type: NAME, ...options}; each entry is validated by its logger (LOGGERS).",
    )
    time_budget: StrictFloat | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Wall-clock budget of one run (e.g. 2h): then the sweep stops, saved and resumable.",
    )
    select: SelectSettings | None = Field(
        None, description="Retrain the best configurations with several seeds after the search."
    )

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_form(cls, value: Any) -> Any:
        # Before pydantic's union, whose errors would name its members (metric.list[str]...).
        names = value if isinstance(value, list) else [value]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise PydanticCustomError(
                "metric_form", "expected a metric name, or a non-empty list of metric names"
            )
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_form(cls, value: Any) -> Any:
        modes = value if isinstance(value, list) else [value]
        if not modes or not all(m in ("min", "max") and isinstance(m, str) for m in modes):
            expected = "Input should be 'min' or 'max'" + (
                " (one per metric)" if isinstance(value, list) else ""
            )
            raise PydanticCustomError("literal_error", expected)
        return value

    @field_validator("storage")
    @classmethod
    def _storage_form(cls, value: str) -> str:
        problem = uri_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)
