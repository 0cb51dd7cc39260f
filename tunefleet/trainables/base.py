"""``TorchTrainable``: a Ray Tune trainable running a PyTorch training loop from hyperparameters.

A task subclass supplies only data and a model; the base owns everything a tuner relies on:
validation of the trial's config, devices and CPU threads, actor reuse and checkpoint files.
The training itself (seeding, optimizer and schedule, the loop, evaluation, early stopping, the
checkpoint's content) is :class:`~tunefleet.trainables.loop.TrainingLoop`, which knows nothing
of Ray. Of the trainables package, only this module touches Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import ray
import torch
from ray import tune
from torch import nn

from tunefleet.trainables.data import Splits
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.loop import LOOP_METRICS, TrainingLoop, load_cached
from tunefleet.trainables.task_kinds import CLASSIFICATION, TaskKind, resolve_task_kind

__all__ = ["CHECKPOINT_FILE", "Task", "TorchTrainable"]

#: The task kinds a trainable can name by a string (or it gives a TaskKind object).
Task = Literal["classification", "regression"]

#: Name of the single file a checkpoint directory holds.
CHECKPOINT_FILE = "state.pt"

HP = TypeVar("HP", bound=TrainingHyperparams)


class TorchTrainable(tune.Trainable, Generic[HP]):
    """A Ray Tune trainable that trains a PyTorch model configured by its hyperparameters.

    Subclasses declare the task and provide data and a model; nothing else::

        class Mnist1dMLP(TorchTrainable):
            class Hyperparams(TrainingHyperparams):
                hidden: int = Field(100, ge=1)

            task = "classification"

            def load_data(self, hp):
                return load_mnist1d(val_fraction=hp.val_fraction)

            def build_model(self, hp, data):
                return MLP(40, [hp.hidden, hp.hidden], 10, hp.activation, hp.dropout)

    (Parametrise the base, ``TorchTrainable[MyHyperparams]``, for typed ``hp`` arguments.)

    ``load_data`` returns tensors (:class:`~tunefleet.trainables.data.DataSplits`, indexed in
    place on the device) or map-style datasets (:class:`~tunefleet.trainables.data.DatasetSplits`,
    streamed through DataLoader workers); one loop serves both.

    Each ``step()`` (one Tune iteration) runs exactly ``hp.steps_per_iteration`` optimizer
    steps over epoch-wise shuffled batches, then evaluates on the validation and test sets
    and returns the metrics in :meth:`reported_metrics` plus ``done``. A trial's results depend
    only on its config and history, and a checkpoint (one file, ``state.pt``) captures
    everything needed to continue bit-identically (see :class:`TrainingLoop`).

    Attributes:
        hp: The validated hyperparameters of the current trial.
        device: Where the model and data live (CUDA only when Ray assigned this actor a GPU).
        data: The trial's data splits (tensors on ``device``, or datasets).
        loop: The current trial's :class:`TrainingLoop`; ``model``, ``optimizer``,
            ``scheduler`` and ``global_step`` are its own.
    """

    #: Validates a trial's config; subclasses extend it with their model's knobs.
    Hyperparams: ClassVar[type[TrainingHyperparams]] = TrainingHyperparams
    #: The loss, metrics and target dtype: "classification", "regression" or a TaskKind.
    task: ClassVar[Task | TaskKind] = "classification"
    #: ``task`` resolved (set for every subclass when it is defined).
    task_kind: ClassVar[TaskKind] = CLASSIFICATION
    #: The hyperparameters ``load_data`` reads. Loaded data is cached per process under
    #: their values, so a reused actor only reloads when one of them changes.
    data_hyperparams: ClassVar[tuple[str, ...]] = ("val_fraction",)
    #: Largest batch evaluated at once; bounds evaluation memory on large validation sets.
    eval_batch_size: ClassVar[int] = 8192

    hp: HP
    device: torch.device
    data: Splits
    loop: TrainingLoop

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Fail when the class is defined, not in a remote actor halfway through a sweep.
        if not (isinstance(cls.Hyperparams, type) and issubclass(cls.Hyperparams, TrainingHyperparams)):
            raise TypeError(f"{cls.__name__}.Hyperparams must subclass TrainingHyperparams")
        try:
            cls.task_kind = resolve_task_kind(cls.task)
        except ValueError as err:
            raise TypeError(f"{cls.__name__}.task {err}") from None
        unknown = set(cls.data_hyperparams) - set(cls.Hyperparams.model_fields)
        if unknown:
            raise TypeError(
                f"{cls.__name__}.data_hyperparams names unknown hyperparameters {sorted(unknown)}"
            )

    # ------------------------------------------------------------------ subclass interface

    def load_data(self, hp: HP) -> Splits:
        """Returns the task's data; may read only the fields listed in ``data_hyperparams``."""
        raise NotImplementedError(f"{type(self).__name__} must implement load_data(hp)")

    def build_model(self, hp: HP, data: Any) -> nn.Module:
        """Returns a freshly initialised model for ``hp`` (built on the CPU; the base moves it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_model(hp, data)")

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        """Names of the metrics every ``step()`` reports for this trainable's task."""
        return cls.task_kind.metric_names | LOOP_METRICS

    def select_device(self) -> torch.device:
        """CUDA when Ray assigned this actor a GPU, else the CPU; override to force a device."""
        if torch.cuda.is_available() and self.is_actor() and ray.get_gpu_ids():
            # Ray restricts CUDA_VISIBLE_DEVICES to the assigned GPUs, so "cuda" is ours.
            return torch.device("cuda")
        return torch.device("cpu")

    # ------------------------------------------------------------------ the current trial

    @property
    def model(self) -> nn.Module:
        return self.loop.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.loop.optimizer

    @property
    def scheduler(self) -> torch.optim.lr_scheduler.LambdaLR:
        return self.loop.scheduler

    @property
    def global_step(self) -> int:
        return self.loop.global_step

    # ------------------------------------------------------------------ Ray Trainable API

    def setup(self, config: dict[str, Any]) -> None:
        """Validates ``config`` and builds the trial (Ray calls this once per actor)."""
        self.device = self.select_device()
        self._cpus = self._use_assigned_cpus()
        self._start_trial(config)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Turns this actor into a fresh trial for ``new_config``, reusing the loaded data.

        Everything but the data cache is rebuilt from the new seed: weights, optimizer,
        schedule, counters, early stopping, random generators, DataLoader workers. Returning
        True lets Tune reuse the actor (``reuse_actors``) instead of starting a new process.
        """
        self.loop.close()
        self._start_trial(new_config)
        return True

    def step(self) -> dict[str, Any]:
        """Runs ``steps_per_iteration`` optimizer steps, then evaluates; returns the metrics."""
        result = self.loop.run_iteration()
        result["done"] = result["early_stopped"] or result["diverged"]
        return result

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        """Writes ``state.pt`` into ``checkpoint_dir`` (see :meth:`TrainingLoop.state_dict`)."""
        torch.save(self.loop.state_dict(), Path(checkpoint_dir) / CHECKPOINT_FILE)

    def load_checkpoint(self, checkpoint: str | dict[str, Any] | None) -> None:
        """Restores the state written by :meth:`save_checkpoint` from the directory ``checkpoint``.

        Checkpoints of earlier formats load too (see :func:`~tunefleet.trainables.loop.upgrade_checkpoint`).
        Under changed hyperparameters (a PBT exploit: Tune calls ``reset_config(new)`` then this)
        the new values win (see :meth:`TrainingLoop.load_state_dict`).

        Raises:
            TypeError: If ``checkpoint`` is not a directory path.
            ValueError: If the checkpoint's format is unknown or its weights do not fit the
                model built from the current hyperparameters.
        """
        if not isinstance(checkpoint, str | Path):
            raise TypeError(f"expected a checkpoint directory, got {type(checkpoint).__name__}")
        path = Path(checkpoint) / CHECKPOINT_FILE
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            self.loop.load_state_dict(state, source=str(path))
        except ValueError as err:
            message = str(err)
            raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from err

    def cleanup(self) -> None:
        """Stops the trial's DataLoader workers (Ray calls this when the actor stops)."""
        loop = getattr(self, "loop", None)
        if loop is not None:
            loop.close()

    # ------------------------------------------------------------------ internals

    def _use_assigned_cpus(self) -> int | None:
        """The CPUs Ray assigned this actor (None outside Ray); torch's threads follow them."""
        # Torch defaults to every core of the node; trials sharing a node would oversubscribe.
        if not self.is_actor():
            return None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if not cpus:
            return None
        torch.set_num_threads(max(1, int(cpus)))
        return int(cpus)

    def _start_trial(self, config: dict[str, Any]) -> None:
        """Builds every piece of trial state from ``config``, as a fresh trial would have it."""
        hp = cast(HP, self.Hyperparams.from_config(config))
        self.hp = hp
        relevant = tuple(sorted(hp.model_dump(include=set(self.data_hyperparams)).items()))
        self.data = load_cached((type(self), repr(relevant)), lambda: self.load_data(hp), self.device)
        cpus = getattr(self, "_cpus", None)
        self.loop = TrainingLoop(
            hp,
            self.data,
            lambda: self.build_model(hp, self.data),
            self.task_kind,
            self.device,
            # DataLoader workers: the trial's CPUs but the one that trains.
            num_workers=max(0, cpus - 1) if cpus else 0,
            eval_batch_size=self.eval_batch_size,
        )
