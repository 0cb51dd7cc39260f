"""Multi-objective sweeps: the Pareto front, the hypervolume, in analyze, report and compare.

Synthetic experiment directories (no Ray): the front and the hypervolumes are worked out by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from tests.analysis.helpers import ScriptedTrial, copy_without, write_sweep
from tunefleet import cli
from tunefleet.analysis import load_results
from tunefleet.analysis.compare import compare
from tunefleet.analysis.pareto import front_staircase, hypervolume_history, pareto_points
from tunefleet.analysis.report import SECTIONS
from tunefleet.analysis.results import ExperimentResults
from tunefleet.errors import TunefleetError
from tunefleet.objectives import objectives_of

OBJECTIVES = {"metric": ["val_accuracy", "params"], "mode": ["max", "min"]}

# val_accuracy (max) against params (min), each trial's last result. t1, t2 and t0 form the front
# (no trial has more accuracy with fewer parameters); t3 and t5 are the next front, t4 the last.
# t0 reports params at its first result only; t1 peaks at 0.95 before ending at 0.90.
# Trials end at wall time 50, 20, 60, 10, 30, 40 s: by time, t3 comes first.
TRIALS = [
    ScriptedTrial(
        "t0", {"width": 8}, [{"val_accuracy": 0.5, "params": 100}, {"val_accuracy": 0.8}], start=30
    ),
    ScriptedTrial(
        "t1",
        {"width": 64},
        [{"val_accuracy": a, "params": 400} for a in (0.5, 0.95, 0.90)],
        start=5,
        seconds=5,
    ),
    ScriptedTrial("t2", {"width": 16}, [{"val_accuracy": 0.85, "params": 200}], start=50),
    ScriptedTrial("t3", {"width": 24}, [{"val_accuracy": 0.70, "params": 300}], start=0),
    ScriptedTrial("t4", {"width": 80}, [{"val_accuracy": 0.60, "params": 500}], start=20),
    ScriptedTrial("t5", {"width": 72}, [{"val_accuracy": 0.88, "params": 450}], start=30),
    ScriptedTrial("t6", {"width": 128}, [], start=0, status="ERROR"),
]
FRONT = ["t1", "t2", "t0"]  # best val_accuracy first
# Against the worst value of each objective (val_accuracy 0.60, params 500), slicing by accuracy:
# t1 adds (0.90 - 0.60) * (500 - 400), t2 (0.85 - 0.60) * (400 - 200), t0 (0.80 - 0.60) * (200 - 100).
HYPERVOLUME = 0.30 * 100 + 0.25 * 200 + 0.20 * 100


@pytest.fixture(scope="module")
def bi_objective(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = {"name": "acc-vs-params", **OBJECTIVES, "max_iterations": 3}
    return write_sweep(tmp_path_factory.mktemp("pareto") / "acc-vs-params", TRIALS, settings)


def _analyze(*args: str) -> Any:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli.main, ["analyze", *args], catch_exceptions=False)


# -- the front ----------------------------------------------------------------------------------


def test_the_objectives_come_from_the_saved_experiment_file(bi_objective: Path) -> None:
    results = load_results(bi_objective)

    assert results.objectives == objectives_of(["val_accuracy", "params"], ["max", "min"])
    assert results.multi_objective
    assert (results.metric, results.mode) == ("val_accuracy", "max")  # the first objective


def test_the_front_is_the_trials_no_other_trial_beats_on_every_objective(bi_objective: Path) -> None:
    summary = load_results(bi_objective).summary()

    assert [t["trial_id"] for t in summary["pareto_front"]] == FRONT
    assert summary["pareto_front"][0] == {
        "trial_id": "t1",
        "values": {"val_accuracy": 0.90, "params": 400},
        "config": {"width": 64},
        "training_iteration": 3,
        "status": "TERMINATED",
    }
    assert summary["objectives"] == [
        {"metric": "val_accuracy", "mode": "max"},
        {"metric": "params", "mode": "min"},
    ]
    json.dumps(summary, allow_nan=False)


def test_an_objective_missing_at_the_ranking_point_is_its_last_reported_value(bi_objective: Path) -> None:
    # t0 reported params with its first result only: its last result still has 100 parameters.
    front = load_results(bi_objective).summary()["pareto_front"]

    assert front[2]["values"] == {"val_accuracy": 0.80, "params": 100}


def test_scope_all_reads_every_objective_at_the_result_with_the_best_first_objective(
    bi_objective: Path,
) -> None:
    front = load_results(bi_objective, scope="all").summary()["pareto_front"]

    assert front[0]["trial_id"] == "t1"
    assert front[0]["values"] == {"val_accuracy": 0.95, "params": 400}
    assert front[0]["training_iteration"] == 2


def test_trials_are_ordered_by_front_then_by_the_first_objective(bi_objective: Path) -> None:
    trials = load_results(bi_objective).trials()

    assert list(trials["trial_id"]) == ["t1", "t2", "t0", "t5", "t3", "t4", "t6"]
    assert list(trials["front"].astype(object).where(trials["front"].notna(), None)) == [
        1,
        1,
        1,
        2,
        2,
        3,
        None,
    ]
    assert list(trials["pareto"]) == [True, True, True, False, False, False, False]
    assert list(trials.columns[:6]) == ["trial_id", "status", "diverged", "value", "pareto", "front"]


def test_pareto_points_have_every_objective_and_front_in_trial_order(bi_objective: Path) -> None:
    points = pareto_points(load_results(bi_objective))

    assert list(points["trial_id"]) == [t.trial_id for t in TRIALS]
    assert list(points["params"][:6]) == [100, 400, 200, 300, 500, 450]
    assert list(points["pareto"]) == [True, True, True, False, False, False, False]
    assert np.isnan(points["val_accuracy"].iloc[6])


# -- the hypervolume ----------------------------------------------------------------------------


def test_the_hypervolume_is_measured_from_the_worst_value_of_each_objective(bi_objective: Path) -> None:
    hypervolume = load_results(bi_objective).summary()["hypervolume"]

    assert hypervolume["reference"] == {"val_accuracy": 0.60, "params": 500}
    assert hypervolume["value"] == pytest.approx(HYPERVOLUME)


def test_the_hypervolume_over_time_grows_with_each_finished_trial(bi_objective: Path) -> None:
    history = hypervolume_history(load_results(bi_objective))

    # By trial index: t0 alone dominates 0.20 * 400; t1 adds 0.10 * 100; t2 completes the front.
    assert list(history["hypervolume"]) == pytest.approx([80, 90, 100, 100, 100, 100, 100])
    # By wall time: t3 (10 s) 0.10 * 200; t1 (20 s) 0.30 * 100 + 0.10 * 100; t4, t5 add nothing;
    # t0 (50 s) 0.30 * 100 + 0.20 * 300; t2 (60 s). t6 never reported: it never counts.
    by_time = history.dropna(subset=["end_wall_time_s"]).sort_values("end_wall_time_s")
    assert list(by_time["trial_id"]) == ["t3", "t1", "t4", "t5", "t0", "t2"]
    assert list(by_time["hypervolume_by_time"]) == pytest.approx([20, 40, 40, 40, 90, 100])
    for column in ("hypervolume", "hypervolume_by_time"):
        ordered = history[column] if column == "hypervolume" else by_time[column]
        assert (np.diff(ordered.to_numpy()) >= 0).all(), column


def test_the_front_is_drawn_as_the_staircase_bounding_what_it_dominates(bi_objective: Path) -> None:
    results = load_results(bi_objective)
    points = pareto_points(results)

    stairs = front_staircase(points, results.objectives, (0.60, 500))

    assert list(stairs.columns) == ["val_accuracy", "params"]
    assert stairs.to_numpy() == pytest.approx(
        np.array([(0.9, 500), (0.9, 400), (0.85, 400), (0.85, 200), (0.8, 200), (0.8, 100), (0.6, 100)])
    )


# -- analyze ------------------------------------------------------------------------------------


def test_analyze_marks_the_front_and_shows_every_objective(bi_objective: Path) -> None:
    run = _analyze(str(bi_objective), "--top", "7")

    assert run.exit_code == 0, run.output
    lines = run.output.splitlines()
    assert "acc-vs-params: val_accuracy (max), params (min)" in lines[0]
    header = next(line for line in lines if "trial_id" in line).split()
    assert header[:7] == ["#", "trial_id", "front", "val_accuracy", "params", "iter", "time"]
    rows = [line.split() for line in lines if line.split()[:1] and line.split()[0].isdigit()]
    assert [(row[1], row[2]) for row in rows] == [
        ("t1", "✓"),
        ("t2", "✓"),
        ("t0", "✓"),
        ("t5", "2"),
        ("t3", "2"),
        ("t4", "3"),
    ]
    assert "Pareto front: 3 trials" in run.output
    assert "hypervolume 100 against val_accuracy=0.6, params=500" in run.output


def test_analyze_json_has_the_front_and_the_hypervolume(bi_objective: Path) -> None:
    run = _analyze(str(bi_objective), "--format", "json")

    summary = json.loads(run.output)
    assert [t["trial_id"] for t in summary["pareto_front"]] == FRONT
    assert summary["hypervolume"]["value"] == pytest.approx(HYPERVOLUME)
    assert [t["front"] for t in summary["top"]] == [1, 1, 1, 2, 2]


@pytest.mark.parametrize(
    "options",
    [
        ["--metric", "val_accuracy,params", "--mode", "max,min"],
        ["--metric", "val_accuracy", "--metric", "params", "--mode", "max", "--mode", "min"],
    ],
)
def test_objectives_can_be_given_as_comma_separated_or_repeated_options(
    bi_objective: Path, tmp_path: Path, options: list[str]
) -> None:
    plain = copy_without(bi_objective, tmp_path / "plain", "tunefleet.yaml")

    run = _analyze(str(plain), "--format", "json", *options)

    assert run.exit_code == 0, run.output
    assert [t["trial_id"] for t in json.loads(run.output)["pareto_front"]] == FRONT


def test_metrics_and_modes_of_different_lengths_exit_2(bi_objective: Path) -> None:
    run = _analyze(str(bi_objective), "--metric", "val_accuracy,params", "--mode", "max")

    assert run.exit_code == 2
    assert "got 2 metric(s) and 1 mode(s)" in run.output


def test_one_objective_of_the_sweep_ranks_it_as_a_single_objective_sweep(bi_objective: Path) -> None:
    results = load_results(bi_objective, metric="params")  # its mode from the experiment file

    summary = results.summary()

    assert (results.mode, results.multi_objective) == ("min", False)
    assert summary["best"]["trial_id"] == "t0"
    assert not {"objectives", "pareto_front", "hypervolume"} & set(summary)
    assert "front" not in results.trials()


def test_a_single_objective_summary_has_no_multi_objective_keys(tmp_path: Path) -> None:
    single = write_sweep(tmp_path / "single", TRIALS, {"metric": "val_accuracy", "mode": "max"})

    summary = load_results(single).summary()

    assert set(summary) == {
        *("experiment", "metric", "mode", "scope", "num_trials", "num_errors", "num_diverged"),
        *("num_unfinished", "resume_command", "status_counts", "best", "top", "test_metrics", "errors"),
        "selection",  # None: no selection phase (see tests/test_selection.py)
    }
    assert summary["selection"] is None
    assert set(summary["best"]) == {
        *("trial_id", "config", "value", "metrics", "training_iteration", "time_total_s"),
        *("status", "diverged"),
    }
    assert "pareto" not in load_results(single).trials()


# -- report -------------------------------------------------------------------------------------


def _pareto_section(results: ExperimentResults) -> str:
    """The report's Pareto front section alone (the whole report takes seconds more)."""
    (section,) = [s for s in SECTIONS if s.id == "pareto"]
    return section.build(results, results.summary(top=10))


def test_the_report_has_a_pareto_section_with_the_front_and_the_hypervolume(bi_objective: Path) -> None:
    section = _pareto_section(load_results(bi_objective))

    assert section.count('src="data:image/png;base64,') == 2  # the front, the hypervolume over time
    assert "hypervolume 100" in section
    assert "val_accuracy=0.6 (max), params=500 (min)" in section
    for trial_id in FRONT:
        assert f'<td class="l">{trial_id}</td>' in section
    assert '<td class="l">t5</td>' not in section


def test_a_single_objective_report_says_it_has_no_front(tmp_path: Path) -> None:
    single = write_sweep(tmp_path / "single", TRIALS, {"metric": "val_accuracy", "mode": "max"})

    section = _pareto_section(load_results(single))

    assert "One objective (val_accuracy)" in section
    assert "<img" not in section


# -- compare ------------------------------------------------------------------------------------

# A worse sweep: t3, t4, t5 again and a trial worse than all, u1 (0.55, 600). Its front: t5, t3.
OTHER = [*TRIALS[3:6], ScriptedTrial("u1", {"width": 96}, [{"val_accuracy": 0.55, "params": 600}], start=0)]


@pytest.fixture(scope="module")
def other_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = {"name": "worse", **OBJECTIVES}
    return write_sweep(tmp_path_factory.mktemp("pareto-other") / "worse", OTHER, settings)


def test_compare_measures_every_sweep_from_the_worst_value_of_each_objective_over_all(
    bi_objective: Path, other_sweep: Path
) -> None:
    sweeps = [load_results(bi_objective), load_results(other_sweep)]

    table = compare(sweeps)

    # Reference (0.55, 600), from u1 of the second sweep.
    # First: t1 0.35 * 200 + t2 0.30 * 200 + t0 0.25 * 100; second: t5 0.33 * 150 + t3 0.15 * 150.
    assert list(table["hypervolume"]) == pytest.approx(
        [0.35 * 200 + 0.30 * 200 + 0.25 * 100, 0.33 * 150 + 0.15 * 150]
    )
    assert list(table["hypervolume_reference"]) == [{"val_accuracy": 0.55, "params": 600}] * 2
    assert list(table["best"]) == pytest.approx([0.90, 0.88])  # the first objective, as before


def test_compare_takes_a_reference_point(bi_objective: Path, other_sweep: Path) -> None:
    sweeps = [load_results(bi_objective), load_results(other_sweep)]

    table = compare(sweeps, reference=(0.5, 1000))

    assert table["hypervolume"].iloc[1] == pytest.approx(0.38 * 550 + 0.20 * 150)
    with pytest.raises(TunefleetError, match="one value per objective"):
        compare(sweeps, reference=(0.5,))


def test_compare_prints_and_writes_each_sweeps_hypervolume(
    bi_objective: Path, other_sweep: Path, tmp_path: Path
) -> None:
    page = tmp_path / "compare.html"

    run = CliRunner().invoke(
        cli.main, ["compare", str(bi_objective), str(other_sweep), "-o", str(page)], catch_exceptions=False
    )

    assert run.exit_code == 0, run.output
    assert "hypervolume" in run.output
    assert "Hypervolume against val_accuracy=0.55 (max), params=600 (min)" in run.output
    html = page.read_text()
    assert "<th>hypervolume</th>" in html
    assert "val_accuracy=0.55 (max), params=600 (min)" in html


def test_compare_refuses_sweeps_with_different_objectives(bi_objective: Path, tmp_path: Path) -> None:
    single = write_sweep(
        tmp_path / "single", TRIALS, {"name": "single", "metric": "val_accuracy", "mode": "max"}
    )

    run = CliRunner().invoke(cli.main, ["compare", str(bi_objective), str(single)], catch_exceptions=False)

    assert run.exit_code == 2
    assert "different metrics or modes" in run.output
    assert "val_accuracy (max), params (min)" in run.output


def test_a_reference_for_single_objective_sweeps_is_refused(tmp_path: Path) -> None:
    single = write_sweep(tmp_path / "single", TRIALS, {"metric": "val_accuracy", "mode": "max"})

    with pytest.raises(TunefleetError, match="multi-objective"):
        compare([load_results(single)], reference=(0.5, 1000))
    assert "hypervolume" not in compare([load_results(single)])
    assert math.isclose(compare([load_results(single)])["best"].iloc[0], 0.90)
