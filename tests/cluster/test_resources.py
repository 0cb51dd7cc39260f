"""Resources per trial: fractional GPUs, placement groups for trainables with workers, fail fast."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tunefleet.cluster.capacity import ClusterCapacity, unschedulable_reason
from tunefleet.config import load_experiment
from tunefleet.config.schema import ResourceSettings
from tunefleet.errors import ConfigError
from tunefleet.run import run_experiment
from tunefleet.run.session import check_trials_fit

GPU_NODE = {"CPU": 4.0, "GPU": 1.0}


def test_fractional_gpus_are_one_bundle_and_workers_add_one_bundle_each() -> None:
    assert ResourceSettings(cpu=2, gpu=0.25).bundles() == [{"CPU": 2.0, "GPU": 0.25}]
    settings = ResourceSettings(cpu=1, workers={"count": 2, "cpu": 2, "gpu": 0.5}, placement="SPREAD")
    assert settings.bundles() == [{"CPU": 1.0}, {"CPU": 2.0, "GPU": 0.5}, {"CPU": 2.0, "GPU": 0.5}]
    with pytest.raises(ValidationError, match="a fraction of one GPU or a whole number of GPUs"):
        ResourceSettings(workers={"count": 1, "gpu": 1.5})


@pytest.mark.parametrize(
    ("bundles", "strategy", "fits"),
    [
        ([{"CPU": 2.0, "GPU": 0.25}], "PACK", True),
        ([{"CPU": 1.0, "GPU": 2.0}], "PACK", False),
        ([{"CPU": 1.0}, {"CPU": 3.0, "GPU": 1.0}, {"CPU": 3.0, "GPU": 1.0}], "PACK", True),  # one per node
        ([{"CPU": 1.0}, {"CPU": 3.0, "GPU": 1.0}, {"CPU": 3.0, "GPU": 1.0}], "STRICT_PACK", False),
        ([{"CPU": 1.0}, {"CPU": 2.0}], "STRICT_PACK", True),
        ([{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 1.0}], "STRICT_SPREAD", False),  # two nodes only
        ([{}, {"CPU": 1.0}, {"CPU": 1.0}], "STRICT_SPREAD", True),  # Ray drops an empty bundle
    ],
)
def test_a_trial_fits_when_some_placement_of_its_bundles_exists(bundles, strategy, fits) -> None:
    two_gpu_nodes = ClusterCapacity(nodes=[GPU_NODE, GPU_NODE])
    assert (unschedulable_reason(bundles, strategy, two_gpu_nodes) is None) is fits


DATA_PARALLEL = """\
    trainable: digits_mlp
    metric: val_loss
    mode: min
    max_iterations: 2
    resources: RESOURCES
    """


def test_a_torch_trainable_with_workers_reserves_nothing_for_its_own_process_by_default(
    write_experiment,
) -> None:
    # It trains on its workers: on 2 CPUs, two one-CPU workers are the whole trial.
    path = write_experiment(DATA_PARALLEL.replace("RESOURCES", "{workers: {count: 2}}"))
    experiment = load_experiment(path)
    assert experiment.settings.resources.bundles() == [{}, {"CPU": 1.0}, {"CPU": 1.0}]
    assert experiment.raw["resources"] == {"cpu": 0, "workers": {"count": 2}}  # saved as run
    check_trials_fit(experiment, ClusterCapacity(nodes=[{"CPU": 2.0}]))
    given = write_experiment(DATA_PARALLEL.replace("RESOURCES", "{cpu: 1, workers: {count: 2}}"), "b.yaml")
    assert load_experiment(given).settings.resources.cpu == 1
    # A trainable that is not a TorchTrainable starts workers of its own: its bundle stays.
    own = write_experiment(
        DATA_PARALLEL.replace("digits_mlp", "tests.cluster.placement:starts_workers")
        .replace("val_loss", "score")
        .replace("RESOURCES", "{workers: {count: 2}}"),
        "c.yaml",
    )
    assert load_experiment(own).settings.resources.bundles()[0] == {"CPU": 1.0}


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (
            "{cpu: 0, workers: {count: 2, gpu: 0.5}}",
            "resources.workers.gpu: 0.5 GPU per worker would put several of the trial's workers on one "
            "GPU, which NCCL refuses ('Duplicate GPU detected', Ray issue 48012); give each worker a "
            "whole GPU (gpu: 1), or use one worker",
        ),
        (
            "{cpu: 0, workers: {count: 2, gpu: 2}}",
            "resources.workers.gpu: a data-parallel worker trains on one GPU, got 2.0; for more GPUs "
            "per trial ask for more workers (count: 4, gpu: 1)",
        ),
        (
            "{cpu: 1, gpu: 1, workers: {count: 2, gpu: 1}}",
            "resources.gpu: digits_mlp trains on its workers (resources.workers), not in the trial's "
            "own process; give the GPUs to the workers (resources.workers.gpu) and set resources.gpu: 0",
        ),
        ("{cpu: 0}", "resources: Value error, a trial must reserve something: cpu: 0 needs a gpu or workers"),
    ],
)
def test_data_parallel_workers_get_one_whole_gpu_each_and_the_trial_reserves_something(
    write_experiment, resources, expected
) -> None:
    path = write_experiment(DATA_PARALLEL.replace("RESOURCES", resources))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert [str(p).split(", got {")[0] for p in caught.value.problems] == [expected]
    # One worker may share a GPU with other trials (nothing else of its trial is on it).
    load_experiment(write_experiment(DATA_PARALLEL.replace("RESOURCES", "{workers: {count: 1, gpu: 0.5}}")))


def test_autoscaling_clusters_are_judged_by_the_node_types_they_can_add() -> None:
    cpu_head = ClusterCapacity(nodes=[{}], node_types={"gpu": GPU_NODE}, autoscaling=True)  # head: CPU 0
    assert unschedulable_reason([{"CPU": 1.0, "GPU": 0.5}], "PACK", cpu_head) is None
    assert unschedulable_reason([{"CPU": 1.0, "GPU": 4.0}], "PACK", cpu_head) == (
        "a trial needs 1 CPU, 4 GPU but no node has that much (nodes: nothing; "
        "node types the autoscaler can add: gpu: 4 CPU, 1 GPU)"
    )
    # An autoscaler whose node types are unknown (Ray's autoscaler v1) decides alone.
    unknown = ClusterCapacity(nodes=[{}], autoscaling=True)
    assert unschedulable_reason([{"CPU": 1.0, "GPU": 8.0}], "PACK", unknown) is None


def test_the_embedded_ray_rejects_a_gpu_trial_on_a_machine_without_gpus(write_experiment) -> None:
    path = write_experiment(
        """\
        trainable: tests.support:quadratic
        metric: score
        mode: max
        max_iterations: 2
        space: {lr: 0.01}
        resources: {cpu: 1, gpu: 0.5}
        """
    )
    with pytest.raises(ConfigError) as caught:
        check_trials_fit(load_experiment(path), ClusterCapacity(nodes=[{"CPU": 2.0}]))
    assert str(caught.value) == (
        f"{path}: invalid experiment\n  - resources: a trial needs 1 CPU, 0.5 GPU but no node has that much "
        "(nodes: 2 CPU); ask for less, or run on a cluster with such a node"
    )


@pytest.mark.slow
def test_workers_started_by_a_trainable_run_in_the_trials_placement_group(
    ray_local, write_experiment, tmp_path
) -> None:
    path = write_experiment(
        """\
        trainable: tests.cluster.placement:starts_workers
        metric: score
        mode: max
        max_iterations: 1
        space: {workers: 1}
        resources: {cpu: 1, workers: {count: 1, cpu: 1}}
        """
    )
    outcome = run_experiment(load_experiment(path), storage=str(tmp_path / "r"))
    assert outcome.num_errors == 0
    from tunefleet.analysis import load_results

    trials = load_results(outcome.path).trials()
    assert trials["workers_in_trial_group"].tolist() == [1]
