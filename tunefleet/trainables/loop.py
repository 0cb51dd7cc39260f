"""One trial's training, without Ray: its state, its steps, its evaluation, its checkpoint state.

:class:`TrainingLoop` owns everything a trial is: model, optimizer, schedule, gradient scaler,
position in the data, early stopping and random streams. It serves both data forms of
:mod:`tunefleet.trainables.data` with one loop: tensors are indexed in place (the fast path),
datasets stream through :class:`~tunefleet.trainables.streaming.StreamLoader`.

The Ray trainable (:mod:`tunefleet.trainables.base`) runs one per trial. A multi-process (DDP)
trial runs one per process with the same seed (see :mod:`tunefleet.trainables.distributed`):
each process is a :class:`Shard` that trains on its part of every batch and evaluates its part of
each evaluation set; the loop sums losses and metric statistics across processes through
:meth:`Shard.reduce_sum`. The processes hold the same weights, optimizer state, schedule, data
position and early-stopping state; only their random streams differ (each rank draws its own
dropout masks and batch augmentations), so the trial's checkpoint is rank 0's
:meth:`state_dict` plus every rank's :meth:`rank_state` (:func:`with_rank_states`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tunefleet.trainables.batches import BatchOrder, EvalShard, MicroBatch, eval_shard, micro_batches
from tunefleet.trainables.cost import LATENCY_SAMPLES, count_parameters, inference_latency_ms
from tunefleet.trainables.data import DatasetSplits, DataSplits, Splits
from tunefleet.trainables.hyperparams import TrainingHyperparams
from tunefleet.trainables.initialization import init_weights
from tunefleet.trainables.metrics import to_floats
from tunefleet.trainables.optimizers import apply_optimizer_hyperparams, build_optimizer
from tunefleet.trainables.rng import (
    AUGMENTATION_STREAM,
    RANK_STREAM,
    SAMPLE_STREAM,
    derive_seed,
    get_global_rngs,
    seed_global_rngs,
    set_global_rngs,
)
from tunefleet.trainables.schedules import build_lr_scheduler
from tunefleet.trainables.streaming import StreamLoader
from tunefleet.trainables.task_kinds import TaskKind

__all__ = [
    "CHECKPOINT_FORMAT",
    "LOOP_METRICS",
    "Shard",
    "TrainingLoop",
    "load_cached",
    "upgrade_checkpoint",
    "with_rank_states",
]

logger = logging.getLogger(__name__)

#: Version of :meth:`TrainingLoop.state_dict`. 2 added the gradient scaler, the augmentation
#: generator and a ``data_position`` entry; format 1 checkpoints still load.
CHECKPOINT_FORMAT = 2

#: Metrics every iteration reports besides its task kind's evaluation metrics. ``world_size`` is
#: the number of processes that trained the trial (1, or the data-parallel workers); ``params``
#: and ``latency_ms`` are the model's cost (:mod:`~tunefleet.trainables.cost`).
LOOP_METRICS = frozenset(
    {
        "train_loss",
        "lr",
        "samples_per_s",
        "epoch",
        "global_step",
        "early_stopped",
        "diverged",
        "world_size",
        "params",
        "latency_ms",
    }
)

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# Loaded data, already on its device, shared by every trial this process runs (Tune reuses
# actors across trials). Small: a process rarely needs more than one dataset.
_DATA_CACHE: OrderedDict[tuple[Any, ...], Splits] = OrderedDict()
_DATA_CACHE_SIZE = 2


def load_cached(key: tuple[Any, ...], load: Callable[[], Splits], device: torch.device) -> Splits:
    """``load().to(device)``, or the result of an earlier call with the same ``key`` in this process."""
    key = (*key, str(device))
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    data = load().to(device)
    _DATA_CACHE[key] = data
    while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
        _DATA_CACHE.popitem(last=False)
    return data


@dataclass(frozen=True)
class Shard:
    """This process's part of a trial: all of it, unless a multi-process trial says otherwise.

    A DDP trial subclasses it with ``reduce_sum`` as an all-reduce over its process group.

    Attributes:
        rank: This process's index, ``0 <= rank < world_size``.
        world_size: The trial's processes.
    """

    rank: int = 0
    world_size: int = 1

    def reduce_sum(self, tensor: Tensor) -> Tensor:
        """The elementwise sum of ``tensor`` over the trial's processes."""
        return tensor


def upgrade_checkpoint(state: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint state of any known format, in the current format.

    Format 1 (before mixed precision and streamed data) kept the data position at the top level
    and had no gradient scaler or augmentation generator: its trials ran in fp32 and without
    batch augmentation, so fresh ones continue them exactly.

    Raises:
        ValueError: For an unknown format.
    """
    version = state.get("format")
    if version == CHECKPOINT_FORMAT:
        return dict(state)
    if version == 1:
        moved = ("permutation", "position", "epochs_completed")
        upgraded = {k: v for k, v in state.items() if k not in moved}
        upgraded["format"] = CHECKPOINT_FORMAT
        upgraded["data_position"] = {
            "epochs_completed": state["epochs_completed"],
            "permutation": state["permutation"],
            "position": state["position"],
            "generator": state["rng"]["batch_order"],
        }
        upgraded["rng"] = {"trial": state["rng"]["trial"]}
        upgraded["grad_scaler"] = {}
        return upgraded
    raise ValueError(f"unknown checkpoint format {version!r} (this version reads 1 and {CHECKPOINT_FORMAT})")


def with_rank_states(state: Mapping[str, Any], rank_states: list[dict[str, Any]]) -> dict[str, Any]:
    """A data-parallel trial's checkpoint: rank 0's :meth:`TrainingLoop.state_dict` and every
    rank's :meth:`TrainingLoop.rank_state`, by rank (under ``rng_by_rank``).

    What the processes share is saved once; each one's random streams are saved by rank, so that
    a restored trial continues every rank exactly (see :meth:`TrainingLoop.load_state_dict`).
    """
    return {**state, "rng_by_rank": list(rank_states)}


class TrainingLoop:
    """A trial's state and the loop that advances it.

    Built from the hyperparameters as a fresh trial has it: the model from ``build_model`` on
    the global generators seeded with ``hp.seed`` (on the CPU, so a seed gives the same weights
    on every device), then initialised, moved to ``device``, optimizer, schedule and gradient
    scaler from ``hp``.

    Each trial owns its random streams: the global torch/CUDA/numpy/Python generators are
    swapped to the trial's state for the duration of :meth:`run_iteration`, batch order and
    batch augmentation come from dedicated generators, and per-sample randomness of streamed
    data from the data position. Results therefore depend only on the config and the history,
    and :meth:`state_dict` captures everything needed to continue bit-identically.

    In a multi-process trial every rank builds the same weights from the seed and draws the same
    batch order; its global generators (dropout) and augmentation generator are its own (rank 0's
    are a single-process trial's), so that no two ranks draw the same dropout masks or batch
    augmentations. Per-sample randomness of streamed data depends on the sample's position only,
    so it is the same whatever the number of ranks. Every rank needs a sample of each
    micro-batch: ``batch_size >= world_size * grad_accumulation``.

    Args:
        hp: Validated hyperparameters.
        data: The trial's data, on ``device`` (tensors) or streamed (datasets).
        build_model: Builds a fresh model (on the CPU) for ``hp``.
        task: Loss, metrics and target dtype.
        device: Where the model trains.
        num_workers: DataLoader worker processes for streamed data when ``hp.num_workers`` is
            unset.
        eval_batch_size: Largest batch evaluated at once.
        shard: This process's part of a multi-process trial.

    Attributes:
        model: The model (not compiled, not wrapped): what checkpoints hold.
        optimizer, scheduler, scaler: Its optimizer, learning-rate schedule (stepped after every
            optimizer step) and gradient scaler (enabled for fp16 only).
        order: The position in the training data.
        global_step: Optimizer steps taken in this trial.
    """

    def __init__(
        self,
        hp: TrainingHyperparams,
        data: Splits,
        build_model: Callable[[], nn.Module],
        task: TaskKind,
        device: torch.device,
        *,
        num_workers: int = 0,
        eval_batch_size: int = 8192,
        shard: Shard | None = None,
    ) -> None:
        self.hp = hp
        self.data = data
        self.task = task
        self.device = device
        self.shard = shard or Shard()
        self.eval_batch_size = eval_batch_size
        if hp.precision == "fp16" and device.type != "cuda":
            logger.warning("precision fp16 on %s: emulated and slow; bf16 or fp32 are the CPU's", device)
        world_size = self.shard.world_size
        if world_size > 1 and min(hp.batch_size, data.num_train) < world_size * hp.grad_accumulation:
            # A rank without a micro-batch would skip a backward pass the others all-reduce in.
            raise ValueError(
                f"batch_size {hp.batch_size} (of {data.num_train} training samples) is too small for "
                f"{world_size} data-parallel workers with grad_accumulation {hp.grad_accumulation}: "
                f"every worker needs a sample of every micro-batch, so batch_size must be at least "
                f"{world_size * hp.grad_accumulation}"
            )

        outer_rngs = get_global_rngs(device)
        try:
            # Seeded after loading: loaders may touch global RNGs (mnist1d reseeds numpy), and a
            # cache hit must not change what the trial sees.
            seed_global_rngs(hp.seed)
            model = build_model()
            init_weights(model, hp.init, hp.activation)
            # From here on the trial's global-RNG streams are its own (see _trial_rngs).
            self._rng = self._rank_rngs()
        finally:
            set_global_rngs(outer_rngs, device)
        self.model = self._prepare_model(model).to(device)
        if hp.channels_last:
            # (Module.to's type stubs lack the memory_format keyword it accepts.)
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        # Training goes through the wrapper a multi-process trial adds (DDP); evaluation uses the
        # plain module: it needs no gradient synchronisation, and ranks evaluate different numbers
        # of batches, so it must not run collectives (DDP's forward broadcasts buffers).
        self._forward_model: Callable[[Tensor], Tensor] = self._wrap_for_training(self.model)
        self._eval_model: Callable[[Tensor], Tensor] = self.model
        if hp.compile:
            wrapped = self._forward_model is not self.model
            self._forward_model = torch.compile(self._forward_model)
            self._eval_model = torch.compile(self.model) if wrapped else self._forward_model
        self.optimizer = build_optimizer(self.model.parameters(), hp)
        self.scheduler = build_lr_scheduler(self.optimizer, hp)
        self.scaler = torch.amp.GradScaler(device.type, enabled=hp.precision == "fp16")
        self.global_step = 0

        streamed = isinstance(data, DatasetSplits)
        self.order = BatchOrder(data.num_train, hp.seed, "cpu" if streamed else device)
        self.augmentation = torch.Generator(device).manual_seed(
            derive_seed(hp.seed, AUGMENTATION_STREAM, self.shard.rank)
        )
        self._loader: StreamLoader | None = None
        if isinstance(data, DatasetSplits):
            self._loader = StreamLoader(
                data,
                num_workers=hp.num_workers if hp.num_workers is not None else num_workers,
                device=device,
                seed_base=derive_seed(hp.seed, SAMPLE_STREAM),
                eval_batch_size=eval_batch_size,
                rank=self.shard.rank,
                world_size=self.shard.world_size,
            )
        self._stream: Iterator[tuple[Tensor, Tensor]] | None = None

        self._best_val_loss = math.inf
        self._iterations_without_improvement = 0
        self._early_stopped = False
        self.params = count_parameters(self.model)
        # The first validation samples, as the model takes them (set by the first evaluation),
        # and the last latency measured on them: see _latency_ms.
        self._latency_inputs: Tensor | None = None
        self._latency: float | None = None

    def _rank_rngs(self) -> dict[str, Any]:
        """This rank's global generators once the model is built: rank 0 continues the stream
        that built it (a single-process trial's); any other rank starts one of its own."""
        if self.shard.rank > 0:
            seed_global_rngs(derive_seed(self.hp.seed, RANK_STREAM, self.shard.rank))
        return get_global_rngs(self.device)

    def _prepare_model(self, model: nn.Module) -> nn.Module:
        """The model as built, before it moves to the device (a multi-process trial may convert
        layers, e.g. BatchNorm to SyncBatchNorm)."""
        return model

    def _wrap_for_training(self, model: nn.Module) -> Callable[[Tensor], Tensor]:
        """What the training forward pass calls: the model (DDP wraps it in a multi-process trial)."""
        return model

    # ------------------------------------------------------------------ one iteration

    def run_iteration(self) -> dict[str, Any]:
        """``steps_per_iteration`` optimizer steps, then evaluation; returns the metrics as floats.

        The metrics are the task kind's ``val_*``/``test_*`` ones and :data:`LOOP_METRICS`.
        """
        hp = self.hp
        # Batches never wrap around an epoch, so one larger than the training set would never
        # be drawn; cap it instead.
        batch_size = min(hp.batch_size, self.data.num_train)
        if self._loader is not None and self._stream is None:
            self._stream = self._loader.stream(
                self.order, batch_size, hp.grad_accumulation, hp.steps_per_iteration
            )
        try:
            with self._explain_compile_failures(), self._trial_rngs():
                start = time.perf_counter()
                loss_sum, lr = self._train_steps(batch_size)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)  # so the timing covers the queued kernels
                train_seconds = time.perf_counter() - start
                train_loss = self.shard.reduce_sum(loss_sum) / (
                    hp.steps_per_iteration * self.shard.world_size
                )
                tensors = {"train_loss": train_loss, **self._evaluate()}
        except BaseException:
            self._stream = None  # out of step with the position now: restart from it next time
            raise
        result: dict[str, Any] = to_floats(tensors)  # the one host sync of the iteration
        stopped = self._update_early_stopping(result["val_loss"])
        # A NaN or infinite loss never recovers: stop the trial cleanly and say why, rather
        # than training on garbage or raising (which failure.max_failures would retry).
        diverged = not (math.isfinite(result["train_loss"]) and math.isfinite(result["val_loss"]))
        result.update(
            lr=lr,
            samples_per_s=hp.steps_per_iteration * batch_size / max(train_seconds, 1e-9),
            epoch=self.order.epochs,
            global_step=self.global_step,
            early_stopped=stopped,
            diverged=diverged,
            world_size=self.shard.world_size,
            params=self.params,
            latency_ms=self._latency_ms(),
        )
        return result

    def _latency_ms(self) -> float:
        """The model's per-sample inference time (:func:`~tunefleet.trainables.cost.inference_latency_ms`).

        Measured at the first iteration this loop runs (a new trial, or one continued from a
        checkpoint) and at the trial's last (``max_iterations``); the iterations between report
        the last measurement: the architecture, hence the cost, does not change while training,
        and measuring every iteration would cost a few percent of it. Only rank 0 of a
        data-parallel trial measures (its result is the trial's); the others report NaN.
        """
        if self.shard.rank != 0 or self._latency_inputs is None:
            return math.nan
        last = self.global_step >= self.hp.max_iterations * self.hp.steps_per_iteration
        if self._latency is None or last:
            # Outside the trial's random streams: whether it measured must not change its results.
            self._latency = inference_latency_ms(self.model, self._latency_inputs, context=self._autocast)
        return self._latency

    def _train_steps(self, batch_size: int) -> tuple[Tensor, float]:
        """``steps_per_iteration`` optimizer steps; returns the summed loss and the last lr."""
        hp = self.hp
        params = [p for p in self.model.parameters() if p.requires_grad]
        loss_sum = torch.zeros((), device=self.device)
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.model.train()
        for _ in range(hp.steps_per_iteration):
            lr = float(self.optimizer.param_groups[0]["lr"])  # the lr this step uses
            batch = self.order.next_batch(batch_size)
            parts = micro_batches(batch, hp.grad_accumulation, self.shard.rank, self.shard.world_size)
            self.optimizer.zero_grad(set_to_none=True)
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                x, y = self._training_inputs(part)
                with self._accumulating(last):  # forward and backward of one micro-batch
                    with self._autocast():
                        loss = self.task.loss(self._forward(x), y)
                        objective = loss * part.weight
                        if hp.l1 > 0 and last:  # once per step, not per micro-batch
                            objective = objective + hp.l1 * torch.stack([p.abs().sum() for p in params]).sum()
                    self.scaler.scale(objective).backward()
                # Accumulate on the device: an .item() here would stall the GPU every step.
                loss_sum += loss.detach() * part.weight
            if hp.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)  # clip the true gradient, not the scaled one
                nn.utils.clip_grad_norm_(params, hp.grad_clip)
            self.scaler.step(self.optimizer)  # skipped when fp16 gradients overflowed
            self.scaler.update()
            self.scheduler.step()
            self.global_step += 1
        return loss_sum, lr

    def _training_inputs(self, part: MicroBatch) -> tuple[Tensor, Tensor]:
        if self._stream is not None:
            x, y = next(self._stream)
        else:
            data = self.data
            assert isinstance(data, DataSplits)
            x, y = data.x_train[part.indices], data.y_train[part.indices]
            if data.train_batch_transform is not None:
                x = data.train_batch_transform(x, self.augmentation)
        return self._as_input(x), self.task.prepare_target(y)

    def _as_input(self, x: Tensor) -> Tensor:
        if self.hp.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _forward(self, x: Tensor) -> Tensor:
        return self._forward_model(x)

    def _forward_eval(self, x: Tensor) -> Tensor:
        return self._eval_model(x)

    @contextlib.contextmanager
    def _explain_compile_failures(self) -> Iterator[None]:
        """Turns a failure of torch.compile's backend (on the first forward or backward, or on
        a recompilation) into an error that says which knob to turn."""
        if not self.hp.compile:
            yield
            return
        from torch._dynamo.exc import BackendCompilerFailed

        try:
            yield
        except BackendCompilerFailed as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RuntimeError(
                f"compile: true, but torch.compile could not compile {type(self.model).__name__} "
                f"on {self.device.type} ({reason}); set compile: false, or install what the "
                "backend needs (a C++ compiler on CPU, Triton on GPU)"
            ) from err

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = _AUTOCAST_DTYPES.get(self.hp.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _accumulating(self, last: bool) -> contextlib.AbstractContextManager[Any]:
        """Context of one micro-batch's forward and backward: a DDP process would skip the
        gradient all-reduce (``no_sync``) on every micro-batch but the ``last`` of the step."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ evaluation

    def _eval_shard(self, split: str) -> EvalShard:
        data = self.data
        samples = getattr(data, split) if isinstance(data, DatasetSplits) else getattr(data, f"x_{split}")
        return eval_shard(len(samples), self.shard.rank, self.shard.world_size)

    def _eval_batches(self, split: str) -> Iterator[tuple[Tensor, Tensor]]:
        """This process's batches of its part of the ``val`` or ``test`` set."""
        if self._loader is not None:
            # The evaluation batches follow each iteration's training batches in the stream.
            assert self._stream is not None, "evaluation of streamed data outside run_iteration"
            for _ in range(self._loader.eval_batch_count(split)):
                yield next(self._stream)
            return
        data = self.data
        assert isinstance(data, DataSplits)
        shard = self._eval_shard(split)
        x = getattr(data, f"x_{split}")[shard.start : shard.stop]
        y = getattr(data, f"y_{split}")[shard.start : shard.stop]
        size = self.eval_batch_size
        for x_chunk, y_chunk in zip(x.split(size), y.split(size), strict=True):
            if data.eval_batch_transform is not None:
                x_chunk = data.eval_batch_transform(x_chunk)
            yield x_chunk, y_chunk

    @torch.no_grad()
    def _evaluate(self) -> dict[str, Tensor]:
        """Validation and test metrics as device tensors (no host sync here)."""
        self.model.eval()
        metrics: dict[str, Tensor] = {}
        for split, names in (("val", self.task.val_metrics), ("test", self.task.test_metrics)):
            accumulator = self.task.accumulator()
            for x, y in self._eval_batches(split):
                x = self._as_input(x)
                if self._latency_inputs is None and split == "val" and len(x):
                    self._latency_inputs = x[:LATENCY_SAMPLES].clone()
                with self._autocast():
                    output = self._forward_eval(x)
                accumulator.update(output.float(), self.task.prepare_target(y))
            counts = self._eval_shard(split).counts  # False: a stand-in batch (see eval_shard)
            sums = {k: v if counts else torch.zeros_like(v) for k, v in accumulator.sums.items()}
            accumulator.load_sums({k: self.shard.reduce_sum(v) for k, v in sums.items()})
            values = accumulator.compute()
            metrics.update({f"{split}_{name}": values[name] for name in names})
        return metrics

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

    @contextlib.contextmanager
    def _trial_rngs(self) -> Iterator[None]:
        """Runs the block on this trial's own random streams, then restores the process's.

        Dropout and anything else in the model draw from torch's (and possibly numpy's and
        Python's) global generators. Swapping the trial's state in and out makes its results
        depend on its seed and history only, not on what else the process did in between,
        and makes that state a plain value to checkpoint.
        """
        outer = get_global_rngs(self.device)
        set_global_rngs(self._rng, self.device)
        try:
            yield
            self._rng = get_global_rngs(self.device)
        finally:
            set_global_rngs(outer, self.device)

    # ------------------------------------------------------------------ checkpoint state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically, as tensors and builtins only.

        In a multi-process trial, the random streams are this rank's (``rng``); the trial's
        checkpoint adds every rank's (:func:`with_rank_states`).
        """
        return {
            "format": CHECKPOINT_FORMAT,
            "hyperparams": self.hp.model_dump(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "grad_scaler": self.scaler.state_dict(),  # {} unless fp16
            "global_step": self.global_step,
            "data_position": self.order.state_dict(),
            "early_stopping": {
                "best_val_loss": self._best_val_loss,
                "iterations_without_improvement": self._iterations_without_improvement,
                "stopped": self._early_stopped,
            },
            "rng": self.rank_state(),
        }

    def rank_state(self) -> dict[str, Any]:
        """This process's own random streams: the part of the state that differs between ranks."""
        return {
            "trial": self._rng,
            "augmentation": {"device": self.device.type, "state": self.augmentation.get_state()},
        }

    def changed_hyperparams(self, saved: Mapping[str, Any]) -> list[str]:
        """Names whose value in ``saved`` (a checkpoint's) differs from this trial's.

        A name the checkpoint lacks (it predates the knob) counts at the knob's default.
        """
        current = self.hp.model_dump()
        fields = type(self.hp).model_fields
        old = {k: saved.get(k, fields[k].default if k in fields else None) for k in current} | dict(saved)
        return sorted(k for k in current.keys() | old.keys() if old.get(k) != current.get(k))

    def load_state_dict(self, state: Mapping[str, Any], source: str = "checkpoint") -> None:
        """Continues from :meth:`state_dict` output (any readable format).

        Under the same hyperparameters, training continues bit-identically. Under changed ones
        (a PBT exploit), weights, optimizer state, counters and generators come from the
        checkpoint while the new values win: the optimizer's lr/momentum/betas/weight decay, the
        schedule (continued at the restored step with the new base lr), dropout and every other
        knob. If the optimizer *kind* changed, its state cannot carry over and starts fresh.

        Each rank of a multi-process trial takes its own random streams from ``rng_by_rank``
        (rank 0 from ``rng`` in a single-process checkpoint). If the number of ranks changed
        since the save, the ranks that existed then continue theirs, and any new rank starts
        streams derived from (seed, rank, step): everything else continues exactly, but the
        results are no longer those that either number of ranks would have given.

        Raises:
            ValueError: If the format is unknown or the weights do not fit the model built from
                the current hyperparameters.
        """
        state = upgrade_checkpoint(state)
        changed = self.changed_hyperparams(state["hyperparams"])
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise ValueError(
                f"{source}: the checkpoint's weights do not fit the model built for the current "
                f"hyperparameters (changed: {', '.join(changed) or 'none'}); architecture "
                f"knobs cannot change when continuing a checkpoint"
            ) from err

        saved_hp = state["hyperparams"]
        if not changed:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        else:
            logger.info("continuing %s with changed hyperparameters: %s", source, changed)
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
        # A scaler saved disabled (fp32, bf16) has no state: an fp16 trial continuing it starts
        # from a fresh scale.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.scaler.is_enabled())
        if state["grad_scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["grad_scaler"])

        self.global_step = state["global_step"]
        self.order.load_state_dict(state["data_position"])
        self._stream = None  # the next iteration streams from the restored position
        early = state["early_stopping"]
        self._best_val_loss = early["best_val_loss"]
        self._iterations_without_improvement = early["iterations_without_improvement"]
        self._early_stopped = early["stopped"]

        streams = self._saved_rank_state(state, source)
        self._rng = streams["trial"]
        augmentation = streams.get("augmentation")
        if augmentation is not None and augmentation["device"] == self.device.type:
            self.augmentation.set_state(augmentation["state"])
        elif augmentation is not None:
            # Generators of different devices have different states; continue on a fresh stream
            # that still depends only on the seed and the step.
            logger.warning(
                "%s: augmentation stream saved on %s, continuing on %s from a new seed",
                source,
                augmentation["device"],
                self.device.type,
            )
            self.augmentation.manual_seed(
                derive_seed(self.hp.seed + self.global_step, AUGMENTATION_STREAM, self.shard.rank)
            )

    def _saved_rank_state(self, state: Mapping[str, Any], source: str) -> Mapping[str, Any]:
        """This rank's random streams in a checkpoint; new ones where it has none (see load_state_dict)."""
        rank = self.shard.rank
        by_rank = state.get("rng_by_rank")
        saved_ranks = len(by_rank) if by_rank is not None else 1
        if rank < saved_ranks:
            return by_rank[rank] if by_rank is not None else state["rng"]
        logger.warning(
            "%s was saved by %d process(es); rank %d continues on new random streams",
            source,
            saved_ranks,
            rank,
        )
        outer = get_global_rngs(self.device)
        try:
            seed_global_rngs(derive_seed(self.hp.seed + self.global_step, RANK_STREAM, rank))
            fresh = get_global_rngs(self.device)
        finally:
            set_global_rngs(outer, self.device)
        augmentation = torch.Generator(self.device).manual_seed(
            derive_seed(self.hp.seed + self.global_step, AUGMENTATION_STREAM, rank)
        )
        generator = {"device": self.device.type, "state": augmentation.get_state()}
        return {"trial": fresh, "augmentation": generator}

    def close(self) -> None:
        """Stops the DataLoader worker processes, if any (idempotent)."""
        self._stream = None
        if self._loader is not None:
            self._loader.close()
