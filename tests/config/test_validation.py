"""Experiment files: what is accepted, and the exact complaint for what is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tunefleet.config import load_experiment
from tunefleet.errors import ConfigError

VALID = """\
name: base
trainable: mnist1d_cnn
metric: val_accuracy
mode: max
num_samples: 4
max_iterations: 6
search: {algorithm: hyperopt, seed: 0, max_concurrent: 2}
space:
  lr: {loguniform: [1.0e-4, 1.0e-1]}
  batch_size: {choice: [32, 64, 128]}
  optimizer: {choice: [sgd, momentum, adam]}
  dropout: {uniform: [0.0, 0.5]}
  steps_per_iteration: 20
scheduler: {type: asha, grace_period: 2, reduction_factor: 3}
resources: {cpu: 1, gpu: 0}
checkpoint: {frequency: 2, keep: 2}
"""


def problems_of(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_experiment(path, overrides or [])
    assert info.value.source == str(path)
    return [str(p) for p in info.value.problems]


# The CIFAR-10 experiments need the dataset on disk: tests/trainables/test_cifar10.py validates
# them against a generated archive.
@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "experiments").glob("*.yaml") if not p.name.startswith("cifar10_")),
    ids=lambda p: p.name,
)
def test_every_shipped_experiment_is_valid(path: Path) -> None:
    if path.name == "mnist1d_bohb.yaml":
        pytest.importorskip("hpbandster", reason="needs the bohb extra")
    experiment = load_experiment(path)
    assert experiment.name


def test_valid_file_loads_with_typed_settings(write_experiment) -> None:
    exp = load_experiment(write_experiment(VALID))
    assert exp.name == "base"
    assert exp.settings.num_samples == 4
    assert exp.scheduler.name == "asha"
    assert exp.scheduler_options.grace_period == 2  # type: ignore[attr-defined]
    assert set(exp.space) == {"lr", "batch_size", "optimizer", "dropout", "steps_per_iteration"}
    assert exp.injected_constants() == {"max_iterations": 6}


def test_name_defaults_to_the_file_name(write_experiment) -> None:
    exp = load_experiment(write_experiment(VALID.replace("name: base\n", ""), name="my-sweep.yaml"))
    assert exp.name == "my-sweep"


def test_set_overrides_keys_with_yaml_values(write_experiment) -> None:
    exp = load_experiment(
        write_experiment(VALID),
        ["num_samples=8", "space.lr.loguniform=[1e-3,1e-2]", "scheduler.grace_period=3"],
    )
    assert exp.settings.num_samples == 8
    assert (exp.space["lr"].low, exp.space["lr"].high) == (1e-3, 1e-2)  # type: ignore[attr-defined]
    assert exp.scheduler_options.grace_period == 3  # type: ignore[attr-defined]


def test_exponent_without_a_dot_is_a_float(write_experiment) -> None:
    # PyYAML alone reads 1e-4 as the string "1e-4" (YAML 1.1).
    exp = load_experiment(write_experiment(VALID.replace("[1.0e-4, 1.0e-1]", "[1e-4, 1e-1]")))
    assert exp.space["lr"].low == 1e-4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("num_samples: 4", "num_sample: 4"), "num_sample: unknown key (did you mean 'num_samples'?)"),
        (("num_samples: 4", "num_samples: four"), "num_samples: Input should be a valid integer"),
        (("num_samples: 4", "num_samples: 0"), "num_samples: Input should be greater than or equal to 1"),
        (("mode: max", "mode: maximize"), "mode: Input should be 'min' or 'max'"),
        (("metric: val_accuracy\n", ""), "metric: required key is missing"),
        (("[1.0e-4, 1.0e-1]", "[0, 1.0e-1]"), "space.lr.loguniform: expected 0 < low < high"),
        (("[0.0, 0.5]", "[0.5, 0.1]"), "space.dropout.uniform: expected low < high"),
        (("{uniform: [0.0, 0.5]}", "{unifrom: [0.0, 0.5]}"), "space.dropout: unknown distribution 'unifrom'"),
        (("trainable: mnist1d_cnn", "trainable: mnist_cnn"), "trainable: unknown trainable 'mnist_cnn'"),
        (
            ("trainable: mnist1d_cnn", "trainable: nosuchpkg.mod:Thing"),
            "cannot import module 'nosuchpkg.mod'",
        ),
        (("trainable: mnist1d_cnn", "trainable: json:loads2"), "module 'json' has no attribute 'loads2'"),
        (("metric: val_accuracy", "metric: val_acc"), "metric: mnist1d_cnn never reports 'val_acc'"),
        (
            ("type: asha", "type: ashha"),
            "scheduler.type: unknown scheduler 'ashha'; expected one of: fifo, asha",
        ),
        (("grace_period: 2", "grace_perod: 2"), "scheduler.grace_perod: unknown key"),
        (
            ("grace_period: 2", "grace_period: 7"),
            "scheduler.grace_period: expected at most max_iterations (6)",
        ),
        (
            ("reduction_factor: 3", "reduction_factor: 1"),
            "scheduler.reduction_factor: Input should be greater than 1",
        ),
        (
            ("  dropout:", "  dropuot:"),
            "space.dropuot: mnist1d_cnn has no hyperparameter 'dropuot' (did you mean 'dropout'?)",
        ),
        (
            ("[sgd, momentum, adam]", "[sgd, momentun]"),
            "space.optimizer.choice: 'momentun' is not a valid optimizer",
        ),
        (("[0.0, 0.5]", "[0.0, 1.5]"), "space.dropout.uniform: 1.5 is not a valid dropout"),
        (
            ("{choice: [32, 64, 128]}", "{grid: [32, 64, 128]}"),
            "space.batch_size.grid: grid values cannot be used with search.algorithm hyperopt",
        ),
        (("gpu: 0", "gpu: 1.5"), "resources.gpu: Value error, a trial can use a fraction of one GPU"),
        (("keep: 2", "keep: 0"), "checkpoint.keep: Input should be greater than or equal to 1"),
        (
            ("seed: 0,", "seed: 0, n_initial_point: 3,"),
            "search.n_initial_point: unknown key (did you mean 'n_initial_points'?)",
        ),
        (
            ("algorithm: hyperopt", "algorithm: optuna"),
            "search.algorithm: Input should be 'grid', 'random', 'hyperopt' or 'bohb'",
        ),
    ],
)
def test_bad_value_is_reported_with_its_key_path(write_experiment, edit, expected) -> None:
    old, new = edit
    assert old in VALID
    problems = problems_of(write_experiment(VALID.replace(old, new, 1)))
    assert any(expected in p for p in problems), problems


def test_all_problems_are_reported_at_once(write_experiment) -> None:
    text = VALID.replace("num_samples: 4", "num_samples: -1").replace("[1.0e-4, 1.0e-1]", "[0, 1]")
    problems = problems_of(write_experiment(text))
    assert [p.split(":")[0] for p in problems] == ["num_samples", "space.lr.loguniform"]


def test_random_search_rejects_hyperopt_only_options(write_experiment) -> None:
    text = VALID.replace("algorithm: hyperopt, seed: 0", "algorithm: random, seed: 0, n_initial_points: 3")
    assert problems_of(write_experiment(text)) == [
        "search.n_initial_points: only used by algorithm hyperopt, not random"
    ]


def test_grid_search_rejects_continuous_distributions(write_experiment) -> None:
    text = VALID.replace("algorithm: hyperopt", "algorithm: grid")
    problems = problems_of(write_experiment(text))
    assert problems == [
        "space.lr.loguniform: search.algorithm grid needs grid or choice values (or constants); "
        "use algorithm random to cross a grid with sampled values",
        "space.dropout.uniform: search.algorithm grid needs grid or choice values (or constants); "
        "use algorithm random to cross a grid with sampled values",
    ]


def test_points_to_evaluate_must_lie_in_the_space(write_experiment) -> None:
    text = VALID.replace(
        "max_concurrent: 2}",
        "max_concurrent: 2, points_to_evaluate: [{lr: 0.5, batch_size: 64, optimizer: adam, dropout: 0.1, wd: 1}]}",
    )
    problems = problems_of(write_experiment(text))
    assert "search.points_to_evaluate.0.lr: 0.5 is outside {'loguniform': [0.0001, 0.1]}" in problems
    assert any(p.startswith("search.points_to_evaluate.0.wd: not in space") for p in problems)


def test_hyperopt_points_to_evaluate_must_be_complete(write_experiment) -> None:
    text = VALID.replace("max_concurrent: 2}", "max_concurrent: 2, points_to_evaluate: [{lr: 0.01}]}")
    assert problems_of(write_experiment(text)) == [
        "search.points_to_evaluate.0: hyperopt needs a value for every sampled hyperparameter; "
        "missing: batch_size, optimizer, dropout"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\nmode: max\n", "not valid YAML at line 2"),
        ("", "the file is empty"),
        ("- just\n- a list\n", "expected a mapping of experiment keys at the top, got list"),
    ],
)
def test_unreadable_files_are_config_errors(write_experiment, text, expected) -> None:
    assert any(expected in p for p in problems_of(write_experiment(text)))


def test_missing_file_is_a_config_error(tmp_path) -> None:
    assert problems_of(tmp_path / "nope.yaml") == ["file not found"]


@pytest.mark.parametrize("override", ["num_samples", "=4", "space..lr=1", "name.x=1"])
def test_malformed_override_is_a_config_error(write_experiment, override) -> None:
    problems = problems_of(write_experiment(VALID), [override])
    assert problems[0].startswith(f"--set {override}: ")


def test_user_trainable_next_to_the_experiment_file_is_found(tmp_path, write_experiment) -> None:
    (tmp_path / "my_trainables_mod.py").write_text(
        "def train(config):\n    pass\ntrain.reported_metrics = {'score'}\n"
    )
    exp = load_experiment(
        write_experiment(
            """\
            trainable: my_trainables_mod:train
            metric: score
            mode: max
            max_iterations: 2
            space: {x: {uniform: [0, 1]}}
            """
        )
    )
    assert exp.trainable.ship == (tmp_path / "my_trainables_mod.py").resolve()
    assert exp.trainable.reported_metrics == frozenset({"score"})


def test_builtin_trainables_are_not_shipped_even_from_the_repository_root(write_experiment) -> None:
    # tunefleet is installed on every node; only a user's own local module travels with the job.
    assert load_experiment(write_experiment(VALID)).trainable.ship is None


def test_function_trainables_cannot_ask_for_periodic_checkpoints(write_experiment) -> None:
    path = write_experiment(
        """\
        trainable: tests.support:quadratic
        metric: score
        mode: max
        max_iterations: 2
        space: {lr: {loguniform: [1.0e-3, 1.0]}}
        checkpoint: {frequency: 1}
        """
    )
    assert problems_of(path) == [
        "checkpoint.frequency: tests.support:quadratic is a function trainable: it saves checkpoints "
        "itself with tune.report(..., checkpoint=...); expected 0"
    ]


def test_cli_validate_exits_2_with_file_and_key_and_no_traceback(write_experiment) -> None:
    path = write_experiment(VALID.replace("[1.0e-4, 1.0e-1]", "[-1, 1]"))
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert str(path) in proc.stderr
    assert "space.lr.loguniform: expected 0 < low < high" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_validate_accepts_a_good_file(write_experiment) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet.cli", "validate", str(write_experiment(VALID))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok: 4 trials of mnist1d_cnn, hyperopt search, asha scheduler" in proc.stdout
