"""Streamed datasets: one loop with the tensor path, exact data positions, DataLoader workers.

The trainables here stream 240 tiny samples through DataLoaders, with a random per-sample
augmentation that draws from torch's, numpy's and Python's global generators in the worker
processes, and dropout in the model.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import torch

from tunefleet.trainables.batches import Batch, BatchOrder, micro_batches
from tunefleet.trainables.data import DatasetSplits

from .helpers import (
    Blobs,
    StreamedBlobs,
    TensorBlobs,
    UnaugmentedStreamedBlobs,
    assert_restore_continues_exactly,
    deterministic_metrics,
    same_weights,
)

#: 240 training samples in batches of 32: 7 batches an epoch, 16 samples dropped at its end.
CONFIG: dict[str, Any] = {
    "hidden": 16,
    "dropout": 0.3,
    "optimizer": "momentum",
    "lr": 0.05,
    "batch_size": 32,
    "steps_per_iteration": 5,
    "max_iterations": 4,
}


def _trained(cls: type[Any], config: dict[str, Any], iterations: int) -> tuple[Any, list[dict[str, Any]]]:
    trainable = cls(config=dict(config))
    results = [trainable.train() for _ in range(iterations)]
    return trainable, results


def _worker_processes() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.is_alive()]


@pytest.fixture(autouse=True)
def _no_leftover_workers() -> Any:
    before = set(_worker_processes())
    yield
    assert set(_worker_processes()) <= before, "a DataLoader worker outlived its test"


def test_streamed_datasets_train_exactly_like_the_same_tensors() -> None:
    # One training loop serves both forms: same batches, same dropout, same arithmetic.
    tensors, tensor_results = _trained(TensorBlobs, CONFIG, 2)
    streamed, streamed_results = _trained(UnaugmentedStreamedBlobs, CONFIG, 2)
    assert [deterministic_metrics(tensors, r) for r in tensor_results] == [
        deterministic_metrics(streamed, r) for r in streamed_results
    ]
    assert same_weights(tensors.model, streamed.model)
    streamed.stop()


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    in_process, results_0 = _trained(StreamedBlobs, {**CONFIG, "num_workers": 0}, 2)
    workers, results_2 = _trained(StreamedBlobs, {**CONFIG, "num_workers": 2}, 2)
    assert [deterministic_metrics(workers, r) for r in results_2] == [
        deterministic_metrics(in_process, r) for r in results_0
    ]
    assert same_weights(in_process.model, workers.model)
    # The augmentation is random and matters: without it the weights differ.
    plain, _ = _trained(UnaugmentedStreamedBlobs, CONFIG, 2)
    assert not same_weights(plain.model, workers.model)
    for trainable in (in_process, workers, plain):
        trainable.stop()


def test_streamed_checkpoint_restore_mid_epoch_with_workers_continues_bit_identically(
    tmp_path: Path,
) -> None:
    # The loader's workers prefetch beyond the saved position; the restored loader must start at it.
    assert_restore_continues_exactly(StreamedBlobs, {**CONFIG, "num_workers": 2}, tmp_path)


def test_workers_persist_between_iterations_and_stop_with_the_trial() -> None:
    before = set(_worker_processes())
    trainable = StreamedBlobs(config={**CONFIG, "num_workers": 2})
    trainable.train()
    started = set(_worker_processes()) - before
    assert len(started) == 2
    trainable.train()
    assert set(_worker_processes()) - before == started  # the same two, not new ones

    assert trainable.reset_config({**CONFIG, "num_workers": 1, "seed": 1})
    assert not (started & set(_worker_processes()))
    trainable.train()
    assert len(set(_worker_processes()) - before) == 1
    trainable.stop()
    assert set(_worker_processes()) <= before


def test_a_sample_is_augmented_the_same_wherever_and_whenever_it_is_loaded() -> None:
    # The loader's view: the same data position gives the same sample, in or out of workers.
    from tunefleet.trainables.streaming import StreamLoader

    splits = StreamedBlobs(config=dict(CONFIG)).data
    assert isinstance(splits, DatasetSplits)
    batches = {}
    for workers in (0, 2):
        loader = StreamLoader(splits, workers, torch.device("cpu"), seed_base=7, eval_batch_size=50)
        stream = loader.stream(BatchOrder(240, seed=0), batch_size=32, parts=1, steps=8)
        batches[workers] = [next(stream) for _ in range(8)]  # into the second epoch
        loader.close()
    for (x0, y0), (x2, y2) in zip(batches[0], batches[2], strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
    # Starting from a saved position gives the batches that followed it.
    order = BatchOrder(240, seed=0)
    for _ in range(3):
        order.next_batch(32)
    loader = StreamLoader(splits, 0, torch.device("cpu"), seed_base=7, eval_batch_size=50)
    later = loader.stream(order, batch_size=32, parts=1, steps=5)
    for expected_x, _ in batches[0][3:]:
        assert torch.equal(next(later)[0], expected_x)
    # Then the evaluation batches of the iteration: validation (60 samples in batches of 50).
    assert [len(next(later)[1]) for _ in range(loader.eval_batch_count("val"))] == [50, 10]
    loader.close()


def test_batch_order_clone_draws_the_same_batches_and_position_round_trips() -> None:
    order = BatchOrder(10, seed=3)
    order.next_batch(4)
    twin = order.clone()
    assert [order.next_batch(4).indices.tolist() for _ in range(4)] == [
        twin.next_batch(4).indices.tolist() for _ in range(4)
    ]
    restored = BatchOrder(10, seed=99)
    restored.load_state_dict(order.state_dict())
    assert restored.next_batch(4).indices.tolist() == order.next_batch(4).indices.tolist()
    assert (restored.epochs_completed, restored.position) == (order.epochs_completed, order.position)


def test_micro_batches_partition_the_batch_across_ranks_with_weights_of_its_mean() -> None:
    batch = Batch(torch.arange(100, 110), epoch=2, start=40)
    for world_size in (1, 2, 3):
        parts = [m for rank in range(world_size) for m in micro_batches(batch, 3, rank, world_size)]
        assert torch.equal(torch.cat([m.indices for m in parts]), batch.indices)
        assert [m.start for m in parts] == [
            40 + sum(len(p.indices) for p in parts[:i]) for i in range(len(parts))
        ]
        # Averaged over ranks (as DDP averages gradients), the weights sum to one batch mean.
        assert sum(m.weight for m in parts) / world_size == pytest.approx(1.0)
    assert [len(m.indices) for m in micro_batches(batch, 20)] == [1] * 10  # no empty parts


def test_dataset_splits_reject_what_a_dataloader_cannot_index() -> None:
    with pytest.raises(TypeError, match="val must be a map-style dataset"):
        DatasetSplits(Blobs(10, 0), iter(range(3)), Blobs(10, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="training dataset is empty"):
        DatasetSplits(Blobs(0, 0), Blobs(10, 0), Blobs(10, 0))


def test_readme_streamed_dataset_example_trains_with_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re
    import sys

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "class NoisyMLP" in b]
    (tmp_path / "readme_streamed.py").write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    from readme_streamed import NoisyMLP  # type: ignore[import-not-found]

    trainable = NoisyMLP(config={"hidden": 8, "steps_per_iteration": 3, "num_workers": 1})
    result = trainable.train()
    assert 0 <= result["val_accuracy"] <= 1 and result["global_step"] == 3
    trainable.stop()
    sys.modules.pop("readme_streamed", None)
