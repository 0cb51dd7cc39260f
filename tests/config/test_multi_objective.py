"""Multi-objective experiment files: ``metric: [a, b]`` with ``mode: [max, min]``.

A metric list is accepted only with a searcher and a scheduler that judge trials on several
metrics; everything else is refused by ``tunefleet validate`` (exit 2, the key named, nothing run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tunefleet import cli
from tunefleet.config import load_experiment
from tunefleet.objectives import Objective

MULTI = """\
name: multi
trainable: mnist1d_mlp
metric: [val_accuracy, val_loss]
mode: [max, min]
num_samples: 4
max_iterations: 2
search: {algorithm: optuna, sampler: nsga2, seed: 0, nsga2: {population_size: 4}}
space:
  lr: {loguniform: [1.0e-4, 1.0e-1]}
  hidden: {choice: [16, 32]}
scheduler: {type: fifo}
"""


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["validate", str(path)])
    return result.exit_code, result.output


def test_a_metric_list_loads_as_objectives_with_the_first_as_metric(write_experiment) -> None:
    experiment = load_experiment(write_experiment(MULTI))

    assert experiment.objectives == (Objective("val_accuracy", "max"), Objective("val_loss", "min"))
    assert experiment.multi_objective
    assert (experiment.metric, experiment.mode) == ("val_accuracy", "max")
    assert experiment.scheduler_context.objectives == experiment.objectives


def test_one_metric_is_one_objective_and_the_scheduler_context_has_none(write_experiment) -> None:
    experiment = load_experiment(
        write_experiment(MULTI.replace("[val_accuracy, val_loss]", "val_loss").replace("[max, min]", "min"))
    )

    assert experiment.objectives == (Objective("val_loss", "min"),)
    assert not experiment.multi_objective
    assert experiment.scheduler_context.objectives == ()


def test_cli_validate_accepts_a_metric_list_and_names_each_objective(write_experiment) -> None:
    code, output = validate(write_experiment(MULTI))

    assert code == 0, output
    assert "optuna search, fifo scheduler, val_accuracy (max), val_loss (min)," in output


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("mode: [max, min]", "mode: [max]"), "mode: metric and mode must be lists of the same length"),
        (("mode: [max, min]", "mode: max"), "mode: metric and mode must both be one name or both be lists"),
        (
            ("mode: [max, min]", "mode: [max, maximize]"),
            "mode: Input should be 'min' or 'max' (one per metric)",
        ),
        (("[val_accuracy, val_loss]", "[val_loss, val_loss]"), "metric: each metric may be named once"),
        (("[val_accuracy, val_loss]", "[]"), "metric: expected a metric name, or a non-empty list"),
        (
            ("[val_accuracy, val_loss]", "[val_accuracy, val_los]"),
            "metric.1: mnist1d_mlp never reports 'val_los' (did you mean 'val_loss'?)",
        ),
        (
            ("sampler: nsga2", "sampler: cmaes"),
            "search.sampler: metric is a list (val_accuracy, val_loss), but sampler cmaes optimizes one "
            "metric; for a metric list use sampler tpe, gp, nsga2 or random",
        ),
        (
            ("sampler: nsga2", "sampler: qmc"),
            "search.sampler: metric is a list (val_accuracy, val_loss), but sampler qmc optimizes one metric",
        ),
        (
            (
                "algorithm: optuna, sampler: nsga2, seed: 0, nsga2: {population_size: 4}",
                "algorithm: hyperopt",
            ),
            "search.algorithm: metric is a list (val_accuracy, val_loss), but search.algorithm hyperopt "
            "optimizes one metric; use algorithm optuna (sampler nsga2, tpe, gp or random) or random",
        ),
        (
            ("{type: fifo}", "{type: asha}"),
            "scheduler.type: metric is a list (val_accuracy, val_loss), but scheduler asha judges trials on "
            "one metric; use type moasha (successive halving by Pareto rank) or fifo (stops nothing)",
        ),
        (
            (
                "{type: fifo}",
                "{type: pbt, perturbation_interval: 1, mutations: {lr: {loguniform: [1.0e-4, 1.0e-1]}}}",
            ),
            "scheduler.type: metric is a list (val_accuracy, val_loss), but scheduler pbt judges trials on one metric",
        ),
        (
            ("population_size: 4", "populaton_size: 4"),
            "search.nsga2.populaton_size: unknown key (did you mean 'population_size'?)",
        ),
        (
            ("seed: 0,", "seed: 0, tpe: {constant_liar: true},"),
            "search.tpe: options of sampler tpe, but search.sampler is nsga2",
        ),
        (("sampler: nsga2", "sampler: tpee"), "search.sampler: Input should be 'tpe', 'gp', 'cmaes'"),
    ],
    ids=lambda v: v[1] if isinstance(v, tuple) else None,
)
def test_cli_validate_refuses_bad_multi_objective_input_naming_the_key(
    write_experiment, edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in MULTI
    code, output = validate(write_experiment(MULTI.replace(old, new)))

    assert code == 2, output
    assert expected in " ".join(output.split()), output
    assert "Traceback" not in output
