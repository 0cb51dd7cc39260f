"""The contract for a user's own trainable: every shape Ray Tune accepts runs a sweep to its end.

Shapes (tests/user_trainables.py): a function with and without checkpoints, a class with only
``setup`` and ``step``, a class with checkpoints with and without ``reset_config``, a class whose
``reset_config`` declines (returns False), and
``tune.with_parameters`` around a function and around a class. Each runs one small sweep (Hyperopt
+ ASHA, 2 trials at a time on the 2-CPU session Ray, so finished trials' processes are offered to
new ones), shared by the assertions below. Every wait is bounded by the module's timeout.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import rendered, tunefleet
from tunefleet.analysis import load_results
from tunefleet.config import load_experiment
from tunefleet.errors import ConfigError
from tunefleet.run import run_experiment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: Shape (an attribute of tests.user_trainables) -> whether its trials may share processes.
SHAPES = {
    "function_trainable": True,
    "checkpointing_function": True,
    "MinimalTrainable": False,
    "PlainTrainable": False,
    "ResettingTrainable": True,
    "RefusingTrainable": False,
    "function_with_data": True,
    "class_with_data": False,
}
NUM_TRIALS = 3

EXPERIMENT = """\
trainable: tests.user_trainables:{shape}
metric: score
mode: max
num_samples: {num_trials}
max_iterations: 3
search: {{algorithm: hyperopt, seed: 0, max_concurrent: 2, n_initial_points: 2}}
space: {{x: {{uniform: [0, 1]}}}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
resources: {{cpu: 1}}
storage: {storage}
"""


@pytest.fixture(scope="module", params=list(SHAPES))
def sweep(request: pytest.FixtureRequest, ray_local: None, tmp_path_factory: pytest.TempPathFactory):
    """``(shape, outcome, trials, history)`` of one finished sweep of that shape."""
    shape = request.param
    directory = tmp_path_factory.mktemp(shape)
    path = directory / "exp.yaml"
    path.write_text(EXPERIMENT.format(shape=shape, num_trials=NUM_TRIALS, storage=directory / "results"))
    outcome = run_experiment(load_experiment(path))
    results = load_results(outcome.path)
    return shape, outcome, results.trials(), results.history(bookkeeping=True)


def _output(directory: Path, trial_id: str, stream: str) -> list[str]:
    (trial_dir,) = directory.glob(f"*_{trial_id}")
    return (trial_dir / stream).read_text().splitlines()


def test_every_trial_of_every_shape_runs_to_its_end(sweep: Any) -> None:
    _, outcome, trials, _ = sweep
    assert (outcome.num_trials, outcome.num_errors, outcome.num_unfinished) == (NUM_TRIALS, 0, 0)
    assert set(trials["status"]) == {"TERMINATED"}
    assert trials["value"].notna().all()


def test_trials_share_processes_only_when_the_trainable_resets_itself(sweep: Any) -> None:
    shape, _, trials, history = sweep
    processes = history.groupby("trial_id")["pid"].unique()
    assert all(len(pids) == 1 for pids in processes), processes
    distinct = len({pids[0] for pids in processes})
    if SHAPES[shape]:
        assert distinct < len(trials), f"{shape}: every trial started its own process"
    else:
        # No reuse for a class that cannot reset, and a declined reset gets a fresh process.
        assert distinct == len(trials), f"{shape}: trials shared {processes.to_dict()}"


def test_every_trial_keeps_what_it_printed_in_its_own_directory(sweep: Any) -> None:
    _, outcome, trials, history = sweep
    iterations = history.groupby("trial_id")["training_iteration"].max()
    for trial_id, x in trials.set_index("trial_id")["config/x"].items():
        ran = int(iterations[trial_id])
        assert _output(outcome.path, trial_id, "stdout") == [
            f"x={x!r} iteration {i}" for i in range(1, ran + 1)
        ]
        assert f"starting x={x!r}" in _output(outcome.path, trial_id, "stderr")


def test_a_trainable_that_never_reports_the_metric_ends_the_sweep_with_one_clear_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            trainable: tests.user_trainables:reports_accuracy
            metric: score
            mode: max
            num_samples: 2
            max_iterations: 3
            search: {{algorithm: hyperopt, seed: 0, max_concurrent: 2, n_initial_points: 2}}
            space: {{x: {{uniform: [0, 1]}}}}
            scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
            storage: {tmp_path / "results"}
            """
        )
    )
    run = tunefleet("run", str(path), timeout=240)
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == 2, run.stderr[-3000:]
    assert errors == [
        f"error: {path}: metric: tests.user_trainables:reports_accuracy reported accuracy but not "
        f"'score'; set metric: to one of those, or report 'score' from the trainable (the sweep "
        f"stopped at the first such result: {tmp_path / 'results' / 'exp'})"
    ]
    assert "Traceback" not in run.stderr

    # What `tunefleet analyze` reads and prints: finished, nothing to resume, the trial's error.
    summary = load_results(tmp_path / "results" / "exp").summary()
    assert summary["num_unfinished"] == 0 and summary["resume_command"] is None
    (failed,) = summary["errors"]
    assert failed["error"] == "the trial reported accuracy but not 'score', the metric this sweep tunes"
    assert set(summary["status_counts"]) <= {"ERROR", "TERMINATED"}
    assert "resume" not in rendered(summary, tracebacks=True).lower()


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            "checkpoint: {frequency: 2}",
            "checkpoint.frequency: tests.user_trainables:MinimalTrainable has no "
            "save_checkpoint/load_checkpoint, so it cannot be checkpointed; expected 0",
        ),
        (
            "scheduler: {type: pbt, perturbation_interval: 2, mutations: {x: {uniform: [0, 1]}}}",
            "scheduler.type: pbt moves trials through checkpoints; tests.user_trainables:MinimalTrainable "
            "has no save_checkpoint/load_checkpoint, so it cannot be checkpointed",
        ),
    ],
)
def test_a_class_without_save_checkpoint_is_refused_what_needs_checkpoints(
    tmp_path: Path, setting: str, problem: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "trainable: tests.user_trainables:MinimalTrainable\nmetric: score\nmode: max\nmax_iterations: 4\n"
        f"space: {{x: {{uniform: [0, 1]}}}}\n{setting}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert [str(p) for p in caught.value.problems] == [problem]
