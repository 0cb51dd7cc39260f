"""Every training knob :class:`~tunefleet.trainables.TorchTrainable` understands, validated.

The field names are the public names used in experiment files (``space: {lr: ...}``), so a
search space, a fixed ``config:`` entry and a checkpoint all speak the same vocabulary.
Model-specific knobs (layer widths, channels, ...) live in subclasses declared next to the
trainable that reads them::

    class Hyperparams(TrainingHyperparams):
        hidden: int = Field(default=100, ge=1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ActivationName",
    "InitScheme",
    "LrScheduleName",
    "OptimizerName",
    "Precision",
    "TrainingHyperparams",
]

OptimizerName = Literal["sgd", "momentum", "adam", "adamw", "rmsprop"]
Precision = Literal["fp32", "bf16", "fp16"]
LrScheduleName = Literal["constant", "step", "exponential", "cosine", "inverse_sqrt"]
InitScheme = Literal["default", "xavier", "he"]
ActivationName = Literal["relu", "leaky_relu", "gelu", "tanh", "sigmoid"]

# Other common names for the same initialisation schemes.
_INIT_ALIASES = {"glorot": "xavier", "kaiming": "he"}

# Decay factor used when ``lr_gamma`` is left unset, per schedule.
_DEFAULT_LR_GAMMA = {"step": 0.5, "exponential": 0.9}


def _to_native(value: Any) -> Any:
    """Turn numpy scalars (what hyperopt samples) into the Python values they stand for."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_to_native(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_native(v) for k, v in value.items()}
    return value


def _is_ray_reserved(key: object) -> bool:
    # Ray Tune reserves dunder keys (``__trial_info__``, ``__stdout_file__``, ...) for its own
    # bookkeeping inside a trial's config; no experiment file can produce one.
    return isinstance(key, str) and key.startswith("__") and key.endswith("__")


class TrainingHyperparams(BaseModel):
    """Hyperparameters of the generic training loop, with defaults and valid ranges.

    Unknown keys are rejected, so a typo in an experiment file is an error instead of a knob
    that silently does nothing. Knobs that only some choices use (``momentum`` for ``adam``,
    ``lr_gamma`` for ``cosine``) are accepted and ignored by the others, so a search space may
    sample them alongside the choice that gives them meaning.

    Example:
        >>> hp = TrainingHyperparams.from_config({"lr": np.float64(3e-3), "batch_size": 128})
        >>> hp.lr, hp.batch_size, hp.optimizer
        (0.003, 128, 'adam')
        >>> TrainingHyperparams(lr_schedule="step", max_iterations=30).effective_lr_step_every
        10
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, ge=0, lt=2**32, description="Seeds weight init, dropout and batch order.")

    # Optimizer.
    lr: float = Field(default=1e-3, gt=0, description="Base learning rate (before the schedule).")
    optimizer: OptimizerName = Field(
        default="adam",
        description="'momentum' is SGD with momentum; 'adamw' decouples weight decay.",
    )
    momentum: float = Field(default=0.9, ge=0, lt=1, description="Used by 'momentum' and 'rmsprop'.")
    nesterov: bool = Field(default=False, description="Nesterov momentum; used by 'momentum' only.")
    beta1: float = Field(default=0.9, ge=0, lt=1, description="Adam/AdamW first-moment decay.")
    beta2: float = Field(default=0.999, ge=0, lt=1, description="Adam/AdamW second-moment decay.")
    weight_decay: float = Field(
        default=0.0, ge=0, description="L2 penalty through the optimizer; decoupled for 'adamw'."
    )

    # Regularisation.
    l1: float = Field(default=0.0, ge=0, description="Coefficient of the L1 norm of all parameters.")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="Dropout probability of the model.")

    # Batching and schedule.
    batch_size: int = Field(
        default=64,
        ge=1,
        description=(
            "Samples per optimizer step (capped at the training set). With grad_accumulation k "
            "they are processed as k micro-batches, whose losses are weighted so that the "
            "gradient is the whole batch's."
        ),
    )
    lr_schedule: LrScheduleName = Field(
        default="constant",
        description=(
            "Multiplier of lr after t optimizer steps, with S = steps_per_iteration: "
            "step: lr_gamma ** (t // (lr_step_every * S)); exponential: lr_gamma ** (t / S); "
            "cosine: (1 + cos(pi * t / (max_iterations * S))) / 2, reaching 0 at the budget; "
            "inverse_sqrt: 1 / sqrt(1 + t / S)."
        ),
    )
    lr_gamma: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="Decay factor of 'step' (default 0.5) and 'exponential' (0.9 per iteration).",
    )
    lr_step_every: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Iterations between 'step' decays (default max(1, max_iterations // 3)).",
    )

    # Model construction (read by the task's build_model).
    init: InitScheme = Field(default="default", description="Also accepts 'glorot' and 'kaiming'.")
    activation: ActivationName = "relu"

    # Iteration structure and budget.
    steps_per_iteration: int = Field(
        default=100, ge=1, description="Optimizer steps per Tune iteration (one step() call)."
    )
    early_stopping_patience: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Stop after this many iterations without val_loss improvement.",
    )
    early_stopping_min_delta: float = Field(
        default=0.0, ge=0, description="Smallest val_loss decrease that counts as an improvement."
    )
    max_iterations: int = Field(
        default=100, ge=1, description="The trial's iteration budget (injected by the runner)."
    )
    val_fraction: float = Field(
        default=0.2, gt=0, le=0.5, description="Share of the training set held out for validation."
    )

    # Speed. None of these changes what is computed, only how (precision: up to rounding).
    precision: Precision = Field(
        default="fp32",
        description=(
            "Autocast of the forward pass: bf16 (CPU or GPU) or fp16 (GPU only; with a "
            "gradient scaler whose state is checkpointed)."
        ),
    )
    compile: bool = Field(default=False, description="Run the model through torch.compile.")
    channels_last: bool = Field(
        default=False, description="Channels-last memory format for 4-D inputs and weights (CNNs on GPUs)."
    )
    grad_accumulation: int = Field(
        default=1,
        ge=1,
        description="Micro-batches per optimizer step: batch_size is split into this many.",
    )
    grad_clip: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Clip the gradient's global L2 norm to this value (null: no clipping)."
    )
    sync_batchnorm: bool = Field(
        default=False,
        description=(
            "With data-parallel workers on GPUs: BatchNorm statistics over the whole batch "
            "(SyncBatchNorm) instead of each worker's shard. No effect on one process."
        ),
    )
    num_workers: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description=(
            "DataLoader worker processes of a trainable with streamed datasets (null: one fewer "
            "than the trial's CPUs under Ray, none outside Ray). Results do not depend on it."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _normalize_config(cls, data: Any) -> Any:
        # Searchers hand over numpy scalars and Ray may add bookkeeping keys; neither is a
        # user error, so they are normalised here for every entry point, not only from_config.
        # None means "not set": a conditional hyperparameter of a branch that was not chosen.
        if isinstance(data, Mapping):
            return {k: _to_native(v) for k, v in data.items() if not _is_ray_reserved(k) and v is not None}
        return data

    @field_validator("init", mode="before")
    @classmethod
    def _resolve_init_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _INIT_ALIASES.get(value, value)
        return value

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Validates a trial's config dict (as Ray Tune passes it) into hyperparameters.

        Numpy scalars are converted to Python values; Ray's reserved ``__dunder__`` keys and
        None values (conditional hyperparameters of a branch not taken) are dropped, so the
        defaults apply; anything else that is unknown or out of range raises
        ``pydantic.ValidationError``.

        Args:
            config: The trial's config.

        Returns:
            An instance of ``cls`` (of the subclass when called on one).
        """
        return cls.model_validate(dict(config))

    @property
    def effective_lr_gamma(self) -> float:
        """``lr_gamma``, or the default of the chosen schedule (1.0 where it has none)."""
        if self.lr_gamma is not None:
            return self.lr_gamma
        return _DEFAULT_LR_GAMMA.get(self.lr_schedule, 1.0)

    @property
    def effective_lr_step_every(self) -> int:
        """``lr_step_every``, defaulting to three decays over the iteration budget."""
        if self.lr_step_every is not None:
            return self.lr_step_every
        return max(1, self.max_iterations // 3)

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the whole budget (the horizon of the cosine schedule)."""
        return self.max_iterations * self.steps_per_iteration
