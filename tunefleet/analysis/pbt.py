"""Population Based Training: who cloned whom, and the hyperparameter schedule of a trial.

tunefleet's PBT writes ``<experiment>/pbt_lineage.jsonl``, one JSON object per exploit step::

    {"time": 1795387015.3, "trial": "a_00003", "iteration": 8,
     "source_trial": "a_00001", "source_iteration": 8,
     "old_config": {...}, "new_config": {...}}

meaning: at ``time``, trial ``a_00003`` (at ``iteration``) stopped, copied the weights of
``a_00001`` at ``source_iteration`` and went on with ``new_config``. Ray's own PBT log
(``pbt_global.txt``, lists ``[trial_tag, source_tag, iteration, source_iteration,
source_config, new_config]``, without time or the trial's old config) is read too when there
is no tunefleet lineage.

The *schedule* of a trial is the sequence of configs its weights were trained with: after its
last exploit step, that step's new config; before it, the schedule of the trial it cloned, up
to the iteration it cloned — the policy a single run would replay (Ray calls it
"pbt_policy").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tunefleet.rundir import LINEAGE_FILE, LINEAGE_KEYS, read_lineage_records

if TYPE_CHECKING:
    from tunefleet.analysis.interface import Results

__all__ = ["LINEAGE_FILE", "LINEAGE_KEYS", "lineage", "read_lineage", "schedule"]

logger = logging.getLogger(__name__)

RAY_PBT_FILE = "pbt_global.txt"
_MAX_DEPTH = 10_000  # a lineage is a tree; this only guards against a corrupt, cyclic file


def read_lineage(path: Path) -> pd.DataFrame:
    """Read a ``pbt_lineage.jsonl`` file into a DataFrame with :data:`LINEAGE_KEYS` columns.

    Rows are sorted by ``time`` then ``iteration``.

    Raises:
        TunefleetError: a line is not a JSON object with exactly these keys.
    """
    frame = pd.DataFrame.from_records(read_lineage_records(path), columns=list(LINEAGE_KEYS))
    return frame.sort_values(["time", "iteration"], kind="stable").reset_index(drop=True)


def lineage(results: Results) -> pd.DataFrame:
    """The exploit steps of a PBT experiment (:data:`LINEAGE_KEYS` columns; empty if none)."""
    path = results.path / LINEAGE_FILE
    if path.is_file():
        return read_lineage(path)
    ray_files = [results.path / RAY_PBT_FILE, *results.path.glob(f"*/{RAY_PBT_FILE}")]
    ray_files = [p for p in ray_files if p.is_file()]
    if ray_files:
        return _read_ray_pbt(ray_files, results.trial_info())
    return pd.DataFrame(columns=list(LINEAGE_KEYS))


def schedule(
    steps: pd.DataFrame, trial: str, end_iteration: int, configs: Mapping[str, dict[str, Any]]
) -> pd.DataFrame:
    """The configs the weights of ``trial`` were trained with, as iteration ranges.

    Args:
        steps: Exploit steps (:func:`lineage`).
        trial: The trial whose weights to follow (e.g. the best one).
        end_iteration: Its last iteration.
        configs: Each trial's config as Ray saved it (:meth:`ExperimentResults.configs`):
            the config of a trial that never cloned another one.

    Returns:
        Columns ``start_iteration``, ``end_iteration``, ``trial`` (whose run these
        iterations were) and ``config`` (a dict), in iteration order.
    """
    segments: list[dict[str, Any]] = []
    current, end = trial, end_iteration
    for _ in range(_MAX_DEPTH):
        own = steps[(steps["trial"] == current) & (steps["iteration"] <= end)]
        if own.empty:
            segments.append(
                {
                    "start_iteration": 0,
                    "end_iteration": end,
                    "trial": current,
                    "config": _initial_config(steps, current, configs.get(current, {})),
                }
            )
            break
        step = own.iloc[-1]
        start = int(step["source_iteration"])
        segments.append(
            {"start_iteration": start, "end_iteration": end, "trial": current, "config": step["new_config"]}
        )
        current, end = str(step["source_trial"]), start
    else:
        logger.warning("PBT lineage of %s is deeper than %d steps; cut there", trial, _MAX_DEPTH)
    return pd.DataFrame.from_records(
        segments[::-1], columns=["start_iteration", "end_iteration", "trial", "config"]
    )


def _initial_config(steps: pd.DataFrame, trial: str, fallback: dict[str, Any]) -> dict[str, Any]:
    """A trial's config before its first exploit step (its ``old_config`` there)."""
    own = steps[steps["trial"] == trial]
    old = None if own.empty else own.iloc[0]["old_config"]
    return dict(old) if isinstance(old, dict) else fallback


def _read_ray_pbt(files: list[Path], info: pd.DataFrame) -> pd.DataFrame:
    """Ray's pbt_global.txt: trial *tags* (experiment_tag), mapped back to trial ids."""
    by_tag = dict(zip(info["tag"], info["trial_id"], strict=True))
    rows: list[dict[str, Any]] = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                tag, source_tag, iteration, source_iteration, _, new_config = json.loads(line)
            except (ValueError, TypeError):
                continue
            rows.append(
                {
                    "time": float(len(rows)),  # Ray does not record when; keep the file's order
                    "trial": by_tag.get(tag, tag),
                    "iteration": iteration,
                    "source_trial": by_tag.get(source_tag, source_tag),
                    "source_iteration": source_iteration,
                    "old_config": None,  # Ray logs the source's config, not the trial's own
                    "new_config": new_config,
                }
            )
    return pd.DataFrame.from_records(rows, columns=list(LINEAGE_KEYS))
