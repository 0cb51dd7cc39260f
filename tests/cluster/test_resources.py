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
    ],
)
def test_a_trial_fits_when_some_placement_of_its_bundles_exists(bundles, strategy, fits) -> None:
    two_gpu_nodes = ClusterCapacity(nodes=[GPU_NODE, GPU_NODE])
    assert (unschedulable_reason(bundles, strategy, two_gpu_nodes) is None) is fits


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
