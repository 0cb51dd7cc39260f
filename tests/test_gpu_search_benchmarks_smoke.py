"""The GPU-throughput and search-efficiency benchmarks stay runnable (``--smoke``: tiny, CPU only).

No timing is asserted: these check that every code path runs through tunefleet's real runner and
writes complete figures. The shipped best-configuration experiments must stay valid.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import gpu_throughput, search_efficiency
from tunefleet.config import load_experiment

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_gpu_throughput_smoke_measures_both_models_without_cuda(ray_local: None, tmp_path: Path) -> None:
    gpu_throughput.main(["--smoke", "--out", str(tmp_path)])

    document = json.loads((tmp_path / "gpu_throughput_smoke.json").read_text())
    rows = document["rows"]
    assert [(r["model"], r["gpu"]) for r in rows] == [("mnist1d_cnn", 0.0), ("large_cnn", 0.0)]
    for row in rows:
        assert row["trials"] == 2
        assert row["trials_per_hour"] > 0 and row["samples_per_s"] > 0
        assert 0 <= row["test_accuracy_median"] <= 1
    assert document["machine"]["cpu_count"] >= 1
    assert "ray" in document["machine"]["versions"]


def test_search_efficiency_smoke_runs_both_parts_and_writes_a_valid_experiment(
    ray_local: None, tmp_path: Path
) -> None:
    search_efficiency.main(["--smoke", "--out", str(tmp_path)])

    document = json.loads((tmp_path / "search_efficiency_smoke.json").read_text())
    sweeps = document["efficiency"]["sweeps"]
    assert [s["method"] for s in sweeps] == ["fifo+random", "asha+hyperopt"]
    assert sweeps[0]["trial_iterations"] == 2 * 2  # FIFO: every trial runs the whole budget
    assert all(0 <= s["best_test_accuracy"] <= 1 for s in sweeps)
    mlp = document["tune"]["models"]["mnist1d_mlp"]
    assert len(mlp["best"]["test_accuracy"]) == len(mlp["defaults"]["test_accuracy"]) == 2
    written = tmp_path / "mnist1d_mlp_best.yaml"
    experiment = load_experiment(written)
    assert experiment.num_trials == 2  # a fixed configuration, one trial per seed


@pytest.mark.parametrize("name", ["mnist1d_cnn_best", "mnist1d_mlp_best"])
def test_shipped_best_configurations_are_valid_fixed_experiments(name: str) -> None:
    experiment = load_experiment(REPO / "experiments" / f"{name}.yaml")
    assert experiment.search.algorithm == "grid"
    assert experiment.num_trials == 5  # the seeds the comment's accuracy was measured with
