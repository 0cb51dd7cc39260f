"""Reading Ray's error.txt, reported values and the files of a running sweep, and making summaries
JSON-safe (no Ray needed)."""

from __future__ import annotations

import json
import logging
import math
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, Field, ValidationError

from tests.analysis.helpers import HandWrittenSweep
from tunefleet.analysis.export import jsonable
from tunefleet.analysis.failures import error_headline
from tunefleet.rundir import flatten, is_nan, read_ray_run

RAY_ERROR_TXT = """\
Failure # 1 (occurred at 2026-01-01_10-00-00)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, ip=10.0.0.1, repr=train_fn)
  File "/venv/ray/tune/trainable/trainable.py", line 329, in train
    raise skipped from exception_cause(skipped)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/train.py", line 9, in train_fn
    raise RuntimeError("CUDA out of memory")
RuntimeError: CUDA out of memory
Failure # 2 (occurred at 2026-01-01_10-05-00)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=2, ip=10.0.0.1, repr=train_fn)
  File "/work/train.py", line 12, in train_fn
    raise ValueError("bad shape:\\n  expected (2, 3)")
ValueError: bad shape:
  expected (2, 3)
"""


def test_error_headline_is_the_exception_of_the_latest_failure_on_one_line() -> None:
    assert error_headline(RAY_ERROR_TXT) == "ValueError: bad shape: expected (2, 3)"
    assert error_headline(RAY_ERROR_TXT.split("Failure # 2")[0]) == ("RuntimeError: CUDA out of memory")


def test_error_headline_keeps_the_field_lines_of_a_pydantic_error() -> None:
    class Hyperparams(BaseModel):
        lr: float = Field(gt=0)
        width: int = Field(ge=1)

    with pytest.raises(ValidationError) as raised:
        Hyperparams(lr=-1.0, width=0)
    exception = "".join(traceback.format_exception_only(raised.value))
    error_txt = RAY_ERROR_TXT.split("Failure # 2")[0].replace("RuntimeError: CUDA out of memory\n", exception)

    assert error_headline(error_txt) == (
        "pydantic_core._pydantic_core.ValidationError: 2 validation errors for Hyperparams; "
        "lr: Input should be greater than 0 [type=greater_than, input_value=-1.0, input_type=float]; "
        "width: Input should be greater than or equal to 1 [type=greater_than_equal, input_value=0, "
        "input_type=int]"
    )


def test_error_headline_without_a_traceback_is_the_first_line() -> None:
    text = "Failure # 1 (occurred at 2026-01-01_10-00-00)\nThe actor died unexpectedly.\nmore\n"
    assert error_headline(text) == "The actor died unexpectedly."
    assert error_headline(None) is None


def test_jsonable_unwraps_numpy_and_turns_non_finite_numbers_into_null() -> None:
    value = {
        "a": np.float32(0.5),
        "b": np.int64(3),
        "c": np.bool_(True),
        "d": [np.nan, math.inf, pd.NA],
        1: (np.str_("x"), None),
        "e": np.array([1, 2]),
        "f": object,
    }

    converted = jsonable(value)

    assert converted == {
        "a": 0.5,
        "b": 3,
        "c": True,
        "d": [None, None, None],
        "1": ["x", None],
        "e": [1, 2],
        "f": str(object),
    }
    assert [type(converted[k]) for k in ("a", "b", "c")] == [float, int, bool]
    json.dumps(converted, allow_nan=False)


def test_flatten_joins_nested_keys_with_a_slash_and_keeps_lists_and_empty_mappings_whole() -> None:
    config = {"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "model": {}, "seed": 0}

    assert flatten(config) == {"optim/lr": 0.1, "optim/betas": [0.9, 0.99], "model": {}, "seed": 0}
    assert flatten({"optim": {"lr": 0.1}}, "config/") == {"config/optim/lr": 0.1}


def test_a_nan_reported_by_any_library_or_written_by_rays_own_logger_is_nan() -> None:
    # Ray's JSON logger writes a numpy NaN as the string "null" (a Python NaN as NaN).
    for value in (math.nan, np.float32("nan"), np.float64("nan"), "null"):
        assert is_nan(value), value
    for value in (1.0, np.float32(1.0), math.inf, None, "nan?", "n/a"):
        assert not is_nan(value), value


# -- files of a sweep that is still running ---------------------------------------------------


def test_a_result_line_still_being_written_is_left_out_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sweep = HandWrittenSweep(tmp_path / "running")
    sweep.add_trial("t_00000", [0.1, 0.2])
    with (sweep.path / "train_fn_t_00000" / "result.json").open("a") as file:
        file.write('{"score": 0.3, "training_iter')  # Ray writes a result, then its newline

    with caplog.at_level(logging.WARNING):
        (trial,) = read_ray_run(sweep.path).trials

    assert [row["score"] for row in trial.rows] == [0.1, 0.2]
    assert caplog.records == []


def test_a_broken_result_line_followed_by_others_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sweep = HandWrittenSweep(tmp_path / "crashed")
    sweep.add_trial("t_00000", [0.1])
    result = sweep.path / "train_fn_t_00000" / "result.json"
    with result.open("a") as file:
        file.write('{"score": 0.3, "training_iter\n')  # cut by a crash, then resumed
    sweep.report("t_00000", 0.4)

    with caplog.at_level(logging.WARNING):
        (trial,) = read_ray_run(sweep.path).trials

    assert [row["score"] for row in trial.rows] == [0.1, 0.4]
    assert [r.getMessage() for r in caplog.records] == [f"{result}:2: skipped a result line that is not JSON"]


def test_a_progress_csv_row_still_being_written_is_left_out(tmp_path: Path) -> None:
    sweep = HandWrittenSweep(tmp_path / "csv-only")
    sweep.add_trial("t_00000", [])
    folder = sweep.path / "train_fn_t_00000"
    # No result.json (Ray's JSON logger off): progress.csv, whose last row is half written.
    (folder / "progress.csv").write_text("score,training_iteration\r\n0.1,1\r\n0.2,2\r\n0.35,3\r\n0.4")

    (trial,) = read_ray_run(sweep.path).trials

    assert [(row["score"], row["training_iteration"]) for row in trial.rows] == [
        (0.1, 1),
        (0.2, 2),
        (0.35, 3),
    ]
