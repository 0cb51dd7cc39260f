"""Every benchmark script stays runnable: its ``--smoke`` version runs and writes sane figures.

Run with ``pytest -m benchmarks`` (CI runs it before the suite; plain ``pytest`` leaves it out).
Timings are never asserted (the machine may be busy); what is checked is that each script
completes, records the machine and produces the figures BENCHMARKS.md quotes. The scripts that
start (and time) their own Ray run in fresh processes, all started at once when this module
begins: they spend most of their time starting processes, not computing, so together they take
about as long as the slowest. Meanwhile the GPU and search benchmarks, whose sweeps go through
tunefleet's runner on whatever Ray is up, run here on the session's Ray (CPU only: ``--smoke``
asks for no GPU). The shipped best-configuration experiments must stay valid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu_throughput, multi_objective, search_efficiency, streamed_data
from tests.processes import kill_session
from tests.support import REPO
from tunefleet.config import load_experiment

pytestmark = [pytest.mark.slow, pytest.mark.benchmarks]

#: The benchmarks that start their own Ray, each run as ``python -m benchmarks.NAME --smoke``.
OWN_RAY = ("overhead", "trainable_efficiency", "searcher_fidelity", "scale", "ddp_scaling", "gpu_workloads")


class Smokes:
    """The ``OWN_RAY`` smoke runs, started together; :meth:`figures` waits for one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.ray_dirs: list[Path] = []
        for script in OWN_RAY:
            ray_tmp = Path(tempfile.mkdtemp(prefix=f"tf-{script[:5]}-", dir="/tmp"))  # short socket paths
            self.ray_dirs.append(ray_tmp)
            self.processes[script] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    f"benchmarks.{script}",
                    "--smoke",
                    "--output",
                    str(self.output(script)),
                ],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": "", "RAY_TMPDIR": str(ray_tmp)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # it, its Ray and Ray's workers: one session to clean up
            )

    def output(self, script: str) -> Path:
        return self.directory / f"{script}.json"

    def document(self, script: str) -> dict[str, Any]:
        """The script's checked JSON once it ended (successfully)."""
        process = self.processes[script]
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out[-6000:]
        return checked(json.loads(self.output(script).read_text()))

    def figures(self, script: str) -> dict[str, Any]:
        """The script's checked JSON ``figures`` once it ended (successfully)."""
        return self.document(script)["figures"]

    def stop(self) -> None:
        """Kill whatever of any run is still alive (a failed or timed-out one); remove Ray's files."""
        for process in self.processes.values():
            kill_session(process.pid)
            process.wait()
        for directory in self.ray_dirs:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def smokes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smokes]:
    runs = Smokes(tmp_path_factory.mktemp("smokes"))
    try:
        yield runs
    finally:
        runs.stop()


def checked(document: dict[str, Any]) -> dict[str, Any]:
    """What every benchmark's JSON has: the smoke flag, the machine, the load, non-empty tables."""
    assert document["smoke"] is True
    assert document["machine"]["cpu_count"] >= 1 and "ray" in document["machine"]["versions"]
    assert isinstance(document["machine"]["gpus"], list)
    assert len(document["load_average_start"]) == 3 and len(document["load_average_end"]) == 3
    assert document["tables"] and all(table["rows"] for table in document["tables"])
    return document


def test_gpu_throughput_smoke_measures_both_models_without_cuda(ray_local: None, tmp_path: Path) -> None:
    document = checked(gpu_throughput.main(["--smoke", "--output", str(tmp_path / "gpu.json")]))

    assert document == json.loads((tmp_path / "gpu.json").read_text())
    rows = document["rows"]
    assert [(r["model"], r["gpu"]) for r in rows] == [("mnist1d_cnn", 0.0), ("large_cnn", 0.0)]
    for row in rows:
        assert row["trials"] == 2
        assert row["trials_per_hour"] > 0 and row["samples_per_s"] > 0
        assert row["ratio_vs_gpu1"] is None  # no gpu: 1 row to compare with
        assert 0 <= row["test_accuracy_median"] <= 1


def test_search_efficiency_smoke_runs_both_parts_and_writes_a_valid_experiment(
    ray_local: None, tmp_path: Path
) -> None:
    document = checked(search_efficiency.main(["--smoke", "--output", str(tmp_path / "search.json")]))

    sweeps = document["efficiency"]["sweeps"]
    assert [s["method"] for s in sweeps] == ["fifo+random", "asha+hyperopt"]
    assert sweeps[0]["trial_iterations"] == 2 * 2  # FIFO: every trial runs the whole budget
    assert all(0 <= s["best_test_accuracy"] <= 1 for s in sweeps)
    summary = document["efficiency"]["summary"]["fifo+random"]["best_test_accuracy"]
    assert summary["n"] == summary["of"] == 1
    mlp = document["tune"]["models"]["mnist1d_mlp"]
    assert len(mlp["best"]["test_accuracy"]) == len(mlp["defaults"]["test_accuracy"]) == 2
    experiment = load_experiment(tmp_path / "mnist1d_mlp_best.yaml")
    assert experiment.num_trials == 2  # a fixed configuration, one trial per seed
    # The CNN's winner is the best trial of the efficiency sweeps (no sweep of its own).
    search, winner = search_efficiency.efficiency_winner(sweeps, max_iterations=2)
    assert search["best_val_accuracy"] == max(s["best_val_accuracy"] for s in sweeps)
    assert winner.keys() == search_efficiency.CNN_SPACE.keys()


def test_multi_objective_smoke_runs_moasha_and_fifo_at_the_same_budget(
    ray_local: None, tmp_path: Path
) -> None:
    document = checked(multi_objective.main(["--smoke", "--output", str(tmp_path / "mo.json")]))

    budget = document["settings"]["budget_trial_iterations"]
    assert set(document["figures"]) == {"fifo", "moasha"}
    for arm in document["figures"].values():
        (run,) = arm["runs"]
        assert 0 < run["hypervolume"] <= 1 and run["front_size"] >= 1
        # Trials in flight when the budget ran out still report (2 at once here).
        assert budget <= run["trial_iterations"] <= budget + 2
        assert run["trial_seconds"] > 0 and run["latency_ms_median"] > 0
    assert document["figures"]["fifo"]["runs"][0]["trials"] == 2


def test_streamed_data_smoke_pairs_each_round_for_both_models(tmp_path: Path) -> None:
    document = checked(streamed_data.main(["--smoke", "--output", str(tmp_path / "streamed.json")]))
    figures = document["figures"]
    assert set(figures) == {"resnet", "linear"}
    for model in figures.values():
        assert set(model) == {"wall", "cpu", "train"}
        for measured in model.values():
            assert len(measured["raw"]["tunefleet"]) == len(measured["raw"]["bare"]) == 2
            assert measured["ratio"]["median"] > 0


def test_overhead_smoke_compares_tunefleet_with_ray_tune(smokes: Smokes) -> None:
    figures = smokes.figures("overhead")
    assert set(figures["runs"]) == {"tunefleet-class", "ray-tuned-class"}
    assert figures["ratios"]["tunefleet-class / ray-tuned-class"] > 0


def test_trainable_efficiency_smoke_pairs_each_round(smokes: Smokes) -> None:
    figures = smokes.figures("trainable_efficiency")
    assert set(figures) == {"wall", "cpu", "train"}
    for measured in figures.values():
        assert len(measured["raw"]["tunefleet"]) == len(measured["raw"]["bare"]) == 2
        assert measured["ratio"]["median"] > 0


def test_ddp_scaling_smoke_pairs_two_workers_with_one_worker_and_one_process(smokes: Smokes) -> None:
    figures = smokes.figures("ddp_scaling")
    assert set(figures) == {"resnet", "mlp"}
    for model in figures.values():
        assert set(model) == {"train", "wall", "cpu"}
        for measured in model.values():
            assert {arm: len(rates) for arm, rates in measured["raw"].items()} == {
                "1 process": 2,
                "1 worker": 2,
                "2 workers": 2,
            }
            assert all(ratio["median"] > 0 for ratio in measured["ratios"].values())


def test_gpu_workloads_smoke_runs_every_part_on_the_cpu(smokes: Smokes) -> None:
    document = smokes.document("gpu_workloads")
    loop = document["figures"]["loop"]
    assert len(loop["ratios"]) == 2 and loop["ratio_median"] > 0
    assert [row["gpu"] for row in document["sweeps"]] == [0.0]
    assert [row["run"] for row in document["first_result"]] == ["cold", "warm"]
    assert all(row["first_result_s"] >= row["ray_up_s"] > 0 for row in document["first_result"])
    assert document["figures"]["ddp"]["world_size"] == 1 and document["figures"]["ddp"]["errors"] == 0
    assert not any("failed" in note for note in document["notes"])


def test_searcher_fidelity_smoke_never_beats_the_known_optimum(smokes: Smokes) -> None:
    from benchmarks.objectives import OBJECTIVES

    figures = smokes.figures("searcher_fidelity")
    for name, objective in OBJECTIVES.items():
        for method in ("tunefleet hyperopt", "hyperopt fmin TPE", "random (fmin rand)"):
            best = figures[name][method]["best_after"]
            assert best["5"]["median"] >= best["10"]["median"] >= objective.minimum - 1e-5


def test_scale_smoke_completes_and_analyzes_every_trial(smokes: Smokes) -> None:
    figures = smokes.figures("scale")
    assert figures["returncode"] == 0 and not figures["timed_out"]
    assert figures["trials_completed"] == figures["trial_directories"] == 2
    assert figures["peak_driver_rss_mib"] > 0 and figures["experiment_dir_files"] > 2


def test_objectives_take_their_known_minimum_at_the_known_minimizer() -> None:
    from benchmarks.objectives import OBJECTIVES

    branin, hartmann6 = OBJECTIVES["branin"], OBJECTIVES["hartmann6"]
    assert branin({"x1": 3.141593, "x2": 2.275}) == pytest.approx(branin.minimum, abs=1e-5)
    minimizer = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
    assert hartmann6(dict(zip(hartmann6.names, minimizer, strict=True))) == pytest.approx(
        hartmann6.minimum, abs=1e-4
    )


@pytest.mark.parametrize("name", ["mnist1d_cnn_best", "mnist1d_mlp_best"])
def test_shipped_best_configurations_are_valid_fixed_experiments(name: str) -> None:
    experiment = load_experiment(REPO / "experiments" / f"{name}.yaml")
    assert experiment.search.algorithm == "grid"
    assert experiment.num_trials == 5  # the seeds the comment's accuracy was measured with


def test_parallel_search_smoke_drives_every_searcher_at_each_concurrency(tmp_path: Path) -> None:
    from benchmarks import parallel_search
    from benchmarks.objectives import OBJECTIVES

    figures = checked(parallel_search.main(["--smoke", "--output", str(tmp_path / "single.json")]))["figures"]
    for name, objective in OBJECTIVES.items():
        assert set(figures[name]) == {f"{m} c={c}" for m in parallel_search.METHODS for c in (1, 4)}
        for entry in figures[name].values():
            best = entry["best_after"]
            assert best["5"]["median"] >= best["10"]["median"] >= objective.minimum - 1e-5
    zdt = checked(parallel_search.main(["--smoke", "--zdt", "--output", str(tmp_path / "zdt.json")]))[
        "figures"
    ]
    for method in parallel_search.ZDT_METHODS:
        after = zdt[f"{method} c=4"]["hypervolume_after"]
        assert 0 <= after["5"]["median"] <= after["10"]["median"] <= zdt["true_front_hypervolume"]
