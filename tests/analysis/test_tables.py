"""render_summary and summary_to_csv: hand-made summaries, then a real experiment's."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support import rendered
from tunefleet.analysis import load_results, summary_to_csv


def _trial(trial_id: str, value: float, config: dict[str, Any], **metrics: Any) -> dict[str, Any]:
    return {
        "trial_id": trial_id,
        "config": config,
        "value": value,
        "metrics": {"loss": value, "training_iteration": 10, "time_total_s": 75.0, **metrics},
        "training_iteration": 10,
        "time_total_s": 75.0,
        "status": "TERMINATED",
    }


def _summary(top: list[dict[str, Any]], errors: list[dict[str, Any]] | None = None) -> dict:
    return {
        "experiment": {"path": "/runs/demo", "name": "demo"},
        "metric": "loss",
        "mode": "min",
        "scope": "last",
        "num_trials": 5,
        "num_errors": 1,
        "status_counts": {"TERMINATED": 4, "ERROR": 1},
        "best": top[0] if top else None,
        "top": top,
        "errors": errors or [],
    }


def _render(summary: dict[str, Any]) -> list[str]:
    return rendered(summary).splitlines()


def _table_header(lines: list[str]) -> list[str]:
    return next(line for line in lines if "trial_id" in line).split()


TOP = [
    _trial("a_00001", 0.123456789, {"lr": 0.00123456, "model": {"width": 64, "act": "relu"}}),
    _trial("a_00002", 0.2, {"lr": 0.01, "model": {"width": 64, "act": "relu"}}, test_accuracy=0.9),
]


def test_title_names_experiment_metric_mode_and_status_counts() -> None:
    title = _render(_summary(TOP))[0]

    assert title == "demo: loss (min, scope=last), 5 trials (4 TERMINATED, 1 ERROR)"


def test_table_shows_only_the_config_keys_that_vary_between_shown_trials() -> None:
    header = _table_header(_render(_summary(TOP)))

    assert header == ["#", "trial_id", "loss", "test_accuracy", "iter", "time", "status", "lr"]


def test_cells_use_4_significant_digits_and_compact_durations() -> None:
    lines = _render(_summary(TOP))
    first = next(line for line in lines if "a_00001" in line and "Best" not in line).split()

    assert first == ["1", "a_00001", "0.1235", "-", "10", "1m15s", "TERMINATED", "0.001235"]


def test_best_config_and_errors_are_listed() -> None:
    errors = [
        {"trial_id": "a_00004", "status": "ERROR", "error": "ValueError: [bad] lr"},
        {"trial_id": "a_00005", "status": "TERMINATED", "error": "OSError: disk full"},
    ]
    lines = _render(_summary(TOP, errors))

    assert "Best config (a_00001): lr=0.001235, model/width=64, model/act=relu" in lines
    assert lines[-3:] == [
        "Errors (2):",
        "  a_00004: ValueError: [bad] lr",  # brackets are text, not rich markup
        "  a_00005 [TERMINATED, retried]: OSError: disk full",
    ]


def test_without_a_ranked_trial_it_says_so() -> None:
    lines = _render(_summary([]))

    assert "No trial reported a finite value of 'loss'." in lines
    assert not any("Best config" in line for line in lines)


@pytest.mark.slow
def test_real_experiment_renders_its_top_trials_and_error(fifo_experiment: Path) -> None:
    summary = load_results(fifo_experiment).summary(top=5)
    text = "\n".join(_render(summary))

    for trial in summary["top"]:
        assert trial["trial_id"] in text
    assert _table_header(text.splitlines())[-2:] == ["optim/lr", "model/width"]
    assert f"{summary['errors'][0]['trial_id']}: ValueError: loss diverged at lr=0.1" in text


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["last", "all"])
def test_summary_to_csv_round_trips_the_trials_table(fifo_experiment: Path, scope: Any) -> None:
    results = load_results(fifo_experiment, scope=scope)

    parsed = pd.read_csv(io.StringIO(summary_to_csv(results)))

    trials = results.trials()
    assert list(parsed.columns) == list(trials.columns)
    assert list(parsed["trial_id"]) == list(trials["trial_id"])
    pd.testing.assert_series_equal(parsed["value"], trials["value"])
