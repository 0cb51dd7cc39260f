"""``TorchTrainable``: a Ray Tune trainable running a PyTorch training loop from hyperparameters.

A task subclass supplies only data and a model; the base owns everything a tuner relies on:
validation of the trial's config, seeding, the optimizer and schedule, the training loop,
evaluation, early stopping, bit-exact checkpoints and actor reuse. Of the trainables
package, only this module touches Ray; models, data, knobs and metrics are plain torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np
import ray
import torch
import torch.nn.functional as F
from ray import tune
from torch import Tensor, nn

from tunefleet.trainables.data import DataSplits
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.knobs import (
    apply_optimizer_hyperparams,
    build_lr_scheduler,
    build_optimizer,
    init_weights,
)
from tunefleet.trainables.metrics import (
    align_regression_output,
    classification_metrics,
    regression_metrics,
    to_floats,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "Task",
    "TorchTrainable",
]

logger = logging.getLogger(__name__)

Task = Literal["classification", "regression"]

#: Name of the single file a checkpoint directory holds.
CHECKPOINT_FILE = "state.pt"
_CHECKPOINT_FORMAT = 1

#: Metrics every ``step()`` of a classification trainable reports (besides Ray's ``done``).
CLASSIFICATION_METRICS = frozenset(
    {
        "train_loss",
        "val_loss",
        "val_accuracy",
        "val_precision",
        "val_recall",
        "val_f1",
        "test_loss",
        "test_accuracy",
        "test_f1",
        "lr",
        "samples_per_s",
        "epoch",
        "global_step",
        "early_stopped",
        "diverged",
    }
)
#: Metrics every ``step()`` of a regression trainable reports (besides Ray's ``done``).
REGRESSION_METRICS = frozenset(
    {
        "train_loss",
        "val_loss",
        "val_r2",
        "test_loss",
        "test_r2",
        "lr",
        "samples_per_s",
        "epoch",
        "global_step",
        "early_stopped",
        "diverged",
    }
)

# Loaded datasets, already on their device, shared by every trial this process runs (Tune
# reuses actors across trials). Small: a process rarely needs more than one dataset.
_DATA_CACHE: OrderedDict[tuple[Any, ...], DataSplits] = OrderedDict()
_DATA_CACHE_SIZE = 2

HP = TypeVar("HP", bound=TrainingHyperparams)


def _derive_seed(seed: int, stream: int) -> int:
    """A seed for an independent random stream, so batch order is not correlated with init."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _seed_global_rngs(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _get_global_rngs(device: torch.device) -> dict[str, Any]:
    """The state of every global generator a training step may draw from, as plain values."""
    kind, keys, pos, has_gauss, cached_gaussian = cast(
        tuple[str, np.ndarray, int, int, float],
        np.random.get_state(legacy=True),  # the documented tuple form
    )
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        # Tensors and builtins only, so the checkpoint loads with weights_only=True.
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_global_rngs(state: Mapping[str, Any], device: torch.device) -> None:
    """Inverse of :func:`_get_global_rngs`."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


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

    Each ``step()`` (one Tune iteration) runs exactly ``hp.steps_per_iteration`` optimizer
    steps over epoch-wise shuffled batches, then evaluates on the validation and test sets
    and returns the metrics in :meth:`reported_metrics` plus ``done``.

    Each trial owns its random streams: the global torch/CUDA/numpy/Python generators are
    swapped to the trial's state for the duration of a ``step()``, and batch order comes
    from a dedicated generator. A trial's results therefore depend only on its config and
    history, and a checkpoint (one file, ``state.pt``) captures everything needed to continue
    bit-identically: weights, optimizer and schedule, counters, position in the epoch,
    early-stopping state and those random streams.

    Attributes:
        hp: The validated hyperparameters of the current trial.
        device: Where the model and data live (CUDA only when Ray assigned this actor a GPU).
        data: The trial's data splits, on ``device``.
        model: The model being trained, on ``device``.
        optimizer: Its optimizer.
        scheduler: The learning-rate schedule, stepped after every optimizer step.
        global_step: Optimizer steps taken in this trial.
    """

    #: Validates a trial's config; subclasses extend it with their model's knobs.
    Hyperparams: ClassVar[type[TrainingHyperparams]] = TrainingHyperparams
    #: Chooses the loss (cross-entropy or MSE) and the reported metrics.
    task: ClassVar[Task] = "classification"
    #: The hyperparameters ``load_data`` reads. Loaded data is cached per process under
    #: their values, so a reused actor only reloads when one of them changes.
    data_hyperparams: ClassVar[tuple[str, ...]] = ("val_fraction",)
    #: Largest batch evaluated at once; bounds evaluation memory on large validation sets.
    eval_batch_size: ClassVar[int] = 8192

    hp: HP
    device: torch.device
    data: DataSplits
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    global_step: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Fail when the class is defined, not in a remote actor halfway through a sweep.
        if not (isinstance(cls.Hyperparams, type) and issubclass(cls.Hyperparams, TrainingHyperparams)):
            raise TypeError(f"{cls.__name__}.Hyperparams must subclass TrainingHyperparams")
        if cls.task not in ("classification", "regression"):
            raise TypeError(f"{cls.__name__}.task must be 'classification' or 'regression', got {cls.task!r}")
        unknown = set(cls.data_hyperparams) - set(cls.Hyperparams.model_fields)
        if unknown:
            raise TypeError(
                f"{cls.__name__}.data_hyperparams names unknown hyperparameters {sorted(unknown)}"
            )

    # ------------------------------------------------------------------ subclass interface

    def load_data(self, hp: HP) -> DataSplits:
        """Returns the task's data; may read only the fields listed in ``data_hyperparams``."""
        raise NotImplementedError(f"{type(self).__name__} must implement load_data(hp)")

    def build_model(self, hp: HP, data: DataSplits) -> nn.Module:
        """Returns a freshly initialised model for ``hp`` (built on the CPU; the base moves it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_model(hp, data)")

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        """Names of the metrics every ``step()`` reports for this trainable's task."""
        return CLASSIFICATION_METRICS if cls.task == "classification" else REGRESSION_METRICS

    def select_device(self) -> torch.device:
        """CUDA when Ray assigned this actor a GPU, else the CPU; override to force a device."""
        if torch.cuda.is_available() and self.is_actor() and ray.get_gpu_ids():
            # Ray restricts CUDA_VISIBLE_DEVICES to the assigned GPUs, so "cuda" is ours.
            return torch.device("cuda")
        return torch.device("cpu")

    # ------------------------------------------------------------------ Ray Trainable API

    def setup(self, config: dict[str, Any]) -> None:
        """Validates ``config`` and builds the trial (Ray calls this once per actor)."""
        self.device = self.select_device()
        self._use_assigned_cpus()
        self._start_trial(config)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Turns this actor into a fresh trial for ``new_config``, reusing the loaded data.

        Everything but the data cache is rebuilt from the new seed: weights, optimizer,
        schedule, counters, early stopping, random generators. Returning True lets Tune
        reuse the actor (``reuse_actors``) instead of starting a new process.
        """
        self._start_trial(new_config)
        return True

    def step(self) -> dict[str, Any]:
        """Runs ``steps_per_iteration`` optimizer steps, then evaluates; returns the metrics."""
        hp = self.hp
        n_train = len(self.data.x_train)
        # Batches never wrap around an epoch, so one larger than the training set would never
        # be drawn; cap it instead.
        batch_size = min(hp.batch_size, n_train)
        with self._trial_rngs():
            start = time.perf_counter()
            loss_sum, lr = self._train_steps(batch_size)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)  # so the timing covers the queued kernels
            train_seconds = time.perf_counter() - start
            tensors = {"train_loss": loss_sum / hp.steps_per_iteration, **self._evaluate()}
        result: dict[str, Any] = to_floats(tensors)  # the one host sync of the iteration
        stopped = self._update_early_stopping(result["val_loss"])
        # A NaN or infinite loss never recovers: stop the trial cleanly and say why, rather
        # than training on garbage or raising (which failure.max_failures would retry).
        diverged = not (math.isfinite(result["train_loss"]) and math.isfinite(result["val_loss"]))
        result.update(
            lr=lr,
            samples_per_s=hp.steps_per_iteration * batch_size / max(train_seconds, 1e-9),
            epoch=self._epochs_completed + self._position / n_train,
            global_step=self.global_step,
            early_stopped=stopped,
            diverged=diverged,
            done=stopped or diverged,
        )
        return result

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        """Writes ``state.pt`` into ``checkpoint_dir`` (see the class docstring for its content)."""
        state = {
            "format": _CHECKPOINT_FORMAT,
            "hyperparams": self.hp.model_dump(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "global_step": self.global_step,
            "epochs_completed": self._epochs_completed,
            "permutation": self._permutation.cpu(),
            "position": self._position,
            "early_stopping": {
                "best_val_loss": self._best_val_loss,
                "iterations_without_improvement": self._iterations_without_improvement,
                "stopped": self._early_stopped,
            },
            "rng": {"trial": self._rng, "batch_order": self._batch_generator.get_state()},
        }
        torch.save(state, Path(checkpoint_dir) / CHECKPOINT_FILE)

    def load_checkpoint(self, checkpoint: str | dict[str, Any] | None) -> None:
        """Restores the state written by :meth:`save_checkpoint` from the directory ``checkpoint``.

        Under the same hyperparameters, training continues bit-identically. Under changed ones
        (a PBT exploit: Tune calls ``reset_config(new)`` then this), weights, optimizer state,
        counters and generators come from the checkpoint while the new values win: the
        optimizer's lr/momentum/betas/weight decay, the schedule (continued at the restored
        step with the new base lr), dropout and every other knob. If the optimizer *kind*
        changed, its state cannot carry over and starts fresh.

        Raises:
            TypeError: If ``checkpoint`` is not a directory path.
            ValueError: If the checkpoint's format is unknown or its weights do not fit the
                model built from the current hyperparameters.
        """
        if not isinstance(checkpoint, str | Path):
            raise TypeError(f"expected a checkpoint directory, got {type(checkpoint).__name__}")
        path = Path(checkpoint) / CHECKPOINT_FILE
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: unknown checkpoint format {state.get('format')!r}")

        saved_hp: dict[str, Any] = state["hyperparams"]
        current_hp = self.hp.model_dump()
        changed = sorted(
            k for k in current_hp.keys() | saved_hp.keys() if saved_hp.get(k) != current_hp.get(k)
        )
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise ValueError(
                f"{path}: the checkpoint's weights do not fit the model built for the current "
                f"hyperparameters (changed: {', '.join(changed) or 'none'}); architecture "
                f"knobs cannot change when continuing a checkpoint"
            ) from err

        if not changed:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        else:
            logger.info("continuing %s with changed hyperparameters: %s", path, changed)
            if saved_hp.get("optimizer") == self.hp.optimizer:
                self.optimizer.load_state_dict(state["optimizer"])
                apply_optimizer_hyperparams(self.optimizer, self.hp)
            else:
                logger.warning(
                    "optimizer changed from %r to %r: its state starts fresh",
                    saved_hp.get("optimizer"),
                    self.hp.optimizer,
                )
            self.scheduler = build_lr_scheduler(self.optimizer, self.hp, start_step=state["global_step"])

        self.global_step = state["global_step"]
        self._epochs_completed = state["epochs_completed"]
        permutation: Tensor = state["permutation"]
        if len(permutation) in (0, len(self.data.x_train)):
            self._permutation = permutation.to(self.device)
            self._position = state["position"]
        else:
            # The training set changed size (val_fraction changed): the saved order no longer
            # indexes it, so the next step starts a new epoch.
            self._permutation = permutation.new_empty(0).to(self.device)
            self._position = 0
        early = state["early_stopping"]
        self._best_val_loss = early["best_val_loss"]
        self._iterations_without_improvement = early["iterations_without_improvement"]
        self._early_stopped = early["stopped"]

        self._rng = state["rng"]["trial"]
        self._batch_generator.set_state(state["rng"]["batch_order"])

    # ------------------------------------------------------------------ internals

    def _use_assigned_cpus(self) -> None:
        # Torch defaults to every core of the node; trials sharing a node would oversubscribe.
        if not self.is_actor():
            return
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            torch.set_num_threads(max(1, int(cpus)))

    def _start_trial(self, config: Mapping[str, Any]) -> None:
        """Builds every piece of trial state from ``config``, as a fresh trial would have it."""
        hp = cast(HP, self.Hyperparams.from_config(config))
        self.hp = hp
        self.data = self._cached_data(hp)
        outer_rngs = _get_global_rngs(self.device)
        try:
            # Seeded after loading: loaders may touch global RNGs (mnist1d reseeds numpy), and a
            # cache hit must not change what the trial sees.
            _seed_global_rngs(hp.seed)
            # Built and initialised on the CPU, so a seed gives the same weights on every device.
            model = self.build_model(hp, self.data)
            init_weights(model, hp.init, hp.activation)
            # From here on the trial's global-RNG streams are its own (see _trial_rngs).
            self._rng = _get_global_rngs(self.device)
        finally:
            _set_global_rngs(outer_rngs, self.device)
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model.parameters(), hp)
        self.scheduler = build_lr_scheduler(self.optimizer, hp)
        self._batch_generator = torch.Generator().manual_seed(_derive_seed(hp.seed, 1))
        self.global_step = 0
        self._epochs_completed = 0
        self._permutation = torch.empty(0, dtype=torch.long, device=self.device)
        self._position = 0
        self._best_val_loss = math.inf
        self._iterations_without_improvement = 0
        self._early_stopped = False

    def _cached_data(self, hp: HP) -> DataSplits:
        relevant = hp.model_dump(include=set(self.data_hyperparams))
        key = (type(self), str(self.device), json.dumps(relevant, sort_keys=True))
        if key in _DATA_CACHE:
            _DATA_CACHE.move_to_end(key)
            return _DATA_CACHE[key]
        data = self.load_data(hp).to(self.device)
        _DATA_CACHE[key] = data
        while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
            _DATA_CACHE.popitem(last=False)
        return data

    @contextlib.contextmanager
    def _trial_rngs(self) -> Iterator[None]:
        """Runs the block on this trial's own random streams, then restores the process's.

        Dropout and anything else in the model draw from torch's (and possibly numpy's and
        Python's) global generators. Swapping the trial's state in and out makes its results
        depend on its seed and history only, not on what else the process did in between,
        and makes that state a plain value to checkpoint.
        """
        outer = _get_global_rngs(self.device)
        _set_global_rngs(self._rng, self.device)
        try:
            yield
            self._rng = _get_global_rngs(self.device)
        finally:
            _set_global_rngs(outer, self.device)

    def _train_steps(self, batch_size: int) -> tuple[Tensor, float]:
        """``steps_per_iteration`` optimizer steps; returns the summed loss and the last lr."""
        hp, data = self.hp, self.data
        params = [p for p in self.model.parameters() if p.requires_grad]
        loss_sum = torch.zeros((), device=self.device)
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.model.train()
        for _ in range(hp.steps_per_iteration):
            idx = self._next_batch(batch_size, len(data.x_train))
            lr = float(self.optimizer.param_groups[0]["lr"])  # the lr this step uses
            output = self.model(data.x_train[idx])
            loss = self._loss(output, data.y_train[idx])
            objective = loss
            if hp.l1 > 0:
                objective = loss + hp.l1 * torch.stack([p.abs().sum() for p in params]).sum()
            self.optimizer.zero_grad(set_to_none=True)
            objective.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.global_step += 1
            # Accumulate on the device: an .item() here would stall the GPU every step.
            loss_sum += loss.detach()
        return loss_sum, lr

    def _next_batch(self, batch_size: int, n_train: int) -> Tensor:
        """Indices of the next batch; a new permutation starts when the current one runs out."""
        if self._position + batch_size > len(self._permutation):
            if len(self._permutation):
                self._epochs_completed += 1
            # Drawn on the CPU from the trial's own generator: the same order on every device,
            # and untouched by dropout or anything else that uses the global RNG.
            order = torch.randperm(n_train, generator=self._batch_generator)
            self._permutation = order.to(self.device)
            self._position = 0
        idx = self._permutation[self._position : self._position + batch_size]
        self._position += batch_size
        return idx

    def _loss(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "classification":
            return F.cross_entropy(output, target)
        return F.mse_loss(align_regression_output(output, target), target)

    def _predict(self, x: Tensor) -> Tensor:
        return torch.cat([self.model(chunk) for chunk in x.split(self.eval_batch_size)])

    @torch.no_grad()
    def _evaluate(self) -> dict[str, Tensor]:
        """Validation and test metrics as device tensors (no host sync here)."""
        self.model.eval()
        data = self.data
        if self.task == "classification":
            val = classification_metrics(self._predict(data.x_val), data.y_val)
            test = classification_metrics(self._predict(data.x_test), data.y_test)
            return {
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "val_precision": val["precision"],
                "val_recall": val["recall"],
                "val_f1": val["f1"],
                "test_loss": test["loss"],
                "test_accuracy": test["accuracy"],
                "test_f1": test["f1"],
            }
        val = regression_metrics(self._predict(data.x_val), data.y_val)
        test = regression_metrics(self._predict(data.x_test), data.y_test)
        return {
            "val_loss": val["loss"],
            "val_r2": val["r2"],
            "test_loss": test["loss"],
            "test_r2": test["r2"],
        }

    def _update_early_stopping(self, val_loss: float) -> bool:
        """Records this iteration's val_loss; True once patience is exhausted."""
        hp = self.hp
        # NaN compares False: a diverged trial counts as not improving.
        if val_loss < self._best_val_loss - hp.early_stopping_min_delta:
            self._best_val_loss = val_loss
            self._iterations_without_improvement = 0
        else:
            self._iterations_without_improvement += 1
        patience = hp.early_stopping_patience
        if patience is not None and self._iterations_without_improvement >= patience:
            self._early_stopped = True
        return self._early_stopped
