"""The experiment directory: every file name in it, and the code that reads and writes them.

A sweep's results live in ``STORAGE/NAME/``, a standard Ray Tune experiment directory that
``ray.tune.ExperimentAnalysis``, ``Tuner.restore`` and TensorBoard read, with tunefleet's own files
beside Ray's. This package is the one place that knows those names and formats: the run writes
through it, resume checks it, analysis reads it. Nothing here imports Ray.

- :mod:`~tunefleet.rundir.names`: every file name;
- :mod:`~tunefleet.rundir.ray_files`: Ray's files (the experiment state, each trial's results,
  errors and output), read straight;
- :mod:`~tunefleet.rundir.tunefleet_files`: ``tunefleet.yaml`` (the experiment as run),
  ``pbt_lineage.jsonl`` and ``selection/selection.json`` (the selection's plan);
- :mod:`~tunefleet.rundir.resuming`: which run to continue, the command that does, and a whole
  snapshot to continue from;
- :mod:`~tunefleet.rundir.stamp`: whether the directory changed since last read (a live view).

Ray Tune 2.x writes ``tuner.pkl`` (once, when the sweep starts), per driver session
``experiment_state-<session>.json`` plus the searcher's and callbacks' states (rewritten in place
while the sweep runs), and one folder per trial (``result.json``, ``progress.csv``,
``params.json``, ``error.txt``). tunefleet adds ``tunefleet.yaml``, ``pbt_lineage.jsonl``, in
each trial's folder, ``stdout`` and ``stderr``, and for a sweep with a selection phase the folder
``selection/``: a Ray Tune experiment directory of its own, with ``selection.json``.
"""

from __future__ import annotations

from tunefleet.rundir.history import TrialCheckpoint, last_checkpoint, read_ray_run_with_history
from tunefleet.rundir.names import (
    CHECKPOINT_ITERATION_FILE,
    CONTINUES_KEY,
    ERROR_FILE,
    EXPERIMENT_FILE,
    EXTENSION_FILE,
    FINAL_STATUSES,
    LINEAGE_FILE,
    LINEAGE_KEYS,
    PARAMS_JSON,
    PROGRESS_CSV,
    RESULT_JSON,
    SELECTION_DIR,
    SELECTION_FILE,
    SELECTION_KEYS,
    SET_ASIDE_SUFFIX,
    STATE_GLOB,
    STDERR_FILE,
    STDOUT_FILE,
    TUNER_PKL,
)
from tunefleet.rundir.ray_files import (
    RayRunFiles,
    TrialFiles,
    find_state_file,
    flatten,
    is_nan,
    objective_from_tuner_pkl,
    output_tail,
    read_ray_run,
    read_trial_states,
)
from tunefleet.rundir.resuming import (
    check_resumable,
    latest_run,
    resume_command,
    saved_trials,
    unfinished_trials,
    unused_run_name,
)
from tunefleet.rundir.stamp import DirectoryStamp, directory_stamp
from tunefleet.rundir.tunefleet_files import (
    SavedExperiment,
    append_lineage,
    read_experiment_file,
    read_experiment_settings,
    read_extension,
    read_lineage_records,
    read_selection_plan,
    selection_directory,
    write_experiment_file,
    write_extension,
    write_selection_plan,
)

__all__ = [
    "CHECKPOINT_ITERATION_FILE",
    "CONTINUES_KEY",
    "ERROR_FILE",
    "EXPERIMENT_FILE",
    "EXTENSION_FILE",
    "FINAL_STATUSES",
    "LINEAGE_FILE",
    "LINEAGE_KEYS",
    "PARAMS_JSON",
    "PROGRESS_CSV",
    "RESULT_JSON",
    "SELECTION_DIR",
    "SELECTION_FILE",
    "SELECTION_KEYS",
    "SET_ASIDE_SUFFIX",
    "STATE_GLOB",
    "STDERR_FILE",
    "STDOUT_FILE",
    "TUNER_PKL",
    "DirectoryStamp",
    "RayRunFiles",
    "SavedExperiment",
    "TrialCheckpoint",
    "TrialFiles",
    "append_lineage",
    "check_resumable",
    "directory_stamp",
    "find_state_file",
    "flatten",
    "is_nan",
    "last_checkpoint",
    "latest_run",
    "objective_from_tuner_pkl",
    "output_tail",
    "read_experiment_file",
    "read_experiment_settings",
    "read_extension",
    "read_lineage_records",
    "read_ray_run",
    "read_ray_run_with_history",
    "read_selection_plan",
    "read_trial_states",
    "resume_command",
    "saved_trials",
    "selection_directory",
    "unfinished_trials",
    "unused_run_name",
    "write_experiment_file",
    "write_extension",
    "write_selection_plan",
]
