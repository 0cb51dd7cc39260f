"""The selection's statistics and verdict on synthetic runs with known differences (no Ray)."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest

from tunefleet.analysis.selection import holm, mean_interval, summarize_selection, welch_p_value
from tunefleet.run.selection import selection_seeds

# t(0.975, 2): the 97.5% quantile of Student's t with 2 degrees of freedom.
T_975_2DF = 4.302652729911275


def plan(mode: str = "max", defaults: bool = True) -> dict[str, Any]:
    finalists = [
        {"tag": 1, "trial_id": "a", "value": 0.96, "config": {"lr": 0.01}},
        {"tag": 2, "trial_id": "b", "value": 0.95, "config": {"lr": 0.02}},
    ]
    if defaults:
        finalists.append({"tag": "defaults", "trial_id": None, "value": None, "config": {"lr": 0.001}})
    return {
        "metric": "val_accuracy",
        "mode": mode,
        "scope": "last",
        "top_k": 2,
        "seeds": [1, 2, 3, 4, 5],
        "include_defaults": defaults,
        "finalists": finalists,
    }


def runs(values: dict[Any, list[float]], status: str = "TERMINATED") -> pd.DataFrame:
    """Runs of each finalist, seeds 1.., ``test_accuracy`` = value - 0.01."""
    rows = [
        {
            "finalist": tag,
            "seed": seed,
            "trial_id": f"{tag}-{seed}",
            "status": status,
            "value": value,
            "test_accuracy": value - 0.01,
        }
        for tag, series in values.items()
        for seed, value in enumerate(series, start=1)
    ]
    return pd.DataFrame(rows)


CLEAR = {
    1: [0.950, 0.952, 0.948, 0.951, 0.949],
    2: [0.930, 0.932, 0.928, 0.931, 0.929],
    "defaults": [0.900, 0.905, 0.895, 0.902, 0.898],
}
TIE = {
    1: [0.940, 0.950, 0.930, 0.960, 0.945],
    2: [0.947, 0.937, 0.952, 0.942, 0.957],
    "defaults": [0.940, 0.935, 0.950, 0.945, 0.930],
}


def test_a_clear_winner_is_distinguishable_from_the_runner_up_and_the_defaults() -> None:
    verdict = summarize_selection(plan(), runs(CLEAR), "last")["verdict"]

    assert verdict["winner"] == 1
    assert verdict["beats_runner_up"] is True
    assert verdict["beats_defaults"] is True
    assert [(c["against"], c["finalist"], c["better"]) for c in verdict["comparisons"]] == [
        ("runner-up", 2, "winner"),
        ("defaults", "defaults", "winner"),
    ]
    assert all(c["p_adjusted"] < 0.001 for c in verdict["comparisons"])
    assert verdict["text"].startswith("Finalist 1 has the best mean val_accuracy (0.95 +- ")
    assert "it is better than the runner-up, finalist 2 (0.93 +- " in verdict["text"]
    assert "and better than the defaults" in verdict["text"]


def test_a_tie_within_seed_noise_is_not_distinguishable() -> None:
    verdict = summarize_selection(plan(), runs(TIE), "last")["verdict"]

    assert verdict["winner"] == 2  # the better mean (0.947 against 0.945), but only by noise
    assert verdict["beats_runner_up"] is False
    assert verdict["beats_defaults"] is False
    assert all(not c["distinguishable"] and c["better"] is None for c in verdict["comparisons"])
    assert all(c["p_adjusted"] > 0.3 for c in verdict["comparisons"])
    assert "not distinguishable from the runner-up, finalist 1" in verdict["text"]


def test_defaults_better_than_every_finalist_are_reported_as_such() -> None:
    better_defaults = {1: CLEAR[2], 2: CLEAR["defaults"], "defaults": CLEAR[1]}

    verdict = summarize_selection(plan(), runs(better_defaults), "last")["verdict"]

    assert verdict["winner"] == 1
    assert verdict["beats_defaults"] is False
    assert verdict["comparisons"][1]["better"] == "other"
    assert "worse than the defaults" in verdict["text"]


def test_with_mode_min_the_lowest_mean_wins() -> None:
    losses = {1: CLEAR["defaults"], 2: CLEAR[1], "defaults": CLEAR[2]}

    verdict = summarize_selection(plan(mode="min"), runs(losses), "last")["verdict"]

    assert verdict["winner"] == 1  # 0.900: the lowest
    assert verdict["beats_runner_up"] is True and verdict["beats_defaults"] is True
    assert [c["finalist"] for c in verdict["comparisons"]] == [2, "defaults"]


def test_each_finalist_gets_mean_sd_and_the_t_interval_of_the_metric_and_the_test_metrics() -> None:
    three = {1: [1.0, 2.0, 3.0], 2: [2.0, 2.0, 2.5]}

    selection = summarize_selection(plan(defaults=False), runs(three), "last")
    first = selection["finalists"][0]

    assert (first["n"], first["mean"], first["std"]) == (3, 2.0, 1.0)
    assert first["ci"] == pytest.approx([2 - T_975_2DF / math.sqrt(3), 2 + T_975_2DF / math.sqrt(3)])
    assert first["test_metrics"]["test_accuracy"]["mean"] == pytest.approx(1.99)
    assert first["values"] == [1.0, 2.0, 3.0] and first["seeds"] == [1, 2, 3]
    assert [c["against"] for c in selection["verdict"]["comparisons"]] == ["runner-up"]
    assert selection["verdict"]["beats_defaults"] is None
    json.dumps(selection)  # plain JSON values, as analyze --format json prints them


def test_unfinished_runs_do_not_count_and_one_run_gives_no_interval() -> None:
    unfinished = runs({1: [0.9], 2: [0.8]}, status="RUNNING")
    finished = runs({1: [0.95], 2: [0.85, 0.86]})

    selection = summarize_selection(plan(defaults=False), pd.concat([finished, unfinished]), "last")

    first, second = selection["finalists"]
    assert (first["n"], first["num_unfinished"], first["std"], first["ci"]) == (1, 1, None, None)
    assert (second["n"], second["num_unfinished"]) == (2, 1)
    assert selection["verdict"]["comparisons"][0]["p_value"] is None
    assert "no test: fewer than 2 runs" in selection["verdict"]["text"]


def test_runs_without_spread_compare_by_their_means() -> None:
    assert welch_p_value([0.9, 0.9], [0.9, 0.9]) == 1.0
    assert welch_p_value([0.9, 0.9], [0.8, 0.8]) == 0.0
    assert welch_p_value([0.9], [0.8, 0.7]) is None


def test_holm_multiplies_the_smallest_p_value_by_the_number_of_tests() -> None:
    assert holm([0.04, 0.01]) == pytest.approx([0.04, 0.02])
    assert holm([0.03, 0.02]) == pytest.approx([0.04, 0.04])  # monotone: never below an earlier one


def test_mean_interval_of_nothing_is_empty() -> None:
    assert mean_interval([]) == {"n": 0, "mean": None, "std": None, "ci": None}


def test_selection_seeds_skip_the_seeds_the_finalists_were_searched_with() -> None:
    assert selection_seeds(5, [0, 0]) == (1, 2, 3, 4, 5)
    assert selection_seeds(3, [2, None, 7]) == (0, 1, 3)
