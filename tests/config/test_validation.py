"""Experiment files: what is accepted, and the exact complaint for what is not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, tunefleet
from tunefleet.config import check_storage, load_experiment
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
            ("algorithm: hyperopt", "algorithm: smac"),
            "search.algorithm: unknown search algorithm 'smac'; expected one of: grid, random, hyperopt, bohb, optuna",
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
        "search.n_initial_points: only used by algorithm hyperopt, not random; "
        "expected one of: algorithm, max_concurrent, points_to_evaluate, seed"
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
    (problem,) = problems_of(tmp_path / "nope.yaml")
    assert problem.startswith("file not found, and not the name of a shipped experiment; shipped: ")


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


TYPED = """\
trainable: tests.config.typed:train
metric: score
mode: max
max_iterations: 2
space:
  {entry}
"""


def space_problems(write_experiment, entry: str) -> list[str]:
    return problems_of(write_experiment(TYPED.format(entry=entry)))


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "width: {uniform: [1, 100]}",
            "space.width.uniform: uniform draws floats between 1 and 100, but width accepts only "
            "integers >= 1, <= 512; use {randint: [1, 101]} (high exclusive) or {quniform: [1, 100, 1]}",
        ),
        (
            "width: {quniform: [2, 10, 0.5]}",
            "space.width.quniform: quniform draws multiples of 0.5 between 2 and 10, but width accepts "
            "only integers >= 1, <= 512; use {quniform: [2, 10, 1]}",
        ),
        (
            "width: {loguniform: [8, 256]}",
            "space.width.loguniform: loguniform draws floats between 8 and 256, but width accepts only "
            "integers >= 1, <= 512; use {qloguniform: [8, 256, 1]}",
        ),
        (
            "width: {normal: [64, 10]}",
            "space.width.normal: normal draws floats of any size (unbounded), but width accepts only "
            "integers >= 1, <= 512; use {randint: [44, 85]} (high exclusive) or {quniform: [44, 84, 1]}",
        ),
        (
            "offset: {normal: [0, 2]}",
            "space.offset.normal: normal draws floats of any size (unbounded), but offset accepts only "
            "integers; use {randint: [-4, 5]} (high exclusive) or {quniform: [-4, 4, 1]}",
        ),
        (
            "every: {uniform: [1, 5]}",
            "space.every.uniform: uniform draws floats between 1 and 5, but every accepts only integers >= 1; "
            "use {randint: [1, 6]} (high exclusive) or {quniform: [1, 5, 1]}",
        ),
        (
            "rate: {normal: [0.1, 0.5]}",
            "space.rate.normal: normal draws floats of any size (unbounded), but rate accepts only "
            "numbers >= 0, < 1 (about 46% of draws fall outside); use a bounded distribution inside "
            "that range, e.g. {uniform: [low, high]}",
        ),
        (
            "gamma: {normal: [0.5, 0.1]}",
            "space.gamma.normal: normal draws floats of any size (unbounded), but gamma accepts only "
            "numbers > 0, <= 1 (fewer than 1% of draws fall outside, but some will); use a bounded "
            "distribution inside that range, e.g. {uniform: [low, high]}",
        ),
        (
            "flag: {uniform: [0, 1]}",
            "space.flag.uniform: uniform draws numbers, but flag accepts only true or false; "
            "use {choice: [true, false]}",
        ),
        ("width: true", "space.width: true is a boolean, but width accepts only integers >= 1, <= 512"),
        (
            "width: {choice: [8, false]}",
            "space.width.choice: false is a boolean, but width accepts only integers >= 1, <= 512",
        ),
    ],
)
def test_values_a_distribution_can_draw_must_all_fit_the_hyperparameter(
    write_experiment, entry, expected
) -> None:
    assert space_problems(write_experiment, entry) == [expected]


@pytest.mark.parametrize(
    "entry",
    [
        "shift: {normal: [0, 1]}",
        "width: {randint: [1, 513]}",
        "width: {quniform: [8, 512, 8]}",
        "width: {qloguniform: [8, 512, 8]}",
        "width: {quniform: [16.0, 64.0, 16.0]}",  # whole floats; pydantic reads 16.0 as 16
        "rate: {uniform: [0.0, 0.9]}",
        "rate: {quniform: [0.0, 0.9, 0.1]}",
        "gamma: {loguniform: [0.01, 1.0]}",
        "every: {randint: [1, 4]}",
        "flag: {choice: [true, false]}",
    ],
)
def test_distributions_whose_every_value_fits_are_accepted(write_experiment, entry) -> None:
    load_experiment(write_experiment(TYPED.format(entry=entry)))


def test_a_distribution_reaching_past_a_bound_names_the_value(write_experiment) -> None:
    assert space_problems(write_experiment, "rate: {uniform: [0.5, 1.5]}") == [
        "space.rate.uniform: 1.5 is not a valid rate: Input should be less than 1"
    ]


def test_conditional_hyperparameters_are_checked_like_the_others(write_experiment) -> None:
    entry = "optimizer: {conditional: {adam: {}, momentum: {momentum: {normal: [0.9, 0.05]}}}}"
    problems = problems_of(
        write_experiment(VALID.replace("  optimizer: {choice: [sgd, momentum, adam]}", f"  {entry}"))
    )
    assert [p.split(": ")[0] for p in problems] == ["space.optimizer.conditional.momentum.momentum.normal"]
    assert "but momentum accepts only numbers >= 0, < 1" in problems[0]


PBT = """\
trainable: digits_mlp
metric: val_accuracy
mode: max
num_samples: 2
max_iterations: 6
search: {algorithm: random, seed: 0}
space: {lr: {loguniform: [1.0e-3, 1.0e-1]}, batch_size: 32}
scheduler:
  type: pbt
  perturbation_interval: 2
  mutations: MUTATION
"""


def test_pbt_mutations_are_checked_like_the_space(write_experiment) -> None:
    path = write_experiment(PBT.replace("MUTATION", "{batch_size: {uniform: [16, 128]}}"))
    assert problems_of(path) == [
        "scheduler.mutations.batch_size.uniform: uniform draws floats between 16 and 128, but batch_size "
        "accepts only integers >= 1; use {randint: [16, 129]} (high exclusive) or {quniform: [16, 128, 1]}"
    ]
    load_experiment(write_experiment(PBT.replace("MUTATION", "{batch_size: {randint: [16, 129]}}")))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../x", "holds a '/'"),
        ("/tmp/elsewhere", "holds a '/'"),
        ("a/b", "holds a '/'"),
        ("a\\b", "holds a '\\'"),
        (".", "is not a directory name of its own"),
        ("..", "is not a directory name of its own"),
        ("my sweep", "holds whitespace or a control character"),
        (" ", "holds whitespace or a control character"),
        ("x\ny", "holds whitespace or a control character"),
        ("a\tb", "holds whitespace or a control character"),
        ("a" * 300, "is 300 bytes long"),
        ("é" * 101, "is 202 bytes long"),
    ],
)
def test_name_must_be_one_directory_name_inside_the_storage(write_experiment, name, reason) -> None:
    problems = problems_of(write_experiment(VALID.replace("name: base", f"name: {json.dumps(name)}")))
    assert len(problems) == 1, problems
    assert problems[0].startswith("name: ") and reason in problems[0]


@pytest.mark.parametrize(
    "name",
    [
        "sweep-1",
        "mnist1d_cnn.v2",
        ".hidden",
        "a" * 200,
        "a" * 200 + "-20250101-120000",
        "a" * 200 + "-20250101-120000-3",
    ],
)
def test_name_of_up_to_200_bytes_is_accepted_with_or_without_a_run_stamp(write_experiment, name) -> None:
    # tunefleet appends -YYYYMMDD-HHMMSS rather than overwrite a run, and saves that name with it.
    assert load_experiment(write_experiment(VALID.replace("name: base", f"name: {name}"))).name == name


def test_a_file_name_unfit_for_a_directory_needs_a_name_key(write_experiment) -> None:
    path = write_experiment(VALID.replace("name: base\n", ""), name="my sweep.yaml")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith("name: not set, and the file name gives 'my sweep', which holds whitespace")


def test_run_refuses_a_name_argument_outside_the_storage_before_creating_anything(
    write_experiment, tmp_path
) -> None:
    from tunefleet.run import run_experiment

    experiment = load_experiment(write_experiment(VALID))
    with pytest.raises(ConfigError) as info:
        run_experiment(experiment, storage=str(tmp_path / "store"), name="../escaped")
    assert [str(p) for p in info.value.problems] == [
        "--name: '../escaped' holds a '/', so results would go outside the storage directory; "
        "use one directory name such as 'my-sweep'"
    ]
    assert not (tmp_path / "store").exists() and not (tmp_path / "escaped").exists()


def test_cli_run_with_a_bad_name_exits_2_without_a_traceback(write_experiment, tmp_path) -> None:
    path = write_experiment(VALID)
    proc = tunefleet("run", str(path), "--storage", str(tmp_path / "store"), "--name", "x" * 300)
    assert proc.returncode == 2, proc.stderr
    assert "--name: 'xxx" in proc.stderr and "is 300 bytes long" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("num_samples: 4", "num_samples: true"), "num_samples: Input should be a valid integer, got True"),
        (("max_iterations: 6", "max_iterations: true"), "max_iterations: Input should be a valid integer"),
        (("cpu: 1,", "cpu: true,"), "resources.cpu: Input should be a valid number, got True"),
        (("gpu: 0}", "gpu: false}"), "resources.gpu: Input should be a valid number, got False"),
        (("frequency: 2", "frequency: true"), "checkpoint.frequency: Input should be a valid integer"),
        (("keep: 2", "keep: true"), "checkpoint.keep: Input should be a valid integer"),
        (("seed: 0,", "seed: true,"), "search.seed: Input should be a valid integer"),
        (
            ("max_concurrent: 2", "max_concurrent: true"),
            "search.max_concurrent: Input should be a valid integer",
        ),
        (
            ("grace_period: 2", "grace_period: true"),
            "scheduler.grace_period: Input should be a valid integer",
        ),
        (
            ("reduction_factor: 3", "reduction_factor: true"),
            "scheduler.reduction_factor: Input should be a valid number",
        ),
        (
            ("checkpoint: {", "failure: {max_failures: true}\ncheckpoint: {"),
            "failure.max_failures: Input should be a valid integer",
        ),
        (("cpu: 1,", "cpu: .inf,"), "resources.cpu: Input should be a finite number"),
        (("gpu: 0}", "gpu: .nan}"), "resources.gpu: Input should be a finite number"),
        (
            ("gpu: 0}", "gpu: 0, workers: {count: 1, cpu: .inf}}"),
            "resources.workers.cpu: Input should be a finite number",
        ),
        (("seed: 0,", "seed: 0, gamma: .nan,"), "search.gamma: Input should be a finite number"),
        (
            ("reduction_factor: 3", "reduction_factor: .inf"),
            "scheduler.reduction_factor: Input should be a finite number",
        ),
    ],
)
def test_booleans_and_infinities_are_not_numbers_of_any_setting(write_experiment, edit, expected) -> None:
    old, new = edit
    assert old in VALID
    problems = problems_of(write_experiment(VALID.replace(old, new, 1)))
    assert any(p.startswith(expected) for p in problems), problems


def test_pbt_perturbation_factors_must_be_finite_numbers(write_experiment) -> None:
    text = PBT.replace("MUTATION", "{lr: {loguniform: [1.0e-3, 1.0e-1]}}")
    for factors, expected in (
        ("[.inf, 0.8]", "scheduler.perturbation_factors.0: Input should be a finite number"),
        ("[1.2, true]", "scheduler.perturbation_factors.1: Input should be a valid number"),
    ):
        problems = problems_of(write_experiment(text + f"  perturbation_factors: {factors}\n"))
        assert [p.split(", got")[0] for p in problems] == [expected]


def test_a_sweep_has_at_most_100000_trials(write_experiment) -> None:
    assert (
        load_experiment(write_experiment(VALID.replace("num_samples: 4", "num_samples: 100000"))).num_trials
        == 100_000
    )
    problems = problems_of(write_experiment(VALID.replace("num_samples: 4", "num_samples: 1000000000")))
    assert len(problems) == 1 and problems[0].startswith(
        "num_samples: 1,000,000,000 trials; expected at most 100,000 per sweep"
    )


def test_the_trial_ceiling_counts_grid_points(write_experiment) -> None:
    text = (
        VALID.replace("algorithm: hyperopt", "algorithm: random")
        .replace("num_samples: 4", "num_samples: 30000")
        .replace("{choice: [32, 64, 128]}", "{grid: [16, 32, 64, 128]}")
    )
    problems = problems_of(write_experiment(text))
    assert len(problems) == 1 and problems[0].startswith(
        "num_samples: 120,000 trials (4 grid points x 30000); expected at most 100,000 per sweep"
    )


def test_validate_refuses_a_storage_where_results_cannot_be_written(write_experiment, tmp_path) -> None:
    (tmp_path / "a-file").write_text("")
    path = write_experiment(VALID + f"storage: {tmp_path / 'a-file' / 'results'}\n")
    with pytest.raises(ConfigError) as info:
        check_storage(load_experiment(path))
    assert [str(p) for p in info.value.problems] == [
        f"storage: cannot create {tmp_path / 'a-file' / 'results'}: {tmp_path / 'a-file'} is not a directory"
    ]


def test_the_storage_check_leaves_nothing_behind(write_experiment, tmp_path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    experiment = load_experiment(write_experiment(VALID))
    check_storage(experiment, str(tmp_path / "new" / "deeper"))
    check_storage(experiment, str(existing))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "exp.yaml"]
    assert not any(existing.iterdir())


@pytest.mark.parametrize(
    ("storage", "problem"),
    [
        ("s3://", "expected scheme://bucket/path, e.g. s3://my-bucket/results"),
        ("gs:// bucket", "expected scheme://bucket/path, e.g. s3://my-bucket/results"),
        ("://bucket", "expected scheme://bucket/path, e.g. s3://my-bucket/results"),
        ("s3://bucket/results", None),
        ("gs://bucket", None),
    ],
)
def test_a_storage_uri_is_checked_for_its_form_only(write_experiment, storage, problem) -> None:
    text = VALID + f"storage: {json.dumps(storage)}\n"
    if problem is None:
        check_storage(load_experiment(write_experiment(text)))
    else:
        assert problems_of(write_experiment(text)) == [f"storage: Value error, {problem}, got {storage!r}"]
        with pytest.raises(ConfigError) as info:
            check_storage(load_experiment(write_experiment(VALID)), storage)
        assert [str(p) for p in info.value.problems] == [f"--storage: {problem}, got {storage!r}"]


def test_cli_validate_checks_the_storage_the_run_would_use(write_experiment, tmp_path) -> None:
    (tmp_path / "a-file").write_text("")
    proc = tunefleet(
        "validate", str(write_experiment(VALID)), env={"TUNEFLEET_STORAGE": str(tmp_path / "a-file" / "x")}
    )
    assert proc.returncode == 2
    assert f"--storage: cannot create {tmp_path / 'a-file' / 'x'}: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_select_takes_top_k_seeds_and_include_defaults(write_experiment) -> None:
    exp = load_experiment(write_experiment(VALID + "select: {top_k: 2, include_defaults: true}\n"))

    assert exp.settings.select is not None
    assert (exp.settings.select.top_k, exp.settings.select.seeds, exp.settings.select.include_defaults) == (
        2,
        5,
        True,
    )
    assert load_experiment(write_experiment(VALID)).settings.select is None


def test_select_refuses_no_finalist_one_seed_more_finalists_than_trials_and_unknown_keys(
    write_experiment,
) -> None:
    bad = VALID + "select: {top_k: 0, seeds: 1, seedz: 3}\n"
    too_many = VALID + "select: {top_k: 5}\n"  # 4 trials

    assert problems_of(write_experiment(bad)) == [
        "select.top_k: Input should be greater than or equal to 1, got 0",
        "select.seeds: Value error, expected at least 2: a standard deviation, a confidence interval and "
        "a t-test need two runs of each configuration, got 1",
        "select.seedz: unknown key (did you mean 'seeds'?); expected one of: include_defaults, seeds, top_k",
    ]
    assert problems_of(write_experiment(too_many)) == [
        "select.top_k: 5 finalists from a sweep of 4 trials; expected at most 4"
    ]


def test_include_defaults_needs_a_trainable_with_defaults(write_experiment) -> None:
    text = """\
        trainable: tests.support:quadratic
        metric: score
        mode: max
        num_samples: 4
        max_iterations: 2
        space: {lr: {loguniform: [1.0e-3, 1.0e-1]}}
        select: {top_k: 2, seeds: 2, include_defaults: true}
        """

    assert problems_of(write_experiment(text)) == [
        "select.include_defaults: tests.support:quadratic declares no hyperparameters with defaults "
        "(no pydantic Hyperparams model), so it has no default configuration to compare with; set "
        "include_defaults: false"
    ]
    load_experiment(write_experiment(text.replace("include_defaults: true", "include_defaults: false")))


def test_select_refuses_a_scheduler_that_changes_configurations_while_trials_train(write_experiment) -> None:
    path = write_experiment(
        PBT.replace("MUTATION", "{lr: {loguniform: [1.0e-3, 1.0e-1]}}") + "select: {top_k: 2, seeds: 2}\n"
    )

    assert problems_of(path) == [
        "select: scheduler pbt changes a trial's hyperparameters while it trains, so no single "
        "configuration stands for a trial, and none can be retrained; remove select (or use another "
        "scheduler)"
    ]
