"""render_summary and summary_to_csv: hand-made summaries, then a real experiment's."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


def _render(summary: dict[str, Any], width: int = 200) -> list[str]:
    return rendered(summary, width).splitlines()


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


def test_top_zero_lists_no_trial_but_still_gives_the_best_one() -> None:
    summary = _summary(TOP)
    summary["top"] = []  # what summary(top=0) gives

    lines = _render(summary)

    assert not any("No trial reported" in line for line in lines)
    assert not any("trial_id" in line for line in lines)
    assert "Best config (a_00001): lr=0.001235, model/width=64, model/act=relu" in lines


# One word each (no spaces: the tests split lines on them); what rich would take for markup or
# emoji codes if it parsed them.
_user_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from("éß→"),
    min_size=1,
    max_size=12,
)


@settings(max_examples=80, deadline=None)
@given(
    name=_user_text,
    metric=_user_text,
    trial_id=_user_text,
    key=_user_text,
    value=_user_text,
    error=_user_text,
)
@example(
    name="[bold]demo", metric="loss[/x]", trial_id="[red]t1", key="[bohb]", value=":smile:", error="[/x]"
)
def test_every_user_string_of_a_summary_prints_exactly(
    name: str, metric: str, trial_id: str, key: str, value: str, error: str
) -> None:
    first = _trial(trial_id, 0.5, {key: value})
    second = _trial(f"{trial_id}2", 0.75, {key: f"{value}2"})
    summary = {
        **_summary([first, second], [{"trial_id": trial_id, "status": "ERROR", "error": error}]),
        "experiment": {"path": "/runs/x", "name": name},
        "metric": metric,
    }

    lines = _render(summary)  # on rich's default console: markup and emoji codes on

    assert lines[0] == f"{name}: {metric} (min, scope=last), 5 trials (4 TERMINATED, 1 ERROR)"
    header = next(line for line in lines[1:] if line.strip()).split()
    assert header == ["#", "trial_id", metric, "iter", "time", "status", key]
    assert ["1", trial_id, "0.5", "10", "1m15s", "TERMINATED", value] in [line.split() for line in lines]
    assert f"Best config ({trial_id}): {key}={value}" in lines
    assert lines[-1] == f"  {trial_id}: {error}"


# Long nested keys, all varying: the final table of a real sweep with several groups of settings.
_WIDE_CONFIGS = [
    {
        "model": {
            "encoder": {"hidden_size": 64 * (i + 1), "num_layers": i + 2},
            "dropout_probability": 0.1 * i,
        },
        "optimizer": {"learning_rate": 10.0 ** -(i + 2), "weight_decay": 1e-5 * (i + 1)},
        "data": {"augmentation": {"random_crop_padding": i}},
        "scheduler": {"warmup_steps": 100 * i},
    }
    for i in range(5)
]


@pytest.mark.parametrize("width", [80, 60])
def test_a_narrow_terminal_shows_every_config_key_and_value_whole(width: int) -> None:
    top = [_trial(f"a_0000{i}", 0.1 * (i + 1), c, test_accuracy=0.9) for i, c in enumerate(_WIDE_CONFIGS)]
    summary = _summary(top)

    lines = _render(summary, width)
    text = "\n".join(lines)

    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    for trial in top:
        assert trial["trial_id"] in text
    keys = {key for config in _WIDE_CONFIGS for key in _flat_keys(config)}
    for key in keys:
        assert key in text, key
    for value in ("128", "320", "0.0001", "1e-06", "2e-05", "5e-05", "400"):
        assert value in text, value


def _flat_keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        if isinstance(value, dict):
            keys += _flat_keys(value, f"{prefix}{key}/")
        else:
            keys.append(f"{prefix}{key}")
    return keys


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
