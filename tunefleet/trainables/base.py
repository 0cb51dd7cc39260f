"""``TorchTrainable``: a Ray Tune trainable running a PyTorch training loop from hyperparameters.

A task subclass supplies only data and a model; the base owns everything a tuner relies on:
validation of the trial's config, devices and CPU threads, actor reuse and checkpoint files.
The training itself (seeding, optimizer and schedule, the loop, evaluation, early stopping, the
checkpoint's content) is :class:`~tunefleet.trainables.loop.TrainingLoop`, which knows nothing
of Ray. Of the trainables package, only this module and :mod:`~tunefleet.trainables.workers`
touch Ray.

A trial whose placement group has bundles after its own (``resources.workers``) trains
data-parallel: its process owns a :class:`~tunefleet.trainables.workers.WorkerGroup` of one
process per worker bundle, each hosting a :class:`RankTrial` (the trial's loop on one rank,
:class:`~tunefleet.trainables.distributed.DataParallelLoop`). The trial's process trains nothing
itself: it forwards Tune's calls to every rank and writes the one checkpoint file. Why the trial
owns its workers rather than running Ray Train: see :mod:`tunefleet.trainables.workers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import ray
import torch
from ray import tune
from torch import nn

from tunefleet.trainables.data import Splits
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.loop import LOOP_METRICS, TrainingLoop, load_cached, with_rank_states
from tunefleet.trainables.task_kinds import CLASSIFICATION, TaskKind, resolve_task_kind
from tunefleet.trainables.workers import JOIN_TIMEOUT_S, RankContext, RankProcess, WorkerGroup, WorkerSpec

__all__ = ["CHECKPOINT_FILE", "RankTrial", "Task", "TorchTrainable"]

#: The task kinds a trainable can name by a string (or it gives a TaskKind object).
Task = Literal["classification", "regression"]

#: Name of the single file a checkpoint directory holds.
CHECKPOINT_FILE = "state.pt"

HP = TypeVar("HP", bound=TrainingHyperparams)
T = TypeVar("T")


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

    With data-parallel workers (``resources.workers``; outside Tune, :attr:`workers_outside_tune`)
    the trial trains over one process per worker: see the module docstring. Each worker process
    calls ``load_data`` and ``build_model`` on an instance of the trainable's class made without
    running its ``__init__`` (Tune's own attributes such as ``logdir`` do not exist there), with
    ``hp``, ``config`` and ``device`` set; ``data``, ``loop`` and ``model`` of the trial's own
    instance then do not exist: :meth:`on_every_rank` reaches the ranks' loops.

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
    #: Data-parallel workers of an instance made outside Tune (tests, notebooks); under Tune the
    #: trial's resources decide (``resources.workers``).
    workers_outside_tune: ClassVar[WorkerSpec | None] = None
    #: Seconds every worker gets to join the trial's process group once all have started.
    worker_join_timeout_s: ClassVar[float] = JOIN_TIMEOUT_S
    #: The class of the worker processes (tests substitute a misbehaving one).
    _rank_process: ClassVar[type[RankProcess]] = RankProcess

    hp: HP
    device: torch.device
    data: Splits
    loop: TrainingLoop
    _workers: WorkerGroup | None = None

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

    def _own_loop(self) -> TrainingLoop:
        if self._workers is not None:
            raise AttributeError(
                f"{type(self).__name__} trains on its data-parallel workers: its model, optimizer "
                "and loop live in their processes; use on_every_rank(fn) to reach them"
            )
        return self.loop

    @property
    def model(self) -> nn.Module:
        return self._own_loop().model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._own_loop().optimizer

    @property
    def scheduler(self) -> torch.optim.lr_scheduler.LambdaLR:
        return self._own_loop().scheduler

    @property
    def global_step(self) -> int:
        return self._own_loop().global_step

    # ------------------------------------------------------------------ Ray Trainable API

    def setup(self, config: dict[str, Any]) -> None:
        """Validates ``config`` and builds the trial (Ray calls this once per actor).

        With data-parallel workers, starts them (once per actor: ``reset_config`` keeps them)
        and builds the trial on every rank.
        """
        workers = WorkerSpec.of_trial(self.trial_resources) if self.is_actor() else self.workers_outside_tune
        if workers is None:
            self.device = self.select_device()
            self._cpus = self._use_assigned_cpus()
            self._start_trial(config)
            return
        # Validated here first: a wrong config fails before any worker process starts.
        self.hp = cast(HP, self.Hyperparams.from_config(config))
        self._workers = WorkerGroup(
            functools.partial(RankTrial, type(self), workers.cpus),
            count=workers.count,
            cpus=workers.cpus,
            gpus=workers.gpus,
            first_bundle=workers.first_bundle,
            rank_class=self._rank_process,
            join_timeout_s=self.worker_join_timeout_s,
        )
        self._workers.start()
        try:
            self._workers.run("start_trial", dict(config))
        except BaseException:
            self.cleanup()  # Tune does not call it for a trial whose setup failed
            raise

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Turns this actor into a fresh trial for ``new_config``, reusing the loaded data.

        Everything but the data cache is rebuilt from the new seed: weights, optimizer,
        schedule, counters, early stopping, random generators, DataLoader workers. Returning
        True lets Tune reuse the actor (``reuse_actors``) instead of starting a new process.
        Data-parallel workers are kept: each rank starts the new trial in its process.
        """
        if self._workers is not None:
            self.hp = cast(HP, self.Hyperparams.from_config(new_config))
            self._workers.run("start_trial", dict(new_config))
            return True
        self.loop.close()
        self._start_trial(new_config)
        return True

    def step(self) -> dict[str, Any]:
        """Runs ``steps_per_iteration`` optimizer steps, then evaluates; returns the metrics.

        With data-parallel workers, every rank runs the iteration; the metrics (all-reduced
        over the ranks) are rank 0's.
        """
        if self._workers is not None:
            result = self._workers.run("run_iteration")[0]
        else:
            result = self.loop.run_iteration()
        result["done"] = result["early_stopped"] or result["diverged"]
        return result

    def on_every_rank(self, fn: Callable[[TrainingLoop], T]) -> list[T]:
        """``fn(loop)`` for the training loop of every rank, by rank (one rank without workers).

        ``fn`` runs in the rank's process: with workers it is pickled (a module-level function,
        or a lambda, which Ray pickles by value), and its result comes back.
        """
        if self._workers is not None:
            return cast(list[T], self._workers.run("apply", fn))
        return [fn(self.loop)]

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        """Writes ``state.pt`` into ``checkpoint_dir`` (see :meth:`TrainingLoop.state_dict`).

        With data-parallel workers: one file, rank 0's state and every rank's random streams
        (:func:`~tunefleet.trainables.loop.with_rank_states`).
        """
        if self._workers is not None:
            states = self._workers.run("checkpoint_state")
            state = with_rank_states(states[0]["shared"], [s["rank"] for s in states])
        else:
            state = self.loop.state_dict()
        torch.save(state, Path(checkpoint_dir) / CHECKPOINT_FILE)

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
        if self._workers is not None:
            # Read once, sent once: every rank takes the shared state and its own streams.
            self._workers.run("load_state", state, str(path))
            return
        _load_state(self.loop, state, str(path))

    def cleanup(self) -> None:
        """Stops the trial's DataLoader workers and data-parallel workers (Ray calls this when
        the actor stops)."""
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown()
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
        self.loop = _build_loop(self, hp, self.device, getattr(self, "_cpus", None), TrainingLoop)
        self.data = self.loop.data


def _build_loop(
    hooks: TorchTrainable[Any],
    hp: TrainingHyperparams,
    device: torch.device,
    cpus: int | None,
    loop_class: type[TrainingLoop],
) -> TrainingLoop:
    """A fresh trial of ``hp`` with the data and model of ``hooks`` (loaded data is cached)."""
    relevant = tuple(sorted(hp.model_dump(include=set(hooks.data_hyperparams)).items()))
    data = load_cached((type(hooks), repr(relevant)), lambda: hooks.load_data(hp), device)
    return loop_class(
        hp,
        data,
        lambda: hooks.build_model(hp, data),
        hooks.task_kind,
        device,
        # DataLoader workers: the process's CPUs but the one that trains.
        num_workers=max(0, cpus - 1) if cpus else 0,
        eval_batch_size=hooks.eval_batch_size,
    )


def _load_state(loop: TrainingLoop, state: Mapping[str, Any], source: str) -> None:
    """``loop.load_state_dict``, with errors naming the checkpoint file."""
    try:
        loop.load_state_dict(state, source=source)
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith(source) else f"{source}: {message}") from err


class RankTrial:
    """One rank of a data-parallel trial: the trial's loop in a worker process (see the module
    docstring). Built by the :class:`~tunefleet.trainables.workers.WorkerGroup` once the process
    group is up; reused for every trial the worker runs.

    Args:
        trainable: The trial's trainable class: its ``Hyperparams``, ``load_data``,
            ``build_model`` and class settings are used on an instance made without ``__init__``
            (a ``ray.tune.Trainable``'s needs Tune's trial context, which a worker has not).
        cpus: The worker's CPUs: torch's threads, and DataLoader workers (one fewer).
        context: The rank, the group's size and the device (``cuda:<i>`` with a GPU).
    """

    def __init__(self, trainable: type[TorchTrainable[Any]], cpus: float, context: RankContext) -> None:
        from tunefleet.trainables.distributed import DataParallelLoop

        self.context = context
        self.device = torch.device(context.device)
        self.cpus = max(1, int(cpus))
        torch.set_num_threads(self.cpus)  # torch defaults to every core of the node
        self._loop_class = DataParallelLoop
        self.hooks = trainable.__new__(trainable)
        self.hooks.device = self.device
        self.loop: TrainingLoop | None = None

    def _current(self) -> TrainingLoop:
        if self.loop is None:
            raise RuntimeError("no trial has started on this rank")
        return self.loop

    def start_trial(self, config: dict[str, Any]) -> None:
        """Builds the trial for ``config`` on this rank, replacing the previous one."""
        self.close()
        hooks = self.hooks
        hp = hooks.Hyperparams.from_config(config)
        hooks.hp, hooks.config = hp, dict(config)
        self.loop = _build_loop(hooks, hp, self.device, self.cpus, self._loop_class)

    def run_iteration(self) -> dict[str, Any]:
        return self._current().run_iteration()

    def checkpoint_state(self) -> dict[str, Any]:
        """Rank 0: the shared state and its streams; other ranks: their streams only (on the CPU)."""
        from tunefleet.trainables.distributed import on_cpu

        loop = self._current()
        shared = loop.state_dict() if self.context.rank == 0 else None
        return on_cpu({"shared": shared, "rank": loop.rank_state()})

    def load_state(self, state: Mapping[str, Any], source: str) -> None:
        _load_state(self._current(), state, source)

    def apply(self, fn: Callable[[TrainingLoop], T]) -> T:
        return fn(self._current())

    def close(self) -> None:
        """Stops the trial's DataLoader workers (the worker group calls it before leaving)."""
        loop, self.loop = self.loop, None
        if loop is not None:
            loop.close()
