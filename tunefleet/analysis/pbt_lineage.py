"""PBT lineage: who cloned whom, and the hyperparameter schedule that produced a trial.

``pbt`` and ``pb2`` write every exploit/explore decision to ``<experiment>/pbt_lineage.jsonl``
(see :mod:`tunefleet.schedulers.population`). A trial's weights at its end were trained by a
chain of trials: itself since its last exploit, before that the trial it cloned, and so on. The
schedule lists that chain, oldest first, with the hyperparameters of each stretch.

Example:
    >>> schedule = trial_schedule("tunefleet_results/pbt_toy")  # doctest: +SKIP
    >>> schedule[["from_iteration", "to_iteration", "trained_by", "h0", "h1"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from tunefleet.analysis.experiment import load_results
from tunefleet.errors import TunefleetError
from tunefleet.schedulers import LINEAGE_FILE

__all__ = ["LINEAGE_FILE", "read_lineage", "trial_schedule"]


def read_lineage(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Every exploit/explore decision of a PBT experiment, in the order they were made.

    Args:
        path: The experiment directory.

    Returns:
        One row per decision: ``time``, ``trial``, ``iteration``, ``source_trial``,
        ``source_iteration``, ``old_config``, ``new_config`` (empty without decisions).

    Raises:
        TunefleetError: the directory has no lineage file (not a PBT run).
    """
    file = Path(path) / LINEAGE_FILE
    if not file.is_file():
        raise TunefleetError(f"{path}: no {LINEAGE_FILE}; was this experiment run with scheduler pbt or pb2?")
    records = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    columns = ["time", "trial", "iteration", "source_trial", "source_iteration", "old_config", "new_config"]
    return pd.DataFrame(records, columns=columns)


def trial_schedule(path: str | os.PathLike[str], trial_id: str | None = None) -> pd.DataFrame:
    """The lineage and hyperparameter schedule of a trial (by default the best one).

    Args:
        path: The experiment directory.
        trial_id: The trial; None for the best trial by the experiment's metric.

    Returns:
        One row per stretch of training, oldest first: ``from_iteration`` (exclusive; the
        checkpoint it continued from), ``to_iteration`` (inclusive), ``trained_by`` (the trial
        whose process trained it) and one column per hyperparameter.
    """
    results = load_results(path)
    trials = results.trials()
    if trial_id is None:
        if trials.empty:
            raise TunefleetError(f"{path}: no trial reported {results.metric}")
        trial_id = str(trials.iloc[0]["trial_id"])
    final_configs = {
        str(row["trial_id"]): {k.removeprefix("config/"): row[k] for k in trials if k.startswith("config/")}
        for _, row in trials.iterrows()
    }
    final_iteration = dict(zip(trials["trial_id"].astype(str), trials["training_iteration"], strict=True))
    if trial_id not in final_configs:
        raise TunefleetError(f"{path}: no trial {trial_id!r}")
    lineage = read_lineage(path).sort_values(["iteration", "time"])

    stretches: list[dict[str, Any]] = []
    current, end = trial_id, final_iteration[trial_id]
    while True:
        # The decisions that shaped `current` up to `end` (a source is cloned at `end` itself).
        mine = lineage[lineage["trial"] == current]
        own = mine if not stretches else mine[mine["iteration"] < end]
        if own.empty:
            initial = mine.iloc[0]["old_config"] if not mine.empty else final_configs.get(current, {})
            stretches.append({"from_iteration": 0, "to_iteration": end, "trained_by": current, **initial})
            break
        last = own.iloc[-1]
        start = int(last["source_iteration"])
        stretches.append(
            {"from_iteration": start, "to_iteration": end, "trained_by": current, **last["new_config"]}
        )
        current, end = str(last["source_trial"]), start
    return pd.DataFrame(stretches[::-1]).reset_index(drop=True)
