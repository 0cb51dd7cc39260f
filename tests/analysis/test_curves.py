"""Best so far, time to a target, the PBT lineage and importance, on constructed data (no Ray needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.analysis.helpers import ScriptedTrial, write_sweep
from tunefleet.analysis import load_results
from tunefleet.analysis.curves import anytime_curve, best_so_far, time_to_target
from tunefleet.analysis.importance import oob_permutation_importance
from tunefleet.analysis.pbt import LINEAGE_KEYS, read_lineage, schedule
from tunefleet.errors import TunefleetError


def _curve(values: list[float], mode: str) -> pd.DataFrame:
    """Results reported every 10 s, each iteration 2 trial-seconds."""
    count = len(values)
    return pd.DataFrame(
        {
            "wall_time_s": np.arange(1, count + 1) * 10.0,
            "trial_iterations": np.arange(1, count + 1),
            "trial_seconds": np.arange(1, count + 1) * 2.0,
            "value": values,
            "best_so_far": best_so_far(np.array(values), mode),
        }
    )


def test_best_so_far_skips_nan_and_follows_the_mode() -> None:
    values = np.array([np.nan, 0.5, 0.7, np.nan, 0.6, 0.9])

    assert np.allclose(best_so_far(values, "max"), [np.nan, 0.5, 0.7, 0.7, 0.7, 0.9], equal_nan=True)
    assert np.allclose(best_so_far(values, "min"), [np.nan, 0.5, 0.5, 0.5, 0.5, 0.5], equal_nan=True)


@pytest.mark.parametrize(
    ("values", "mode", "target", "expected"),
    [
        ([0.9, 0.5, 0.3, 0.1], "min", 0.3, (30.0, 3, 6.0)),  # reached exactly at the 3rd result
        ([0.9, 0.5, 0.3, 0.1], "min", 0.31, (30.0, 3, 6.0)),
        ([0.9, 0.5, 0.3, 0.1], "min", 0.5, (20.0, 2, 4.0)),
        ([0.1, 0.4, 0.2, 0.8], "max", 0.7, (40.0, 4, 8.0)),
        ([0.1, 0.8, 0.2, 0.3], "max", 0.7, (20.0, 2, 4.0)),  # a later worse value changes nothing
    ],
)
def test_time_to_target_is_the_first_result_whose_best_so_far_reaches_it(
    values: list[float], mode: str, target: float, expected: tuple[float, int, float]
) -> None:
    reached = time_to_target(_curve(values, mode), target, mode)

    assert (reached.wall_time_s, reached.trial_iterations, reached.trial_seconds) == expected


def test_a_target_never_reached_is_nan() -> None:
    reached = time_to_target(_curve([0.9, np.nan, 0.5], "min"), 0.1, "min")

    assert all(math.isnan(v) for v in reached)


def _write_lineage(path: Path, steps: list[dict]) -> Path:
    path.write_text("".join(json.dumps(step) + "\n" for step in steps), encoding="utf-8")
    return path


def _step(time: float, trial: str, iteration: int, source: str, source_iteration: int, old: dict, new: dict):
    return dict(zip(LINEAGE_KEYS, (time, trial, iteration, source, source_iteration, old, new), strict=True))


def test_the_schedule_of_a_trial_follows_its_weights_through_every_clone(tmp_path: Path) -> None:
    # b cloned a at 4 (lr 0.1 -> 0.2); later c cloned b at 8 (lr 0.2 -> 0.4).
    steps = read_lineage(
        _write_lineage(
            tmp_path / "pbt_lineage.jsonl",
            [
                _step(20.0, "c", 8, "b", 8, {"lr": 0.3}, {"lr": 0.4}),
                _step(10.0, "b", 4, "a", 4, {"lr": 0.5}, {"lr": 0.2}),
            ],
        )
    )
    assert list(steps["trial"]) == ["b", "c"]  # sorted by time

    segments = schedule(steps, "c", 12, {"a": {"lr": 0.1}, "b": {"lr": 0.2}, "c": {"lr": 0.4}})

    assert segments[["start_iteration", "end_iteration", "trial"]].values.tolist() == [
        [0, 4, "a"],
        [4, 8, "b"],
        [8, 12, "c"],
    ]
    # a never cloned anyone: its saved config; then each clone's new config.
    assert [c["lr"] for c in segments["config"]] == [0.1, 0.2, 0.4]


def test_a_trial_that_never_cloned_has_one_segment_with_its_own_config(tmp_path: Path) -> None:
    steps = read_lineage(
        _write_lineage(tmp_path / "l.jsonl", [_step(1.0, "b", 4, "a", 4, {"lr": 1}, {"lr": 2})])
    )

    segments = schedule(steps, "a", 10, {"a": {"lr": 0.5}, "b": {"lr": 2}})

    assert segments.to_dict("records") == [
        {"start_iteration": 0, "end_iteration": 10, "trial": "a", "config": {"lr": 0.5}}
    ]


def test_a_lineage_line_with_other_keys_is_rejected_naming_the_line(tmp_path: Path) -> None:
    path = _write_lineage(tmp_path / "pbt_lineage.jsonl", [{"time": 1.0, "trial": "a"}])

    with pytest.raises(TunefleetError, match=r"pbt_lineage\.jsonl:1: expected an object with keys"):
        read_lineage(path)


def test_importance_of_a_few_trials_skips_trees_that_left_no_trial_out() -> None:
    # With 5 trials, some of the 100 bootstrap samples hold every trial: no out-of-bag row.
    features = np.arange(5.0).reshape(-1, 1)

    drops = oob_permutation_importance(features, features[:, 0] ** 2, seed=0)

    assert drops.shape == (1, 10)
    assert np.isfinite(drops).all()


def test_the_anytime_curve_of_results_without_rays_time_this_iter_s_counts_no_trial_seconds(
    tmp_path: Path,
) -> None:
    trials = [ScriptedTrial("a", {"lr": 0.1}, [{"loss": 0.5}, {"loss": 0.3}], start=0)]
    sweep = write_sweep(tmp_path / "plain", trials, {"metric": "loss", "mode": "min"}, ray_bookkeeping=False)

    curve = anytime_curve(load_results(sweep))

    assert curve["best_so_far"].iloc[-1] == pytest.approx(0.3)
    assert list(curve["trial_seconds"]) == [0.0, 0.0]
