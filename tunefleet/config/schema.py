"""The shape of an experiment file, as pydantic models (types, ranges, unknown keys).

Cross-field rules (the trainable exists and reports the metric, the space fits the trainable,
the searcher supports the space...) live in :mod:`tunefleet.config.load`, the one place that
turns a file into a validated :class:`~tunefleet.config.load.Experiment`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchSettings(_Strict):
    """``search:``: how configurations are proposed."""

    algorithm: Literal["grid", "random", "hyperopt", "bohb"] = Field(
        "random",
        description="grid: every combination of grid/choice values; random: Ray Tune's random "
        "sampling (grid values are crossed with the samples); hyperopt: Tree-structured Parzen Estimator; "
        "bohb: BOHB's model-based sampler (with scheduler bohb).",
    )
    seed: int | None = Field(
        None, description="Makes sampling reproducible (Hyperopt: with max_concurrent 1)."
    )
    max_concurrent: int | None = Field(None, ge=1, description="At most this many trials run at once.")
    points_to_evaluate: list[dict[str, Any]] = Field(
        default_factory=list, description="Known good configurations to run first."
    )
    n_initial_points: int | None = Field(
        None, ge=1, description="Hyperopt only: random trials before TPE takes over (Ray's default 20)."
    )
    gamma: float | None = Field(
        None, gt=0, lt=1, description="Hyperopt only: TPE's quantile separating good from bad trials."
    )


class ResourceSettings(_Strict):
    """``resources:``: what one trial reserves on the cluster."""

    cpu: float = Field(1, gt=0, description="CPUs per trial (torch threads follow it).")
    gpu: float = Field(0, ge=0, description="GPUs per trial; a fraction < 1 shares a GPU between trials.")

    @field_validator("gpu")
    @classmethod
    def _whole_or_fraction(cls, value: float) -> float:
        if value > 1 and not float(value).is_integer():
            raise ValueError("a trial can use a fraction of one GPU or a whole number of GPUs")
        return value


class CheckpointSettings(_Strict):
    """``checkpoint:``: when trials save their state, and how many saves are kept."""

    frequency: int = Field(0, ge=0, description="Save every N iterations (0: only at the end).")
    keep: int | None = Field(
        None, ge=1, description="Keep the N most recent checkpoints per trial (null: all)."
    )
    at_end: bool = Field(True, description="Save when a trial finishes.")


class FailureSettings(_Strict):
    """``failure:``: what happens when a trial raises."""

    max_failures: int = Field(0, ge=-1, description="Retries from the last checkpoint (-1: forever).")


class ExperimentFile(_Strict):
    """The whole file. ``space`` and ``scheduler`` are parsed further by their own modules."""

    name: str | None = Field(
        None, min_length=1, description="Experiment directory name (default: file name)."
    )
    trainable: str = Field(description="Built-in name or 'package.module:Name'.")
    metric: str = Field(min_length=1, description="Reported metric the sweep optimizes.")
    mode: Literal["min", "max"]
    num_samples: int = Field(1, ge=1, description="Trials to run (grid: repetitions of the grid).")
    max_iterations: int = Field(ge=1, description="Training iterations budget per trial.")
    search: SearchSettings = Field(default_factory=SearchSettings)  # type: ignore[arg-type]
    space: dict[str, Any] = Field(default_factory=dict)
    scheduler: dict[str, Any] = Field(default_factory=lambda: {"type": "fifo"})
    resources: ResourceSettings = Field(default_factory=ResourceSettings)  # type: ignore[arg-type]
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)  # type: ignore[arg-type]
    failure: FailureSettings = Field(default_factory=FailureSettings)  # type: ignore[arg-type]
    storage: str = Field("tunefleet_results", min_length=1, description="Where experiment directories go.")
